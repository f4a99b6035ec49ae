"""Static routes: Nova's ``(url_path, directory_or_file[, options])``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from fastapi_nova import NovaRouter


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "css").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "index.html").write_text("<h1>home</h1>")
    (root / "css" / "app.css").write_text("body{}")
    (root / "data.bin").write_bytes(b"0123456789")
    (root / "empty" / "a.txt").write_text("a")
    (root / "empty" / "b&c.txt").write_text("b")
    (tmp_path / "secret.txt").write_text("top secret")
    return root


def client_for(*routes: Any, **group: Any) -> TestClient:
    app = FastAPI()
    app.include_router(NovaRouter([{"routes": list(routes), **group}]))
    return TestClient(app, raise_server_exceptions=False)


def test_directory_serves_files_and_its_index(site: Path) -> None:
    client = client_for(("/assets", str(site)))

    index = client.get("/assets/")
    assert index.status_code == 200
    assert index.text == "<h1>home</h1>"
    assert index.headers["content-type"].startswith("text/html")
    css = client.get("/assets/css/app.css")
    assert css.text == "body{}"
    assert css.headers["content-type"].startswith("text/css")
    assert client.get("/assets/nope.txt").status_code == 404


def test_directory_without_trailing_slash_redirects(site: Path) -> None:
    client = client_for(("/assets", str(site)))

    response = client.get("/assets", follow_redirects=False)

    assert response.status_code in (301, 302, 307, 308)
    assert response.headers["location"].endswith("/assets/")


def test_directory_without_index_is_403(site: Path) -> None:
    client = client_for(("/assets", str(site)))

    assert client.get("/assets/empty/").status_code == 403


def test_index_files_option(site: Path) -> None:
    client = client_for(("/assets", str(site), {"index_files": ["a.txt"]}))

    assert client.get("/assets/empty/").text == "a"
    assert client.get("/assets/").status_code == 403  # index.html is not an index any more


def test_list_dir(site: Path) -> None:
    client = client_for(("/assets", str(site), {"list_dir": True}))

    response = client.get("/assets/empty/")

    assert response.status_code == 200
    assert '<a href="./a.txt">a.txt</a>' in response.text
    assert '<a href="./b%26c.txt">b&amp;c.txt</a>' in response.text


def test_single_file_with_mimetype(site: Path) -> None:
    client = client_for(("/data", str(site / "data.bin"), {"mimetype": "application/x-demo"}))

    response = client.get("/data")

    assert response.status_code == 200
    assert response.content == b"0123456789"
    assert response.headers["content-type"] == "application/x-demo"


def test_single_file_guesses_its_type(site: Path) -> None:
    client = client_for(("/style.css", str(site / "css" / "app.css")))

    assert client.get("/style.css").headers["content-type"].startswith("text/css")


def test_range_request_is_206(site: Path) -> None:
    client = client_for(("/assets", str(site)), ("/data", str(site / "data.bin")))

    for path in ("/assets/data.bin", "/data"):
        response = client.get(path, headers={"Range": "bytes=2-5"})
        assert response.status_code == 206, path
        assert response.content == b"2345"
        assert response.headers["content-range"] == "bytes 2-5/10"


def test_unsatisfiable_range_is_416(site: Path) -> None:
    client = client_for(("/data", str(site / "data.bin")))

    assert client.get("/data", headers={"Range": "bytes=50-60"}).status_code == 416


def test_head_has_no_body(site: Path) -> None:
    client = client_for(("/assets", str(site)))

    response = client.head("/assets/data.bin")

    assert response.status_code == 200
    assert response.headers["content-length"] == "10"
    assert response.content == b""


@pytest.mark.parametrize("path", ["/assets/data.bin", "/assets/", "/data"])
def test_post_is_405(site: Path, path: str) -> None:
    client = client_for(("/assets", str(site)), ("/data", str(site / "data.bin")))

    response = client.post(path)

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


def test_405_allow_merges_static_and_other_routes_of_the_path(site: Path) -> None:
    client = client_for(
        ("/assets", str(site)), ("/assets", lambda req: ("json", "posted"), {"methods": ["post"]})
    )

    assert client.post("/assets").json() == "posted"
    response = client.put("/assets")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST, HEAD"
    assert client.put("/assets/data.bin").headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    "path",
    [
        "/assets/../secret.txt",
        "/assets/%2e%2e/secret.txt",
        "/assets/..%2fsecret.txt",
        "/assets/css/../../secret.txt",
    ],
)
def test_traversal_is_blocked(site: Path, path: str) -> None:
    client = client_for(("/assets", str(site)))

    response = client.get(path)

    assert "top secret" not in response.text
    assert response.status_code == 404


def test_group_security_applies_to_static_routes(site: Path) -> None:
    def security(req):
        return req.headers.get("x-key") == "k"

    client = client_for(
        ("/assets", str(site)), ("/data", str(site / "data.bin")), security=security
    )

    assert client.get("/assets/css/app.css").status_code == 401
    assert client.get("/data").status_code == 401
    assert client.get("/assets/css/app.css", headers={"x-key": "k"}).text == "body{}"
    assert client.get("/data", headers={"x-key": "k"}).content == b"0123456789"


def test_static_404_uses_the_routers_status_page(site: Path) -> None:
    client = client_for(
        ("/assets", str(site)), (404, lambda req: ("json", 404, {}, {"page": req.path}), {})
    )

    assert client.get("/assets/nope.txt").json() == {"page": "/assets/nope.txt"}


def test_static_routes_are_not_in_openapi(site: Path) -> None:
    app = FastAPI()
    app.include_router(NovaRouter([{"routes": [("/assets", str(site))]}]))

    assert app.openapi()["paths"] == {}


def test_static_root(site: Path) -> None:
    client = client_for(("/", str(site)))

    assert client.get("/").text == "<h1>home</h1>"
    assert client.get("/css/app.css").text == "body{}"

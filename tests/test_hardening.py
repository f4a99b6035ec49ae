"""Issue 8's faults, one test each: hostile input gets a clear answer, never a 500 or a hang.

Each test here failed before its fix. The fuzz layer that keeps looking for this class of bug
is ``tests/test_fuzz.py``.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from fastapi_nova import NovaRequest, NovaRouter, NovaWebSocket, RouteConfigError
from fastapi_nova.cli import audit, route_rows
from tests.support.servers import ROOT, uvicorn_server
from tests.support.ws import connect


def make_client(routes: list[Any], **router: Any) -> TestClient:
    app = FastAPI()
    app.include_router(NovaRouter([{"routes": routes}], **router))
    return TestClient(app, raise_server_exceptions=False)


def answering(value: Any) -> Any:
    return lambda req: value


XSS = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


# ----------------------------------------------------------- 3: HTML views always escape


@pytest.mark.parametrize("ext", [".j2", ".jinja", ".jinja2", ".txt", ".svg", ".xhtml", ".tpl"])
def test_an_html_view_escapes_whatever_the_template_extension(tmp_path: Path, ext: str) -> None:
    (tmp_path / f"page{ext}").write_text("<p>{{ name }}</p>")
    view = answering(("ok", {"name": XSS}, {"view": f"page{ext}"}))
    client = make_client([("/p", view)], templates=tmp_path)

    response = client.get("/p")

    assert response.headers["content-type"].startswith("text/html")
    assert response.text == f"<p>{ESCAPED}</p>"


@pytest.mark.parametrize(
    "ctype", ["text/html", "TEXT/HTML; charset=utf-8", "application/xhtml+xml"]
)
def test_a_view_with_an_html_content_type_header_escapes(tmp_path: Path, ctype: str) -> None:
    (tmp_path / "page.txt").write_text("{{ name }}")
    options = {"view": "page.txt", "headers": {"Content-Type": ctype}}
    client = make_client([("/p", answering(("view", {"name": XSS}, options)))], templates=tmp_path)

    assert client.get("/p").text == ESCAPED


def test_a_non_html_view_of_a_text_template_is_raw(tmp_path: Path) -> None:
    (tmp_path / "page.txt").write_text("{{ name }}")
    options = {"view": "page.txt", "headers": {"content-type": "text/plain"}}
    client = make_client([("/p", answering(("ok", {"name": "<b>"}, options)))], templates=tmp_path)

    assert client.get("/p").text == "<b>"


# ----------------------------------------------------------- 9: a template variable named self


def test_a_template_variable_may_be_named_self(tmp_path: Path) -> None:
    # Inside the template ``self`` stays Jinja's (the template itself); the form field named
    # ``self`` must not break the render of the others.
    (tmp_path / "page.html").write_text("{{ name }}")
    client = make_client(
        [("/p", lambda req: ("ok", dict(req.params), {"view": "page"}))], templates=tmp_path
    )

    response = client.post("/p", data={"self": "me", "name": "<i>"})

    assert (response.status_code, response.text) == (200, "&lt;i&gt;")


# ----------------------------------------------------------- 4: redirects are encoded


@pytest.mark.parametrize(
    ("url", "location"),
    [
        ("/search?q=日本", "/search?q=%E6%97%A5%E6%9C%AC"),
        ("/café", "/caf%C3%A9"),
        ("/a b", "/a%20b"),
        ("/already%20encoded?x=1&y=2#top", "/already%20encoded?x=1&y=2#top"),
        ("https://example.com/p?q=[1]", "https://example.com/p?q=[1]"),
    ],
)
def test_redirect_is_percent_encoded(url: str, location: str) -> None:
    client = make_client([("/r", answering(("redirect", url)))])

    response = client.get("/r", follow_redirects=False)

    assert (response.status_code, response.headers["location"]) == (302, location)


@pytest.mark.parametrize("url", ["/x\r\nSet-Cookie: a=b", "/x\nX: y", "/x\r"])
def test_redirect_with_cr_or_lf_is_a_logged_server_error(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client([("/r", answering(("redirect", url)))])

    response = client.get("/r", follow_redirects=False)

    assert response.status_code == 500
    assert "set-cookie" not in response.headers and "x" not in response.headers
    assert "redirect URL contains CR or LF" in caplog.text


def security_client(security: Any) -> TestClient:
    app = FastAPI()
    group = {"security": security, "routes": [("/r", answering(("json", {})))]}
    app.include_router(NovaRouter([group]))
    return TestClient(app, raise_server_exceptions=False)


def test_a_security_redirect_is_percent_encoded() -> None:
    client = security_client(lambda req: ("redirect", "/login?next=/é"))

    response = client.get("/r", follow_redirects=False)

    assert (response.status_code, response.headers["location"]) == (302, "/login?next=/%C3%A9")


def test_a_security_redirect_with_cr_lf_is_a_logged_server_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = security_client(lambda req: ("redirect", "/login\r\nSet-Cookie: a=b"))

    response = client.get("/r", follow_redirects=False)

    assert response.status_code == 500
    assert "set-cookie" not in response.headers
    assert "redirect URL contains CR or LF" in caplog.text


# ----------------------------------------------------------- 5: static names and listings


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    (root / "a.txt").write_text("a")
    (root / ".env").write_text("SECRET=1")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]")
    (root / "sub").mkdir()
    for name in ("javascript:alert(document.domain)", "q?x=1", "h#frag", "s p&c<>.txt"):
        (root / "sub" / name).write_text("x")
    (root / "sub" / ".hidden").write_text("h")
    return root


@pytest.mark.parametrize(
    "path", ["/static/a.txt%00", "/static/%00", "/static/" + "x" * 300, "/static/d/" + "y" * 5000]
)
def test_static_nul_byte_or_over_long_name_is_404(
    site: Path, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client([("/static", str(site))])

    assert client.get(path).status_code == 404
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_listing_hrefs_are_encoded_relative_links(site: Path) -> None:
    client = make_client([("/static", str(site), {"list_dir": True})])

    listing = client.get("/static/sub/").text

    assert 'href="./javascript%3Aalert%28document.domain%29"' in listing
    assert 'href="javascript:' not in listing
    assert 'href="./q%3Fx%3D1"' in listing and 'href="./h%23frag"' in listing
    assert 'href="./s%20p%26c%3C%3E.txt"' in listing
    assert ">s p&amp;c&lt;&gt;.txt<" in listing
    # Each encoded link leads to its file.
    assert client.get("/static/sub/q%3Fx%3D1").text == "x"
    assert client.get("/static/sub/h%23frag").text == "x"


def test_dotfiles_are_served_and_listed_by_default(site: Path) -> None:
    client = make_client([("/static", str(site), {"list_dir": True})])

    assert client.get("/static/.env").text == "SECRET=1"
    assert ".hidden" in client.get("/static/sub/").text


def test_hide_dotfiles_hides_them_from_serving_and_listing(site: Path) -> None:
    client = make_client([("/static", str(site), {"list_dir": True, "hide_dotfiles": True})])

    assert client.get("/static/a.txt").text == "a"
    for path in ("/static/.env", "/static/.git/config", "/static/.git/", "/static/sub/.hidden"):
        assert client.get(path).status_code == 404, path
    assert ".hidden" not in client.get("/static/sub/").text


def test_hide_dotfiles_must_be_a_bool(site: Path) -> None:
    with pytest.raises(RouteConfigError, match=r"route '/static': hide_dotfiles must be a bool"):
        NovaRouter([{"routes": [("/static", str(site), {"hide_dotfiles": "yes"})]}])


# ----------------------------------------------------------- 6: sendfile of length 0


def http_exchange(sock: socket.socket, path: str) -> bytes:
    """One request on an open keep-alive connection; the head and body of its answer."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError(f"connection closed before the answer to {path}: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(4096)
    return head.split(b"\r\n", 1)[0] + b" " + body


@pytest.mark.slow
def test_sendfile_of_length_0_completes_and_keeps_the_connection(tmp_path: Path) -> None:
    with (
        uvicorn_server("tests.apps.hardening_app:app", tmp_path) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock,
    ):
        assert http_exchange(sock, "/empty") == b"HTTP/1.1 200 OK "
        assert http_exchange(sock, "/slice") == b"HTTP/1.1 200 OK 234"
        assert http_exchange(sock, "/empty") == b"HTTP/1.1 200 OK "
    assert "without completing response" not in server.log()


# ----------------------------------------------------------- 7: a status page that raises


def test_a_status_page_that_raises_gives_the_plain_answer_and_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken_page(req: NovaRequest) -> Any:
        raise RuntimeError("page bug")

    client = make_client([(404, broken_page, {}), ("/gone", answering(("status", 404)))])

    response = client.get("/gone")

    assert (response.status_code, response.content) == (404, b"")
    assert "status page" in caplog.text and "page bug" in caplog.text


# ----------------------------------------------------------- 10: the CLI


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": f"{cwd}:{ROOT}", "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "fastapi_nova", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_module_calling_sys_exit_on_import_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "exits.py").write_text("import sys\nsys.exit(0)\n")

    result = run_cli("audit", "--strict", "exits:app", cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr.strip() == "error: importing 'exits' called sys.exit(0)"


def test_cli_attribute_lookup_raising_is_exit_2(tmp_path: Path) -> None:
    (tmp_path / "lazy.py").write_text(
        "def __getattr__(name):\n    raise RuntimeError('no settings')\n"
    )

    result = run_cli("routes", "lazy:app", cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: getting 'app' from 'lazy' raised RuntimeError: no settings"
    )


def test_audit_reports_public_static_routes(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("f")
    app = FastAPI()
    app.include_router(
        NovaRouter(
            [
                {"routes": [("/pub", str(tmp_path)), ("/one", str(tmp_path / "f.txt"))]},
                {
                    "security": lambda req: True,
                    "prefix": "/priv",
                    "routes": [("/s", str(tmp_path))],
                },
            ]
        )
    )

    findings = [(f.level, f.method, f.path, f.message) for f in audit(route_rows(app))]

    public = ("info", "GET")
    assert (*public, "/pub", "public static content") in findings
    assert (*public, "/pub/{pathinfo:path}", "public static content") in findings
    assert (*public, "/one", "public static content") in findings
    assert not [f for f in findings if f[2].startswith("/p/") or f[1] == "HEAD"]


# ----------------------------------------------------------- 11: keyword binding names


@pytest.mark.parametrize(
    ("path", "url", "bindings"),
    [
        ("/courses/:class", "/courses/math", {"class": "math"}),
        ("/flights/:from/:to", "/flights/ams/lis", {"from": "ams", "to": "lis"}),
        ("/x/:class/:class_", "/x/a/b", {"class": "a", "class_": "b"}),
    ],
)
def test_keyword_binding_names_work(path: str, url: str, bindings: dict[str, str]) -> None:
    client = make_client([(path, lambda req: ("json", req.bindings), {"methods": ["get"]})])

    response = client.get(url)

    assert (response.status_code, response.json()) == (200, bindings)
    spec = client.get("/openapi.json").json()
    (operation,) = spec["paths"].values()
    assert [p["name"] for p in operation["get"]["parameters"]] == list(bindings)


def test_keyword_binding_in_a_fastapi_style_route() -> None:
    from fastapi import Path as PathParam

    def show(class_: str = PathParam(alias="class")) -> Any:
        return ("json", {"class": class_})

    def other(to: str) -> Any:  # ``from`` is not named by the signature
        return ("json", {"to": to})

    client = make_client(
        [
            ("/courses/:class", show, {"methods": ["get"]}),
            ("/flights/:from/:to", other, {"methods": ["get"]}),
        ]
    )

    assert client.get("/courses/art").json() == {"class": "art"}
    assert client.get("/flights/ams/lis").json() == {"to": "lis"}


class BindingsEcho(NovaWebSocket):
    """Replies with its bindings on connect."""

    async def websocket_init(self, state: dict[str, Any]) -> Any:
        return ("reply", ("text", json.dumps(state["req"].bindings)), state)


def test_keyword_binding_names_in_a_websocket_route() -> None:
    client = make_client([("/c/:class/:from", BindingsEcho, {"protocol": "ws"})])

    with connect(client, "/c/a/b") as ws:
        assert json.loads(ws.receive_text()) == {"class": "a", "from": "b"}


@pytest.mark.parametrize("name", ["_nova_request_", "_nova_binding_class", "_nova_x"])
def test_bindings_starting_with_nova_prefix_are_reserved(name: str) -> None:
    # Found by the fuzz layer: they collided with the endpoints' own parameters.
    with pytest.raises(
        RouteConfigError,
        match=rf"route '/b/:{name}': binding '{name}' is reserved: names starting with "
        r"'_nova_' are fastapi-nova's",
    ):
        NovaRouter([{"routes": [(f"/b/:{name}", answering(("json", {})))]}])

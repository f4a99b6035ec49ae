"""The example app (the Nova guide's app ported): every route, its OpenAPI, and real uvicorn."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from example_app.controllers.ws_handlers import CHAT_HEARTBEAT
from example_app.main import app
from fastapi_nova import browser_client_path
from tests.support.servers import uvicorn_server
from tests.support.ws import WebSocketDenialResponse, connect, denied_status


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def test_login_page_is_a_form_posting_username_and_password_to_root(client: TestClient) -> None:
    response = client.get("/login")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert 'action="/"' in response.text and 'method="post"' in response.text
    assert 'name="username"' in response.text and 'name="password"' in response.text


def test_heartbeat_is_an_empty_200(client: TestClient) -> None:
    response = client.get("/heartbeat")
    assert (response.status_code, response.content) == (200, b"")


def test_index_greets_a_user_with_the_right_password(client: TestClient) -> None:
    response = client.post("/", data={"username": "ada", "password": "password"})
    assert response.status_code == 200
    assert "Hello ada" in response.text


@pytest.mark.parametrize(
    ("form", "shown"),
    [({"username": "ada", "password": "nope"}, "ada"), ({"username": "ada"}, "ada"), ({}, "")],
)
def test_a_failed_login_renders_the_form_again_with_a_message_and_401(
    client: TestClient, form: dict[str, str], shown: str
) -> None:
    response = client.post("/", data=form)
    assert response.status_code == 401
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert '<p id="error" role="alert"' in response.text
    assert "Wrong username or password" in response.text
    assert 'action="/"' in response.text and 'name="password"' in response.text
    assert f'name="username" value="{shown}"' in response.text  # what was typed, kept


def test_a_failed_login_escapes_the_username_it_shows(client: TestClient) -> None:
    response = client.post("/", data={"username": '"><script>x</script>', "password": "no"})
    assert response.status_code == 401
    assert "<script>x" not in response.text
    assert "&#34;&gt;&lt;script&gt;x&lt;/script&gt;" in response.text


def test_landing_page_links_login_chat_and_docs(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    for link in ("/login", "/chat.html", "/docs"):
        assert f'href="{link}"' in response.text, link


def test_root_answers_get_and_post_only(client: TestClient) -> None:
    response = client.put("/")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"


def test_chat_page_loads_the_shipped_client_with_the_routes_heartbeat(client: TestClient) -> None:
    from example_app.controllers.ws_handlers import CHAT_IDLE_TIMEOUT

    page = client.get("/chat.html").text
    assert '<script src="/js/nova-socket.js"></script>' in page
    assert f"heartbeat: {json.dumps(CHAT_HEARTBEAT)}," in page
    assert f"heartbeatInterval: {int(CHAT_IDLE_TIMEOUT * 1000 / 3)}," in page
    script = client.get("/js/nova-socket.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.content == browser_client_path().read_bytes()


def test_users_index_and_show(client: TestClient) -> None:
    users = client.get("/api/users").json()
    assert {"id": 1, "name": "Alice", "email": "alice@example.com"} in users
    assert client.get("/api/users/1").json()["name"] == "Alice"


# "²" is a digit to str.isdigit but not to int(); 5,000 digits are past int()'s limit.
@pytest.mark.parametrize("user_id", ["999", "abc", "²", "9" * 5000])
@pytest.mark.parametrize("suffix", ["", "/xml"])
def test_show_unknown_user_is_a_json_404_from_the_status_page(
    client: TestClient, user_id: str, suffix: str
) -> None:
    path = f"/api/users/{user_id}{suffix}"
    response = client.get(path)
    assert response.status_code == 404
    assert response.json() == {"message": "Resource not found", "path": path}


def test_create_user_answers_201_and_stores_it(client: TestClient) -> None:
    response = client.post("/api/users", json={"name": "Grace", "email": "grace@example.com"})
    assert response.status_code == 201
    created = response.json()
    assert created["name"] == "Grace"
    assert client.get(f"/api/users/{created['id']}").json() == created


@pytest.mark.parametrize(
    ("body", "missing"),
    [({"email": "x@example.com"}, "name"), ({"name": "X"}, "email"), ({}, "name")],
)
def test_create_user_without_name_or_email_is_a_json_422(
    client: TestClient, body: dict[str, str], missing: str
) -> None:
    response = client.post("/api/users", json=body)
    assert response.status_code == 422
    assert missing in {error["loc"][-1] for error in response.json()["detail"]}


def test_create_user_with_unparseable_json_is_a_4xx_json_error(client: TestClient) -> None:
    response = client.post(
        "/api/users", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500
    assert "detail" in response.json()


def test_xml_route_goes_through_the_custom_handler(client: TestClient) -> None:
    response = client.get("/api/users/1/xml")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/xml"
    assert response.text == (
        "<user><id>1</id><name>Alice</name><email>alice@example.com</email></user>"
    )


def test_broken_controller_is_answered_by_its_module_fallback(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="example_app.fallback"):
        response = client.get("/api/broken")
    assert response.status_code == 500
    assert response.json() == {"error": "internal server error"}
    assert "something_unexpected" in caplog.text


def test_admin_needs_http_basic(client: TestClient) -> None:
    assert client.get("/admin/stats").status_code == 401
    assert client.get("/admin/stats", auth=("admin", "wrong")).status_code == 401
    response = client.get("/admin/stats", auth=("admin", "admin"))
    assert response.status_code == 200
    assert response.json()["user"] == "admin"


def test_openapi_lists_every_http_route_with_its_parameters_and_the_basic_scheme(
    client: TestClient,
) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    expected = {
        "/login": {"get"},
        "/heartbeat": {"get"},
        "/": {"get", "post"},
        "/chat.html": {"get"},
        "/api/users": {"get", "post"},
        "/api/users/{id}": {"get"},
        "/api/users/{id}/xml": {"get"},
        "/api/broken": {"get"},
        "/admin/stats": {"get"},
    }
    for path, methods in expected.items():
        assert path in paths, path
        assert set(paths[path]) == methods, path
    for path in ("/api/users/{id}", "/api/users/{id}/xml"):
        params = paths[path]["get"]["parameters"]
        assert {"name": "id", "in": "path"}.items() <= params[0].items()
    assert "requestBody" in paths["/api/users"]["post"]
    schemes = spec["components"]["securitySchemes"]
    assert schemes["HTTPBasic"]["scheme"] == "basic"
    assert paths["/admin/stats"]["get"]["security"] == [{"HTTPBasic": []}]


# The whole document is pinned byte for byte in tests/test_openapi_pin.py.


def test_openapi_says_what_each_route_answers(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert paths["/heartbeat"]["get"]["responses"] == {
        "200": {"description": "Successful Response"}
    }
    assert paths["/heartbeat"]["get"]["summary"] == "Heartbeat"
    assert set(paths["/login"]["get"]["responses"]["200"]["content"]) == {"text/html"}
    assert set(paths["/api/users/{id}/xml"]["get"]["responses"]["200"]["content"]) == {
        "application/xml"
    }
    show = paths["/api/users/{id}"]["get"]["responses"]
    assert set(show) == {"200", "404"}  # no 422: its only input is a string binding
    assert show["404"]["description"] == "Status page (errors_controller.not_found)"
    assert set(paths["/api/users"]["post"]["responses"]) == {"201", "400", "422"}
    assert set(paths["/"]["post"]["responses"]) == {"200", "400", "401"}
    assert set(paths["/admin/stats"]["get"]["responses"]) == {"200", "401"}


@pytest.mark.slow
def test_example_app_served_by_real_uvicorn(tmp_path: Path) -> None:
    with uvicorn_server("example_app.main:app", tmp_path) as server:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            assert http.get("/heartbeat").status_code == 200
            assert (
                "Hello ada" in http.post("/", data={"username": "ada", "password": "password"}).text
            )
            assert http.post("/", data={"username": "ada"}).status_code == 401
            assert 'href="/chat.html"' in http.get("/").text
            assert http.get("/api/users/1").json()["name"] == "Alice"
            created = http.post("/api/users", json={"name": "Lin", "email": "lin@example.com"})
            assert created.status_code == 201
            assert http.get("/api/users/999").status_code == 404
            assert http.get("/docs").status_code == 200
        assert "Traceback" not in server.log()


def test_chat_lines_carry_the_authors_name(client: TestClient) -> None:
    with connect(client, "/chat?name=ann") as ann, connect(client, "/chat") as anonymous:
        ann.send_text("hello")
        assert ann.receive_text() == "ann: hello"
        assert anonymous.receive_text() == "ann: hello"
        anonymous.send_text("no name, no prefix")
        assert ann.receive_text() == "no name, no prefix"
        ann.send_text(CHAT_HEARTBEAT)  # the runtime answers it; the chat never sees it
        assert ann.receive_text() == CHAT_HEARTBEAT
        anonymous.send_text("next")
        assert ann.receive_text() == "next"


@pytest.mark.parametrize("name", ["a:b", "x" * 33, "<b>", "a\nb"])
def test_chat_refuses_a_bad_name_with_403(client: TestClient, name: str) -> None:
    assert denied_status(client, "/chat?" + urlencode({"name": name})) == 403


@settings(
    max_examples=30, deadline=3000, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.text(max_size=40))
def test_any_chat_name_is_accepted_as_a_prefix_or_refused_with_403(
    client: TestClient, name: str
) -> None:
    path = "/chat?" + urlencode({"name": name})
    try:
        with connect(client, path) as ws:
            ws.send_text("hi")
            line = ws.receive_text()
    except WebSocketDenialResponse as denial:
        assert denial.status_code == 403 and name.strip()  # never a 500; no name is fine
        return
    author = name.strip()
    assert line == (f"{author}: hi" if author else "hi")
    # An accepted name cannot fake a second author or another line.
    assert ":" not in author and "\n" not in author and len(author) <= 32

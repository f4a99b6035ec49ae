"""The documentation site: every example under docs/examples runs and does what its page says.

Each example module is imported from ``docs/examples`` (put on ``sys.path``, as the pages'
``uvicorn`` commands do) and exercised through its ``app``: HTTP with ``TestClient``,
WebSockets and pub/sub with ``fastapi_nova.testing`` (every receive has a timeout). A test
declares the examples it covers with ``@exercises(...)``; an example file that no test
declares fails :func:`test_every_example_is_exercised`. Other tests check the pages: each
example is included somewhere, Python appears only through included files, the API reference
names every public name, the CLI output shown is what the CLI prints, and ``mkdocs build
--strict`` passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import inspect
import io
import logging
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

import fastapi_nova
from fastapi_nova import RouteConfigError, cli, pubsub, testing
from fastapi_nova.pubsub import PubSubMessage
from fastapi_nova.testing import WebSocketRefused, connect, subscribe
from tests.support.redis import redis_server_fixture  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
PAGES = sorted(DOCS.glob("*.md")) + sorted((DOCS / "reference").glob("*.md"))
#: Seconds any expected WebSocket frame or pub/sub message may take.
TIMEOUT = 5.0

EXERCISED: set[str] = set()


def exercises(*names: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare which ``docs/examples/<name>.py`` files a test runs."""

    def mark(test: Callable[..., Any]) -> Callable[..., Any]:
        EXERCISED.update(names)
        return test

    return mark


def example(name: str) -> ModuleType:
    """Import ``docs/examples/<name>.py`` (once) as the top-level module ``name``."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    module = importlib.import_module(name)
    assert Path(module.__file__ or "").parent == EXAMPLES, f"{name} is not the docs example"
    return module


def client(name: str) -> TestClient:
    return TestClient(example(name).app)


@pytest.fixture
def memory_pubsub() -> Iterator[None]:
    """In-process pub/sub, whatever ``$NOVA_PUBSUB_URL`` says, restored afterwards."""
    pubsub.configure("memory://")
    try:
        yield
    finally:
        pubsub.configure(None)


async def receive_until_close(ws: testing.WebSocketClient) -> list[Any]:
    """Every frame up to and including the close frame."""
    frames: list[Any] = []
    while not frames or frames[-1][0] != "close":
        frames.append(await ws.receive())
    return frames


# ------------------------------------------------------------------------- the examples


def test_every_example_file_is_exercised_by_a_test() -> None:
    files = {path.stem for path in EXAMPLES.glob("*.py")}
    assert files, "no examples found"
    assert not files - EXERCISED, f"examples no test exercises: {sorted(files - EXERCISED)}"
    assert not EXERCISED - files, f"tests name missing examples: {sorted(EXERCISED - files)}"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.stem)
def test_every_example_is_exercised(path: Path) -> None:
    assert path.stem in EXERCISED, f"add a test with @exercises({path.stem!r})"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.stem)
def test_every_example_is_included_in_a_page(path: Path) -> None:
    include = f'--8<-- "docs/examples/{path.name}"'
    assert any(include in page.read_text() for page in PAGES), f"no page includes {path.name}"


@exercises("getting_started")
def test_getting_started() -> None:
    with client("getting_started") as http:
        heartbeat = http.get("/heartbeat")
        assert (heartbeat.status_code, heartbeat.content) == (200, b"")
        assert http.get("/api/users").json() == [
            {"id": 1, "name": "Alice"},
            {"id": 2, "name": "Bob"},
        ]
        assert http.get("/api/users/2").json() == {"id": 2, "name": "Bob"}
        missing = http.get("/api/users/9")
        assert (missing.status_code, missing.content) == (404, b"")
        spec = http.get("/openapi.json").json()
    assert spec["info"]["title"] == "My first fastapi-nova app"
    assert set(spec["paths"]) == {"/heartbeat", "/api/users", "/api/users/{id}"}
    assert spec["paths"]["/api/users/{id}"]["get"]["parameters"][0]["name"] == "id"


@exercises("routing_groups")
def test_routing_groups() -> None:
    with client("routing_groups") as http:
        assert http.get("/api/users/7").json() == {"id": "7"}  # bindings are strings
        deleted = http.delete("/api/users/7")
        assert (deleted.status_code, deleted.content) == (204, b"")
        refused = http.post("/api/users/7")
        assert refused.status_code == 405
        assert refused.headers["allow"] == "GET, DELETE"
        assert http.get("/api/files/ann/docs/2024/notes.txt").json() == {
            "owner": "ann",
            "path": ["docs", "2024", "notes.txt"],
        }
        assert http.get("/api/files/ann").json() == {"owner": "ann", "path": []}
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
            answer = http.request(method, "/api/echo?x=1")
            assert answer.json() == {"method": method, "query": {"x": "1"}}, method
        assert http.request("HEAD", "/api/echo").status_code == 200
        trace = http.request("TRACE", "/api/echo")
        assert trace.status_code == 405
        assert trace.headers["allow"] == "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"
        assert http.get("/debug/routes").json() == {"environment": "dev"}
        spec = http.get("/openapi.json").json()
    paths = spec["paths"]
    assert set(paths["/api/echo"]) == {"get", "post", "put", "patch", "delete"}
    show = paths["/api/users/{id}"]["get"]
    assert show["summary"] == "One user"
    assert show["tags"] == ["users"]
    assert show["responses"]["404"]["description"] == "No such user"
    assert paths["/api/users/{id}"]["delete"]["responses"].keys() >= {"204"}
    files = paths["/api/files/{owner}/{pathinfo}"]["get"]
    assert files["deprecated"] is True and files["tags"] == ["files"]
    assert "/debug/routes" not in paths
    with TestClient(example("routing_groups").prod) as http:
        assert http.get("/debug/routes").status_code == 404


@exercises("routing_static")
def test_routing_static() -> None:
    static = EXAMPLES / "static"
    with client("routing_static") as http:
        index = http.get("/site/")
        assert index.status_code == 200
        assert index.text == (static / "index.html").read_text()
        assert index.headers["content-type"].startswith("text/html")
        assert http.get("/site", follow_redirects=False).headers["location"].endswith("/site/")
        css = http.get("/site/css/site.css")
        assert css.text == (static / "css" / "site.css").read_text()
        assert css.headers["content-type"].startswith("text/css")
        assert http.get("/site/css/").status_code == 403  # no index, no listing
        assert http.get("/site/nope.txt").status_code == 404
        robots = http.get("/robots.txt")
        assert robots.text == (static / "robots.txt").read_text()
        assert robots.headers["content-type"].startswith("text/plain")
        posted = http.post("/robots.txt")
        assert (posted.status_code, posted.headers["allow"]) == (405, "GET, HEAD")
        assert http.get("/openapi.json").json()["paths"] == {}


@exercises("routing_status_pages")
def test_routing_status_pages() -> None:
    with client("routing_status_pages") as http:
        assert http.get("/books/1").json()["title"] == "Programming Erlang"
        for path in ("/books/2", "/books/old/1"):
            answer = http.get(path)
            assert answer.status_code == 404
            assert answer.json() == {"error": 404, "path": path}
        refused = http.post("/books/1")
        assert refused.status_code == 405
        assert refused.json() == {"error": 405, "path": "/books/1"}
        assert refused.headers["allow"] == "GET"
        # A path no route of the router matches is the app's own 404.
        assert http.get("/elsewhere").json() == {"detail": "Not Found"}


@exercises("routing_exception_handlers")
def test_routing_exception_handlers(caplog: pytest.LogCaptureFixture) -> None:
    http = TestClient(example("routing_exception_handlers").app, raise_server_exceptions=False)
    with http:
        assert http.post("/users", json={"name": "bob"}).json() == {"name": "bob"}
        taken = http.post("/users", json={"name": "ann"})
        assert (taken.status_code, taken.json()) == (409, {"detail": "ann is taken"})
        with caplog.at_level(logging.ERROR, logger="fastapi_nova._route"):
            broken = http.get("/users/broken")
        assert (broken.status_code, broken.json()) == (500, {"error": 500})


@exercises("routing_config_error")
def test_routing_config_error() -> None:
    module = example("routing_config_error")
    message = (
        "group 1 (prefix '/api'), route '/users/:id': methods must be a list of HTTP method "
        "names, got 'get'"
    )
    with pytest.raises(RouteConfigError, match=re.escape(message)):
        fastapi_nova.NovaRouter(module.routes)
    assert message in (DOCS / "routing.md").read_text()  # the page quotes it


@exercises("security_nova")
def test_security_nova(caplog: pytest.LogCaptureFixture) -> None:
    with client("security_nova") as http:
        missing = http.get("/api/whoami")
        assert (missing.status_code, missing.content) == (401, b"")
        assert missing.headers["www-authenticate"] == 'Token realm="api"'
        unknown = http.get("/api/whoami", headers={"x-token": "forged"})
        assert (unknown.status_code, unknown.json()) == (403, {"error": "unknown token"})
        ann = http.get("/api/whoami", headers={"x-token": "secret-ann"})
        assert ann.json() == {"user": "ann"}
        assert http.get("/admin/stats", headers={"x-token": "secret-ann"}).json() == {"users": 2}
        bob = http.get("/admin/stats", headers={"x-token": "secret-bob"})
        assert (bob.status_code, bob.content) == (401, b"")
        away = http.get("/dashboard", follow_redirects=False)
        assert (away.status_code, away.headers["location"]) == (302, "/login")
        http.cookies.set("session", "s1")
        assert http.get("/dashboard").text == "<h1>Dashboard</h1>"
    assert "not a security result" not in caplog.text  # False/True are real results


@exercises("security_fastapi")
def test_security_fastapi() -> None:
    with client("security_fastapi") as http:
        assert http.get("/v1/usage").status_code == 401  # APIKeyHeader's own answer
        forged = http.get("/v1/usage", headers={"x-api-key": "forged"})
        assert (forged.status_code, forged.json()) == (403, {"error": "unknown key"})
        headers = {"x-api-key": "demo-key"}
        assert http.get("/v1/usage", headers=headers).json() == {"client": "demo", "calls": 42}
        assert http.get("/v1/quota?period=month", headers=headers).json() == {
            "client": "demo",
            "period": "month",
            "limit": 1000,
        }
        spec = http.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["APIKeyHeader"] == {
        "type": "apiKey",
        "description": "try 'demo-key'",
        "in": "header",
        "name": "x-api-key",
    }
    for path in ("/v1/usage", "/v1/quota"):
        assert spec["paths"][path]["get"]["security"] == [{"APIKeyHeader": []}]
    quota_params = {p["name"] for p in spec["paths"]["/v1/quota"]["get"]["parameters"]}
    assert quota_params == {"period"}


@exercises("security_order")
def test_security_order() -> None:
    module = example("security_order")
    with client("security_order") as http:
        module.seen.clear()
        # Not signed in, and a body that is not even JSON: security answers first.
        denied = http.post("/notes", content=b"{oops", headers={"content-type": "application/json"})
        assert (denied.status_code, denied.content) == (401, b"")
        assert module.seen == ["plugin", "security"]
        module.seen.clear()
        auth = {"authorization": "Bearer letmein"}
        invalid = http.post("/notes", json={"txt": "x"}, headers=auth)
        assert invalid.status_code == 422  # FastAPI's validation, after security
        assert invalid.json()["detail"][0]["loc"] == ["body", "text"]
        assert module.seen == ["plugin", "security"]
        module.seen.clear()
        created = http.post("/notes", json={"text": "hi"}, headers=auth)
        assert (created.status_code, created.json()) == (201, {"text": "hi"})
        assert module.seen == ["plugin", "security", "controller"]


@exercises("security_websocket")
@pytest.mark.anyio
async def test_security_websocket(caplog: pytest.LogCaptureFixture) -> None:
    app = example("security_websocket").app
    with pytest.raises(WebSocketRefused) as refused:
        async with connect(app, "/greet", timeout=TIMEOUT):
            pass
    assert refused.value.status == 401
    async with connect(app, "/greet", query="ticket=ann", timeout=TIMEOUT) as ws:
        assert await ws.receive_text() == "hello ann"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@exercises("controllers_styles")
def test_controllers_styles() -> None:
    with client("controllers_styles") as http:
        assert http.get("/search/nova?q=erlang").json() == {"q": "erlang", "style": "nova"}
        assert http.get("/search/fastapi?q=erlang&limit=3").json() == {
            "q": "erlang",
            "limit": 3,
            "style": "fastapi",
        }
        assert http.get("/search/fastapi?limit=many").status_code == 422
        comment = http.post("/comments", json={"text": "nice"})
        assert (comment.status_code, comment.json()) == (201, {"text": "nice", "by": "ann"})
        nova = http.post("/comments/nova", json={"text": "nice"})
        assert (nova.status_code, nova.json()) == (201, {"text": "nice", "by": "ann"})
        broken = http.post(
            "/comments/nova", content=b"{nope", headers={"content-type": "application/json"}
        )
        assert broken.status_code == 400
        assert broken.json()["detail"].startswith("Invalid JSON body")
        trap = http.get("/trap")
        assert trap.status_code == 422
        assert trap.json()["detail"][0]["loc"] == ["query", "req"]
        spec = http.get("/openapi.json").json()["paths"]
    assert "parameters" not in spec["/search/nova"]["get"]
    assert {p["name"] for p in spec["/search/fastapi"]["get"]["parameters"]} == {"q", "limit"}
    assert "requestBody" in spec["/comments"]["post"]
    assert spec["/trap"]["get"]["parameters"][0]["name"] == "req"


@exercises("controllers_returns")
def test_controllers_returns() -> None:
    with client("controllers_returns") as http:
        event = {"id": "00000000-0000-0000-0000-000000000001", "at": "2024-08-26"}
        got = http.get("/json")
        assert (got.status_code, got.json()) == (200, event)
        assert got.headers["content-type"] == "application/json"
        posted = http.post("/json")
        assert (posted.status_code, posted.json()) == (201, event)
        queued = http.post("/json/queued")
        assert (queued.status_code, queued.json()) == (202, {"queued": True})
        assert queued.headers["x-queued"] == "yes"
        empty = http.delete("/status/empty")
        assert (empty.status_code, empty.content) == (204, b"")
        slow = http.get("/status/slow-down")
        assert (slow.status_code, slow.headers["retry-after"], slow.content) == (429, "30", b"")
        conflict = http.put("/status/conflict")
        assert (conflict.status_code, conflict.json()) == (409, {"error": "already exists"})
        assert conflict.headers["content-type"] == "application/json"
        text = http.get("/status/text")
        assert (text.status_code, text.text) == (200, "plain text")
        assert text.headers["content-type"] == "text/plain"
        moved = http.get("/old-json", follow_redirects=False)
        assert (moved.status_code, moved.headers["location"]) == (302, "/json")
        head = http.get("/robots-head")
        assert head.content == (EXAMPLES / "static" / "robots.txt").read_bytes()[:10]
        assert head.headers["content-type"] == "text/plain"


@exercises("greeting_controller")
def test_templates(caplog: pytest.LogCaptureFixture) -> None:
    with client("greeting_controller") as http:
        hello = http.get("/hello/ann")
        assert hello.status_code == 200
        assert hello.text.strip() == "<p>Hello ann!</p>"
        assert hello.headers["content-type"] == "text/html; charset=utf-8"
        bye = http.get("/bye/<ann>")
        assert bye.text.strip() == "<p>Goodbye &lt;ann&gt;.</p>"  # autoescaped
        teapot = http.get("/teapot")
        assert (teapot.status_code, teapot.text.strip()) == (418, "<p>Goodbye teapot.</p>")
        assert teapot.headers["content-type"] == "text/plain"
        with caplog.at_level(logging.ERROR, logger="fastapi_nova"):
            missing = http.get("/missing")
    assert (missing.status_code, missing.json()) == (500, {"detail": "Internal Server Error"})
    assert "'no_such_page.html' not found" in caplog.text
    assert str(EXAMPLES / "templates") in caplog.text


@exercises("custom_handlers")
def test_custom_handlers() -> None:
    module = example("custom_handlers")
    assert module.REFUSED == (
        "handler 'csv' is already registered; call unregister_handler('csv') first or pass "
        "replace=True"
    )
    assert "csv" in module.registry and "csv" not in fastapi_nova.default_registry
    with client("custom_handlers") as http:
        visits = http.get("/reports/visits.csv")
        assert (visits.status_code, visits.text) == (200, "user,visits\nann,3\nbob,5\n")
        assert visits.headers["content-type"] == "text/csv"
        new = http.post("/reports/new.csv")
        assert (new.status_code, new.text, new.headers["x-report"]) == (201, "id\n7\n", "new")


@exercises("openapi_returns")
def test_openapi_returns() -> None:
    with client("openapi_returns") as http:
        spec = http.get("/openapi.json").json()["paths"]
        answers = {
            ("get", "/notes/{id}"): http.get("/notes/1"),
            ("post", "/notes"): http.post("/notes", json="buy milk"),
            ("get", "/notes/page"): http.get("/notes/page"),
            ("get", "/notes/export.csv"): http.get("/notes/export.csv"),
            ("get", "/notes/ping"): http.get("/notes/ping"),
        }
        missing = http.get("/notes/99")
    # What the page says each route documents, and that each answer is what is documented.
    documented = {
        (method, path): {
            status: set(entry.get("content", {}))
            for status, entry in spec[path][method]["responses"].items()
        }
        for method, path in answers
    }
    assert documented == {
        ("get", "/notes/{id}"): {"200": {"application/json"}, "404": {"application/json"}},
        ("post", "/notes"): {"201": {"application/json"}, "400": {"application/json"}},
        ("get", "/notes/page"): {"200": {"text/html"}},
        ("get", "/notes/export.csv"): {"200": {"text/csv"}},
        ("get", "/notes/ping"): {"204": set()},
    }
    for key, response in answers.items():
        media = documented[key][str(response.status_code)]
        assert response.headers.get("content-type", "").split(";")[0] in (media or {""}), key
    assert (missing.status_code, missing.json()) == (404, {"error": "not found"})
    assert spec["/notes/ping"]["get"]["summary"] == "Ping"
    assert "422" not in spec["/notes/{id}"]["get"]["responses"]


@exercises("controller_decorator")
def test_controller_decorator() -> None:
    with client("controller_decorator") as http:
        assert http.get("/hello/ann").json() == {"hello": "ann"}
        item = http.post("/items?name=lamp")
        assert (item.status_code, item.json()) == (201, {"name": "lamp"})
        accepted = http.put("/jobs")
        assert (accepted.status_code, accepted.json()) == (202, {"job": 1})
        rejected = http.put("/jobs/reject")
        assert (rejected.status_code, rejected.content) == (409, b"")
        spec = http.get("/openapi.json").json()["paths"]
    assert spec["/hello/{name}"]["get"]["parameters"][0]["name"] == "name"
    assert "202" in spec["/jobs"]["put"]["responses"]


@exercises("fallback_api_controller", "fallback_resolver")
def test_fallback_module_attribute(caplog: pytest.LogCaptureFixture) -> None:
    with client("fallback_api_controller") as http:
        with caplog.at_level(logging.WARNING, logger="docs.fallback"):
            legacy = http.get("/api/legacy")
            typo = http.get("/api/typo")
        assert http.get("/api/fine").json() == {"ok": True}
    assert legacy.status_code == 500
    assert legacy.json() == {"error": "internal server error", "path": "/api/legacy"}
    assert typo.status_code == 500
    assert "Invalid return from controller: 'something_unexpected'" in caplog.text
    assert "Invalid return from controller: ('jsn', {'id': 1})" in caplog.text


@exercises("fallback_decorator")
def test_fallback_decorator_and_failures(caplog: pytest.LogCaptureFixture) -> None:
    internal = {"detail": "Internal Server Error"}
    with client("fallback_decorator") as http:
        draft = http.get("/draft")
        assert (draft.status_code, draft.json()) == (
            501,
            {"error": "not implemented", "got": "None"},
        )
        with caplog.at_level(logging.ERROR, logger="fastapi_nova"):
            for path in ("/raising", "/invalid", "/no-fallback"):
                failed = http.get(path)
                assert (failed.status_code, failed.json()) == (500, internal), path
    messages = [r.getMessage() for r in caplog.records if r.name == "fastapi_nova.controllers"]
    assert any(
        "fallback_decorator.raising returned None and its fallback" in m and "raised" in m
        for m in messages
    )
    assert any(
        "fallback_decorator.invalid returned None; its fallback" in m
        and "['still', 'not', 'a', 'tuple']" in m
        for m in messages
    )
    assert any(
        "fallback_decorator.no_fallback returned {'a': 'dict is not a tuple'}" in m
        and "has no fallback_controller" in m
        for m in messages
    )


@exercises("ws_echo")
@pytest.mark.anyio
async def test_ws_echo() -> None:
    async with connect(example("ws_echo").app, "/ws", timeout=TIMEOUT) as ws:
        await ws.send_text("Hello Nova!")
        assert await ws.receive_text() == "Echo: Hello Nova!"
        await ws.send_bytes(b"\x01\x02\x03")
        assert await ws.receive_bytes() == b"\x03\x02\x01"


@exercises("ws_countdown")
@pytest.mark.anyio
async def test_ws_countdown() -> None:
    module = example("ws_countdown")
    module.ended.clear()
    async with connect(module.app, "/countdown/3", timeout=TIMEOUT) as ws:
        assert await receive_until_close(ws) == [
            ("text", "starting at 3"),
            ("text", "2"),
            ("text", "1"),
            ("text", "liftoff"),
            ("close", 1000, "done"),
        ]
    assert module.ended == ["normal"]
    async with connect(module.app, "/countdown/1000", timeout=TIMEOUT) as ws:
        assert await ws.receive_text() == "starting at 1000"
        await ws.send_text("abort")
        frames = await receive_until_close(ws)
        assert frames[-1] == ("close", 1000, "")
        assert len(frames) < 100  # stopped long before the end
    assert module.ended == ["normal", "normal"]
    with pytest.raises(WebSocketRefused) as refused:
        async with connect(module.app, "/countdown/soon", timeout=TIMEOUT):
            pass
    assert refused.value.status == 403
    assert module.ended == ["normal", "normal"]  # a refused upgrade never terminates


@exercises("ws_push")
@pytest.mark.anyio
async def test_ws_push() -> None:
    module = example("ws_push")
    transport = httpx.ASGITransport(app=module.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        away = await http.post("/notify/ann", json={"text": "hi"})
        assert (away.status_code, away.json()) == (404, {"error": "not connected"})
        async with connect(module.app, "/inbox/ann", timeout=TIMEOUT) as ws:
            sent = await http.post("/notify/ann", json={"text": "you have mail"})
            assert sent.status_code == 202
            assert await ws.receive_text() == "you have mail"
        assert "ann" not in module.online  # terminate removed it


@exercises("ws_options")
@pytest.mark.anyio
async def test_ws_options(caplog: pytest.LogCaptureFixture) -> None:
    module = example("ws_options")
    app = module.app
    module.terminated.clear()
    origin = {"origin": "https://app.example.com"}
    async with connect(app, "/upload", headers=origin, timeout=TIMEOUT) as ws:
        await ws.send_bytes(b"x" * 64 * 1024)
        assert await ws.receive_text() == f"got {64 * 1024} bytes"
        await ws.send_bytes(b"x" * (64 * 1024 + 1))
        assert await ws.expect_close() == (1009, "message too big")
    reason = module.terminated[-1]
    assert reason[0] == "error" and isinstance(reason[1], fastapi_nova.FrameTooLargeError)
    for other in ({"origin": "https://evil.example"}, {"origin": "http://testserver"}):
        with pytest.raises(WebSocketRefused) as refused:
            async with connect(app, "/upload", headers=other, timeout=TIMEOUT):
                pass
        assert refused.value.status == 403
    async with connect(app, "/upload", timeout=TIMEOUT) as ws:  # no Origin: not a browser
        await ws.send_text("hi")
        assert await ws.receive_text() == "got 2 bytes"

    module.terminated.clear()
    async with connect(app, "/buggy", headers={"origin": "http://testserver"}) as ws:
        await ws.send_text("hello")  # the default allowed_origins: the request's own host
        assert await ws.receive_text() == "fine"
        with caplog.at_level(logging.ERROR, logger="fastapi_nova.connection"):
            await ws.send_text("crash")
            assert await ws.expect_close() == (1011, "")
    async with connect(app, "/buggy") as ws:
        await ws.send_text("bad return")
        assert await ws.expect_close() == (1011, "")
    async with connect(app, "/buggy") as ws:
        assert await ws.expect_close() == (1000, "idle timeout")  # idle_timeout 0.2
    crash, bad, idle = module.terminated
    assert crash[0] == "error" and isinstance(crash[1], ValueError)
    assert bad[0] == "error" and isinstance(bad[1], fastapi_nova.InvalidCallbackReturn)
    assert idle == "timeout"
    assert "BuggyHandler.websocket_handle raised ValueError('a bug')" in caplog.text


@exercises("ws_browser")
@pytest.mark.anyio
async def test_ws_browser() -> None:
    module = example("ws_browser")
    with TestClient(module.app) as http:
        page = http.get("/")
        assert page.status_code == 200
        assert '<script src="/js/nova-socket.js"></script>' in page.text
        assert f'heartbeat: "{module.HEARTBEAT}"' in page.text  # the page uses the route's
        script = http.get("/js/nova-socket.js")
        assert script.status_code == 200
        assert script.content == fastapi_nova.browser_client_path().read_bytes()
    async with connect(module.app, "/shout", timeout=TIMEOUT) as ws:
        await ws.send_text(module.HEARTBEAT)
        assert await ws.receive_text() == module.HEARTBEAT  # answered, not shouted
        await ws.send_text("hello")
        assert await ws.receive_text() == "HELLO"


@exercises("pubsub_rooms")
@pytest.mark.anyio
async def test_pubsub_rooms(memory_pubsub: None) -> None:
    module = example("pubsub_rooms")
    app = module.app
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://test") as http,
        connect(app, "/rooms/lobby", timeout=TIMEOUT) as ann,
        connect(app, "/rooms/lobby", timeout=TIMEOUT) as bob,
        connect(app, "/rooms/attic", timeout=TIMEOUT) as eve,
        subscribe("room:lobby", timeout=TIMEOUT) as probe,
    ):
        members = await http.get("/rooms/lobby/members")
        assert members.json() == {"everywhere": 3, "here": 3}  # ann, bob and the probe
        await ann.send_text("hello")
        assert await ann.receive_text() == "me: hello"
        assert await bob.receive_text() == "someone: hello"
        message = await probe.receive()
        assert message == PubSubMessage(
            "nova_pubsub", "room:lobby", message.sender, "say", {"text": "hello"}
        )
        assert message.sender is not None and message.sender.is_local
        announced = await http.post("/rooms/lobby/announce", json={"text": "closing soon"})
        assert announced.status_code == 202
        assert await ann.receive_text() == "** closing soon"
        assert await bob.receive_text() == "** closing soon"
        assert (await probe.receive()).sender is None
        await bob.send_text("/leave")
        assert await bob.receive_text() == "left"
        assert len(pubsub.get_local_members("room:lobby")) == 2
        await ann.send_text("anyone?")
        assert await ann.receive_text() == "me: anyone?"
        assert (await probe.receive()).payload == {"text": "anyone?"}
        await eve.send_text("up here")
        assert await eve.receive_text() == "me: up here"
        await asyncio.sleep(0.05)  # nothing of the attic reaches the lobby
        assert probe.pending() == []
        with pytest.raises(TimeoutError):
            bob.timeout = 0.1
            await bob.receive()
    assert pubsub.get_local_members("room:lobby") == []


@exercises("pubsub_lifespan")
def test_pubsub_lifespan(memory_pubsub: None) -> None:
    from tests.support.ws import connect as ws_connect

    module = example("pubsub_lifespan")
    with TestClient(module.app) as http:
        with ws_connect(http, "/clock") as ws:
            first = int(ws.receive_text().removeprefix("tick "))
            assert ws.receive_text() == f"tick {first + 1}"
        hub = pubsub._current_hub()
    # The lifespan's last broadcast ran while pub/sub was up (it would raise after the stop).
    assert hub is not None and hub.closed


def start_and_stop(app: Any) -> None:
    """Run the app's lifespan (startup, then shutdown) in TestClient's own thread."""
    with TestClient(app):
        pass


@exercises("pubsub_outage")
@pytest.mark.anyio
async def test_pubsub_outage_with_an_unreachable_backend(caplog: pytest.LogCaptureFixture) -> None:
    # A Redis URL nobody listens on: the backend is "down" from the start.
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    module = example("pubsub_outage")
    pubsub.configure(f"redis://127.0.0.1:{port}/0")
    try:
        await asyncio.to_thread(start_and_stop, module.app)  # the app starts without Redis
        async with connect(module.app, "/alerts", timeout=TIMEOUT) as ws:
            with caplog.at_level(logging.WARNING, logger="docs.outage"):
                await ws.send_text("disk full")
                frames = {await ws.receive_text(), await ws.receive_text()}
            assert frames == {"alert: disk full", "(delivered on this node only)"}
            with pytest.raises(fastapi_nova.PubSubUnavailable):
                await pubsub.broadcast("alerts", "alert", "from a test")
        assert "pub/sub is unavailable" in caplog.text
    finally:
        await pubsub.shutdown()
        pubsub.configure(None)


@exercises("pubsub_outage")
@pytest.mark.redis
@pytest.mark.anyio
async def test_pubsub_outage_when_redis_goes_away_and_comes_back(redis_server: Any) -> None:
    app = example("pubsub_outage").app
    pubsub.configure(redis_server.url)
    try:
        async with (
            contextlib.AsyncExitStack() as stack,
            connect(app, "/alerts", timeout=TIMEOUT) as ann,
            connect(app, "/alerts", timeout=TIMEOUT) as bob,
        ):
            await ann.send_text("one")
            assert await ann.receive_text() == "alert: one"
            assert await bob.receive_text() == "alert: one"

            redis_server.stop()
            # Joining works during the outage; the subscription is made when Redis returns.
            late = await stack.enter_async_context(subscribe("late", timeout=TIMEOUT))
            await ann.send_text("two")
            assert {await ann.receive_text(), await ann.receive_text()} == {
                "alert: two",
                "(delivered on this node only)",
            }
            assert await bob.receive_text() == "alert: two"  # same process: local_broadcast

            hub = pubsub._current_hub()
            assert hub is not None and hub.backend is not None
            back = asyncio.Event()
            hub.backend.add_state_listener(lambda connected: connected and back.set())
            redis_server.start()
            async with asyncio.timeout(15):  # reported once every channel is resubscribed
                await back.wait()
            await ann.send_text("three")  # through Redis again: the subscription came back
            assert await ann.receive_text() == "alert: three"
            assert await bob.receive_text() == "alert: three"
            await pubsub.broadcast("late", "hello", [1, 2])
            assert (await late.receive()).payload == [1, 2]
            ann.timeout = 0.2
            with pytest.raises(TimeoutError):  # no "this node only" notice any more
                await ann.receive()
    finally:
        await pubsub.shutdown()
        pubsub.configure(None)


@pytest.mark.parametrize(
    "name",
    [
        name
        for name, fn in inspect.getmembers(example("testing_guide"), inspect.isfunction)
        if name.startswith("test_")
    ],
)
@exercises("testing_guide")
@pytest.mark.anyio
async def test_testing_guide(name: str, memory_pubsub: None) -> None:
    test = getattr(example("testing_guide"), name)
    if inspect.iscoroutinefunction(test):
        await test()
    else:
        # TestClient runs its own event loop in a thread; keep ours free meanwhile.
        await asyncio.to_thread(test)


@exercises("security_scheme")
def test_security_scheme() -> None:
    module = example("security_scheme")
    operation = module.app.openapi()["paths"]["/api/me"]["get"]
    assert operation["security"] == [{"HTTPBearer": []}]
    with client("security_scheme") as http:
        ok = http.get("/api/me", headers={"Authorization": "Bearer token-ann"})
        assert ok.json() == {"user": "ann"}
        missing = http.get("/api/me")  # the function's own answer, not HTTPBearer's
        assert (missing.status_code, missing.content) == (401, b"")
        assert missing.headers["www-authenticate"] == "Bearer"
        unknown = http.get("/api/me", headers={"Authorization": "Bearer nope"})
        assert (unknown.status_code, unknown.json()) == (401, {"detail": "unknown token"})
        assert unknown.headers["www-authenticate"] == "Bearer"


@exercises("controllers_response_model")
def test_controllers_response_model() -> None:
    from fastapi.exceptions import ResponseValidationError

    with client("controllers_response_model") as http:
        assert http.get("/users/1").json() == {"id": 1, "name": "ann"}
        assert http.get("/users/9").status_code == 404
        with pytest.raises(ResponseValidationError):
            http.get("/users/broken/1")
    app = example("controllers_response_model").app
    assert TestClient(app, raise_server_exceptions=False).get("/users/broken/1").status_code == 500


@exercises("controllers_streaming")
def test_controllers_streaming() -> None:
    with client("controllers_streaming") as http:
        events = http.get("/stream/events", params={"count": 2})
        assert events.headers["content-type"].startswith("text/event-stream")
        assert events.text.split("\n\n")[:2] == ['data: {"n":0}', 'data: {"n":1}']
        lines = http.get("/stream/lines", params={"count": 2})
        assert lines.headers["content-type"].startswith("application/jsonl")
        assert lines.text.splitlines() == ['{"n":0}', '{"n":1}']


@exercises("ws_asyncapi")
@pytest.mark.anyio
async def test_ws_asyncapi() -> None:
    module = example("ws_asyncapi")
    doc = await asyncio.to_thread(lambda: TestClient(module.app).get("/asyncapi.json").json())
    assert [c["address"] for c in doc["channels"].values()] == ["/rooms/{room}"]
    assert doc["channels"]["rooms_room"]["description"].startswith("A chat room")
    assert "/asyncapi.json" not in module.app.openapi()["paths"]
    async with connect(module.app, "/rooms/lobby") as ws:
        await ws.send_text("hi")
        assert await ws.receive_text() == "lobby: hi"


@pytest.mark.parametrize(
    "name",
    [
        name
        for name, fn in inspect.getmembers(example("testing_overrides"), inspect.isfunction)
        if name.startswith("test_")
    ],
)
@exercises("testing_overrides")
def test_testing_overrides(name: str) -> None:
    getattr(example("testing_overrides"), name)()


# ------------------------------------------------------------------------- the pages


def test_python_appears_only_through_included_files() -> None:
    fence = re.compile(r"^```(?:python|py)\b[^\n]*\n(.*?)^```", re.M | re.S)
    for page in PAGES:
        for block in fence.findall(page.read_text()):
            lines = [line for line in block.splitlines() if line.strip()]
            inline = [line for line in lines if not line.startswith('--8<-- "docs/examples/')]
            assert not inline, f"{page.name}: inline Python {inline[:2]}; include a file"


def test_api_reference_names_every_public_name() -> None:
    reference = (DOCS / "reference" / "index.md").read_text()
    documented = set(re.findall(r"^::: fastapi_nova\.(\w+)$", reference, re.M))
    for name in fastapi_nova.__all__:
        if inspect.ismodule(getattr(fastapi_nova, name)):  # a submodule has its own page
            page = DOCS / "reference" / f"{name}.md"
            assert f"::: fastapi_nova.{name}\n" in page.read_text(), name
        else:
            assert name in documented, f"add '::: fastapi_nova.{name}' to reference/index.md"
    pubsub_page = (DOCS / "reference" / "pubsub.md").read_text()
    for name in (
        "join",
        "leave",
        "broadcast",
        "local_broadcast",
        "get_members",
        "get_local_members",
        "PubSubMessage",
        "configure",
    ):
        assert f"- {name}\n" in pubsub_page, name
    testing_page = (DOCS / "reference" / "testing.md").read_text()
    for name in testing.__all__:
        assert f"- {name}\n" in testing_page, name


def test_every_public_name_is_explained_in_a_guide_page() -> None:
    code = " ".join(re.findall(r"`[^`\n]+`", "".join(p.read_text() for p in DOCS.glob("*.md"))))
    missing = [n for n in fastapi_nova.__all__ if not re.search(rf"\b{n}\b", code)]
    assert not missing, f"public names no guide page mentions in code: {missing}"


@pytest.mark.parametrize("command", ["routes", "audit"])
def test_cli_output_shown_in_tools_page_is_what_the_cli_prints(
    command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # static files are shown relative to the working directory
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli.main([command, "example_app.main:app"]) == 0
    shown = (EXAMPLES / "output" / f"cli_{command}.txt").read_text()
    assert out.getvalue() == shown
    assert f'--8<-- "docs/examples/output/cli_{command}.txt"' in (DOCS / "tools.md").read_text()


@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    site = tmp_path / "site"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "mkdocs"), "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    reference = (site / "reference" / "index.html").read_text()
    for name in fastapi_nova.__all__:
        if inspect.ismodule(getattr(fastapi_nova, name)):
            assert (site / "reference" / name / "index.html").exists(), name
            continue
        anchor = name
        assert f'id="fastapi_nova.{anchor}"' in reference, name
    included = site / "getting-started" / "index.html"
    assert not included.exists()  # index.md is the getting started page
    assert "show_user" in (site / "index.html").read_text()  # snippets were included


#: Bodies people send by mistake (or on purpose) to an endpoint that expects {"text": str}.
BAD_TEXT_BODIES: list[dict[str, Any]] = [
    {},
    {"content": b"", "headers": {"content-type": "application/json"}},
    {"data": {"text": "a form"}},
    {"json": {"x": 1}},
    {"json": {"text": 42}},
    {"json": ["text"]},
    {"json": None},
    {"content": b"{nope", "headers": {"content-type": "application/json"}},
]


@exercises("pubsub_rooms", "controllers_styles", "ws_push")
@pytest.mark.anyio
@pytest.mark.parametrize("body", BAD_TEXT_BODIES, ids=lambda b: repr(b)[:40])
async def test_examples_answer_a_bad_body_with_a_4xx(
    body: dict[str, Any], memory_pubsub: None, caplog: pytest.LogCaptureFixture
) -> None:
    # People copy examples: each one validates its input (issue 8, item 12).
    push = example("ws_push")
    endpoints = [
        (example("pubsub_rooms").app, "/rooms/lobby/announce"),
        (example("controllers_styles").app, "/comments/nova"),
        (push.app, "/notify/ann"),
    ]
    async with connect(push.app, "/inbox/ann", timeout=TIMEOUT):  # ann is online
        for app, path in endpoints:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                response = await http.post(path, **body)
            assert response.status_code == 400, (path, response.text)
            assert response.headers["content-type"] == "application/json"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

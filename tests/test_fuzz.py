"""The fuzz layer: hostile input gets a clear answer, never a 500, a hang or a leak.

Property-based tests (hypothesis) over what users and clients control: route tables (a
``RouteConfigError`` or a working router), HTTP paths, queries, headers and bodies against a
router with bindings, wildcards, static routes and templates (a 4xx, never a 500), redirect
targets, static file names and listings, and WebSocket frames of every size around
``max_frame_size`` (a reply or a close code). Channel and topic names and pub/sub payloads
are fuzzed beside pub/sub itself.

Each test is bounded in examples and by a deadline per example, and drives the app in
memory, so the whole layer stays well within CI's budget. Hypothesis keeps no example
database here: a failure prints the example to reproduce (``@reproduce_failure``).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import string
import struct
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import anyio
import pytest
from fastapi import FastAPI
from fastapi import Path as PathParam
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from starlette.testclient import TestClient

from fastapi_nova import NovaRequest, NovaRouter, NovaWebSocket, RouteConfigError
from fastapi_nova.testing import connect
from tests.apps import hardening_app
from tests.support.servers import Server, open_raw_websocket, uvicorn_server

#: Bounds for every test here: few examples, a deadline each, no database on disk. The
#: deadline catches a hang, not slowness (CI shares its cores): it is far above the normal
#: few milliseconds. Under CI the examples are derandomized, so a run is repeatable and a
#: commit is never blocked by a new find; run locally (random) to keep looking.
FUZZ = settings(
    max_examples=40,
    deadline=timedelta(seconds=10),
    derandomize=os.environ.get("CI") == "true",
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
#: Seconds any expected WebSocket frame may take before the test fails (a hang).
TIMEOUT = 5.0


# ------------------------------------------------------------------- route tables

SEGMENTS = st.one_of(
    st.sampled_from(["users", "a-b", "x.y", "[...]", ":id", ":class", ":from", "{id}", ":"]),
    st.from_regex(r"\A:[A-Za-z_][A-Za-z0-9_]{0,8}\Z"),
    st.text(alphabet=string.printable + "é日", max_size=8),
)
PATHS = st.lists(SEGMENTS, max_size=4).map(lambda parts: "/" + "/".join(parts))


def controller(req: NovaRequest) -> Any:
    return ("json", {"bindings": req.bindings, "pathinfo": req.pathinfo})


ANY_VALUE = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 700), st.text(max_size=6), st.just([])
)
OPTIONS = st.one_of(
    st.none(),
    st.dictionaries(
        st.sampled_from(["methods", "protocol", "summary", "status_code", "bogus", "tags"]),
        st.one_of(
            ANY_VALUE,
            st.lists(st.sampled_from(["get", "post", "GET", "fetch", ""]), max_size=3),
        ),
        max_size=3,
    ),
)
TARGETS = st.one_of(PATHS, st.integers(0, 700), st.none(), st.text(max_size=5))
HANDLERS = st.one_of(st.just(controller), st.sampled_from([None, 42, "no/such/dir", object()]))


@st.composite
def routes(draw: st.DrawFn) -> tuple[Any, ...]:
    route = (draw(TARGETS), draw(HANDLERS))
    options = draw(OPTIONS)
    return route if options is None else (*route, options)


GROUPS = st.lists(
    st.fixed_dictionaries(
        {"routes": st.one_of(st.lists(routes(), max_size=4), ANY_VALUE)},
        optional={
            "prefix": st.one_of(PATHS, ANY_VALUE),
            "security": st.one_of(st.just(False), st.just(lambda req: True), ANY_VALUE),
            "bogus": ANY_VALUE,
        },
    ),
    max_size=3,
)


@settings(FUZZ, max_examples=25)
@given(GROUPS)
def test_a_route_table_builds_a_working_router_or_raises_route_config_error(
    groups: list[dict[str, Any]],
) -> None:
    try:
        router = NovaRouter(groups)
    except RouteConfigError as exc:
        assert str(exc).startswith("group "), exc  # names the group (and route)
        event("refused")
        return
    event("built")
    app = FastAPI()
    app.include_router(router)
    client = TestClient(app, raise_server_exceptions=False)
    assert client.get("/openapi.json").status_code == 200
    for route in app.routes:
        path = getattr(route, "path", "/")
        url = path.replace("{pathinfo:path}", "a/b").replace("{", "").replace("}", "")
        assert client.get(url).status_code < 500, url


# ------------------------------------------------------------------- HTTP requests


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz-site")
    (root / "static").mkdir()
    (root / "static" / "a.txt").write_text("a")
    (root / "static" / ".env").write_text("x")
    (root / "templates").mkdir()
    (root / "templates" / "page.html").write_text("<p>{{ q }} {{ bindings }}</p>")
    return root


def view(req: NovaRequest) -> Any:
    return ("ok", {**req.parsed_qs, "bindings": req.bindings}, {"view": "page"})


def echo_body(req: NovaRequest) -> Any:
    return ("json", {"json": req.json, "params": req.params, "qs": req.parsed_qs})


def go_to(req: NovaRequest) -> Any:
    return ("redirect", req.parsed_qs.get("to", "/"))


class Item(BaseModel):
    name: str
    tags: list[str] = []


def typed(item: Item, class_: str = PathParam(alias="class"), limit: int = 10) -> Any:
    return ("json", {"item": item, "class": class_, "limit": limit})


def token(req: NovaRequest) -> Any:
    header = req.headers.get("authorization", "")
    return (True, header) if header == "Bearer ok" else (False, {"www-authenticate": "Bearer"})


@pytest.fixture(scope="module")
def http(site: Path) -> TestClient:
    app = FastAPI()
    table = [
        {
            "prefix": "",
            "routes": [
                ("/users/:id", controller, {"methods": ["get"]}),
                ("/files/:owner/[...]", controller, {"methods": ["get"]}),
                ("/courses/:class", controller, {"methods": ["get"]}),
                ("/view/:name", view, {"methods": ["get"]}),
                ("/echo", echo_body, {"methods": ["post", "put"]}),
                ("/go", go_to, {"methods": ["get"]}),
                ("/static", str(site / "static"), {"list_dir": True}),
                ("/hidden", str(site / "static"), {"hide_dotfiles": True}),
                ("/typed/:class", typed, {"methods": ["post"]}),
                (404, lambda req: ("status", 404, {}, {"error": "not found"}), {}),
            ],
        },
        {"prefix": "/secure", "security": token, "routes": [("/:id", controller)]},
    ]
    app.include_router(NovaRouter(table, templates=str(site / "templates")))
    return TestClient(app, raise_server_exceptions=False)


#: Any text a client can put in a path segment, percent-encoded as a client would send it.
SEGMENT_TEXT = st.text(max_size=40).map(lambda s: quote(s, safe=""))
RAW_SEGMENT = st.lists(
    st.sampled_from([*string.ascii_letters[:6], *"%.:~-_@!$&'()*+,;=", "%00", "%2e", "%5c", "%2F"]),
    max_size=12,
).map("".join)
PREFIXES = st.sampled_from(
    ["/users", "/files/ann", "/courses", "/view", "/echo", "/go", "/static", "/hidden"]
    + ["/typed", "/secure", ""]
)
HEADER_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=30,
).map(str.strip)
HEADERS = st.dictionaries(
    st.sampled_from(
        ["content-type", "accept", "x-thing", "cookie", "origin", "range", "authorization"]
    ),
    HEADER_TEXT,
    max_size=3,
)


@FUZZ
@given(
    method=st.sampled_from(["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]),
    prefix=PREFIXES,
    segments=st.lists(st.one_of(SEGMENT_TEXT, RAW_SEGMENT), max_size=4),
    query=st.lists(st.tuples(st.text(max_size=8), st.text(max_size=20)), max_size=3),
    headers=HEADERS,
    body=st.one_of(
        st.binary(max_size=200),
        st.text(max_size=100).map(str.encode),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=10),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.sampled_from(["name", "tags", "text", "x"]), inner, max_size=3)
            ),
            max_leaves=8,
        ).map(lambda value: json.dumps(value).encode()),
    ),
)
def test_any_request_gets_an_answer_below_500(
    http: TestClient,
    method: str,
    prefix: str,
    segments: list[str],
    query: list[tuple[str, str]],
    headers: dict[str, str],
    body: bytes,
) -> None:
    # Known upstream: see test_a_non_utf8_body_to_a_fastapi_body_model_is_a_500_upstream.
    assume(not (prefix == "/typed" and not _is_utf8(body)))
    url = prefix + "".join("/" + s for s in segments)
    raw_headers = {name: value.encode("latin-1") for name, value in headers.items()}
    response = http.request(method, url or "/", params=query, headers=raw_headers, content=body)
    assert response.status_code < 500, (method, url, query, headers, body, response.text)


@pytest.mark.xfail(
    strict=True,
    reason="FastAPI's own 422 handler raises UnicodeDecodeError on a non-UTF-8 body it "
    "echoes back (fastapi/fastapi#13111, open): a 500 in plain FastAPI too",
)
def test_a_non_utf8_body_to_a_fastapi_body_model_is_a_500_upstream() -> None:
    app = FastAPI()
    app.include_router(NovaRouter([{"routes": [("/typed/:class", typed, {"methods": ["post"]})]}]))
    client = TestClient(app, raise_server_exceptions=False)
    # When FastAPI fixes it this passes, and strict xfail says to drop the marker and the
    # assume() in test_any_request_gets_an_answer_below_500.
    assert client.post("/typed/a", content=b"\x80").status_code == 422


@FUZZ
@given(st.text(max_size=60))
def test_any_redirect_target_is_an_encoded_location_or_a_refusal(http: TestClient, to: str) -> None:
    response = http.get("/go", params={"to": to}, follow_redirects=False)

    if "\r" in to or "\n" in to:
        assert response.status_code == 500  # the documented refusal, logged
        assert "location" not in response.headers
        return
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.isascii() and not any(c in location for c in "\r\n\x00 ")
    assert unquote(location) == unquote(to)  # encoding only, the target is unchanged


# ------------------------------------------------------------------- static names

FILE_NAMES = st.text(
    alphabet=st.characters(exclude_characters="/\x00", exclude_categories=["Cs"]),
    min_size=1,
    max_size=30,
).filter(lambda name: name not in (".", ".."))


@settings(FUZZ, max_examples=20)
@given(names=st.lists(FILE_NAMES, min_size=1, max_size=5, unique=True))
def test_a_listing_links_every_file_by_a_safe_relative_href(names: list[str]) -> None:
    import re
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        created = []
        for name in names:
            try:
                (Path(tmp) / name).write_text(name)
            except (OSError, UnicodeEncodeError):  # a name the file system refuses
                continue
            if "\\" not in name and "\n" not in name:  # never served, so not listed
                created.append(name)
        app = FastAPI()
        app.include_router(NovaRouter([{"routes": [("/s", tmp, {"list_dir": True})]}]))
        client = TestClient(app, raise_server_exceptions=False)
        listing = client.get("/s/")
        assert listing.status_code == 200
        hrefs = re.findall(r'href="([^"]*)"', listing.text)
        assert len(hrefs) == len(created)
        for href in hrefs:
            assert href.startswith("./") and href.isascii(), href
            assert ":" not in href and "#" not in href and "?" not in href, href
            served = client.get("/s/" + href[2:])
            assert served.status_code == 200, href
            assert served.text in created


@FUZZ
@given(st.one_of(st.text(max_size=300), st.binary(max_size=100).map(lambda b: b.hex())))
def test_any_static_name_is_served_or_refused_below_500(http: TestClient, name: str) -> None:
    for root in ("/static/", "/hidden/"):
        response = http.get(root + quote(name, safe="/"))
        assert response.status_code < 500, (root, name)


# ------------------------------------------------------------------- WebSocket frames

FRAME_LIMIT = 1024


class Echo(NovaWebSocket):
    """Echoes frames; "raise" raises, "junk" returns an invalid value."""

    opened = 0
    terminated = 0

    def websocket_init(self, state: Any) -> Any:
        Echo.opened += 1
        return ("ok", state)

    def websocket_handle(self, frame: Any, state: Any) -> Any:
        match frame:
            case ("text", "raise"):
                raise ValueError("raise")
            case ("text", "junk"):
                return ["not", "a", "return"]
            case ("text", text):
                return ("reply", ("text", text), state)
            case ("binary", data):
                return ("reply", ("binary", data), state)
        return ("ok", state)

    def terminate(self, reason: Any, state: Any) -> None:
        Echo.terminated += 1


ws_app = FastAPI()
ws_app.include_router(
    NovaRouter([{"routes": [("/ws", Echo, {"protocol": "ws", "max_frame_size": FRAME_LIMIT})]}])
)

SIZES = st.one_of(st.integers(FRAME_LIMIT - 2, FRAME_LIMIT + 2), st.integers(0, 3 * FRAME_LIMIT))
FRAMES = st.one_of(
    st.tuples(st.just("text"), st.sampled_from(["raise", "junk"])),
    SIZES.flatmap(lambda n: st.tuples(st.just("text"), st.text(min_size=n, max_size=n))),
    SIZES.map(lambda n: ("binary", b"\x00\xff" * (n // 2) + b"x" * (n % 2))),
)


@settings(FUZZ, max_examples=30)
@given(st.lists(FRAMES, min_size=1, max_size=4))
def test_any_frames_get_a_reply_or_a_close_code(frames: list[tuple[str, Any]]) -> None:
    async def exchange() -> None:
        async with connect(ws_app, "/ws", timeout=TIMEOUT) as ws:
            for kind, payload in frames:
                size = len(payload.encode() if kind == "text" else payload)
                if kind == "text":
                    await ws.send_text(payload)
                else:
                    await ws.send_bytes(payload)
                answer = await ws.receive()  # TimeoutError would be a hang
                if size > FRAME_LIMIT:
                    assert answer[:2] == ("close", 1009), (size, answer[:2])
                    return
                if payload in ("raise", "junk"):
                    assert answer[:2] == ("close", 1011), answer
                    return
                assert answer == (kind, payload)

    before = Echo.terminated
    anyio.run(exchange)
    assert Echo.terminated == before + 1  # every connection ended, and terminate ran once
    assert Echo.opened == Echo.terminated


# ------------------------------------------------------------------- raw frames, real server


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with uvicorn_server("tests.apps.hardening_app:app", tmp_path_factory.mktemp("ws")) as server:
        yield server


def frame(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """A masked client frame (RFC 6455 section 5.2)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def read_frame(sock: socket.socket) -> tuple[int, bytes]:
    """The next server frame ``(opcode, payload)``; ``socket.timeout`` means a hang."""

    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed without a close frame")
            data += chunk
        return data

    first, second = exactly(2)
    n = second & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", exactly(2))
    elif n == 127:
        (n,) = struct.unpack("!Q", exactly(8))
    return first & 0x0F, exactly(n)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


RAW_SIZES = st.one_of(
    st.integers(hardening_app.FRAME_LIMIT - 2, hardening_app.FRAME_LIMIT + 2),
    st.integers(0, 2 * hardening_app.FRAME_LIMIT),
)
RAW_MESSAGES = st.tuples(
    st.sampled_from([0x1, 0x2]),  # text, binary
    RAW_SIZES.flatmap(lambda n: st.binary(min_size=n, max_size=n)),
    st.integers(1, 3),  # fragments
)


@pytest.mark.slow
@settings(FUZZ, max_examples=25)
@given(st.lists(RAW_MESSAGES, min_size=1, max_size=3))
def test_any_raw_frames_get_an_echo_or_a_close_code(
    live: Server, messages: list[tuple[int, bytes, int]]
) -> None:
    with contextlib.closing(open_raw_websocket(live.port, "/ws", TIMEOUT)) as sock:
        for opcode, payload, parts in messages:
            step = max(1, -(-len(payload) // parts))
            chunks = [payload[i : i + step] for i in range(0, len(payload), step)] or [b""]
            for i, chunk in enumerate(chunks):
                sock.sendall(frame(opcode if i == 0 else 0x0, chunk, fin=i == len(chunks) - 1))
            got_opcode, got = read_frame(sock)
            too_big = len(payload) > hardening_app.FRAME_LIMIT
            bad_text = opcode == 0x1 and not _is_utf8(payload)
            if got_opcode == 0x8:  # close: a code that says why (either fault may be seen first)
                code = struct.unpack("!H", got[:2])[0]
                expected = {1009} if too_big else set()
                expected |= {1007} if bad_text else set()
                assert code in expected, (len(payload), bad_text, code)
                return
            assert not too_big and not bad_text, (len(payload), bad_text)
            assert (got_opcode, got) == (opcode, payload)


# ------------------------------------------------------------------- binding names

BINDING_NAMES = st.one_of(
    st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,10}\Z"),
    st.sampled_from(
        ["class", "from", "def", "None", "True", "async", "match", "_", "request", "req"]
        + ["_nova_binding_class", "nova_request", "pathinfo", "self", "kwargs", "args"]
    ),
)


@settings(FUZZ, max_examples=20)
@given(st.lists(BINDING_NAMES, min_size=1, max_size=3, unique=True), st.booleans())
def test_any_binding_names_reach_req_bindings_or_are_refused(
    names: list[str], fastapi_style: bool
) -> None:
    path = "/b/" + "/".join(f":{name}" for name in names)

    def nova(req: NovaRequest) -> Any:
        return ("json", req.bindings)

    def plain(extra: str = "", limit: int = 0) -> Any:  # FastAPI style
        return ("json", {"extra": extra, "limit": limit})

    try:
        router = NovaRouter([{"routes": [(path, plain if fastapi_style else nova)]}])
    except RouteConfigError as exc:
        assert str(exc).startswith("group 0 (prefix ''), route "), exc
        event("refused")
        return
    event("built")
    app = FastAPI()
    app.include_router(router)
    client = TestClient(app, raise_server_exceptions=False)
    values = [f"v{i}" for i in range(len(names))]
    response = client.get("/b/" + "/".join(values))
    assert response.status_code == 200, (names, response.text)
    if not fastapi_style:
        assert response.json() == dict(zip(names, values, strict=True))
    spec = client.get("/openapi.json").json()
    (operation,) = spec["paths"].values()
    documented = [p["name"] for p in operation["get"]["parameters"] if p["in"] == "path"]
    assert documented == names

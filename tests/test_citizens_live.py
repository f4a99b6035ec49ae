"""Issue 7's FastAPI habits over real sockets: uvicorn serving ``tests.apps.citizens_app``."""

from __future__ import annotations

from collections.abc import Iterator

import httpx2 as httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.support.servers import Server, uvicorn_server

TIMEOUT = 10.0
GOOD = {"Authorization": "Bearer good"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with uvicorn_server("tests.apps.citizens_app:app", tmp_path_factory.mktemp("live")) as s:
        yield s


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
        yield client


def test_security_answers_as_fastapi_would(http: httpx.Client) -> None:
    missing = http.get("/me")  # the function's own answer; the scheme never answers
    assert (missing.status_code, missing.content) == (401, b"")
    assert missing.headers["www-authenticate"] == "Bearer"

    unknown = http.get("/me", headers={"Authorization": "Bearer bad"})  # HTTPException
    assert (unknown.status_code, unknown.json()) == (401, {"detail": "unknown token"})
    assert unknown.headers["www-authenticate"] == "Bearer"


def test_response_model_filters_the_payload(http: httpx.Client) -> None:
    response = http.get("/me", headers=GOOD)

    assert response.json() == {"id": 1, "name": "ann"}


def test_server_sent_events_stream(http: httpx.Client) -> None:
    with http.stream("GET", "/ticks", headers=GOOD) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        body = b"".join(response.iter_bytes())
    assert body.split(b"\n\n")[:2] == [b'data: {"n":0}', b'data: {"n":1}']


def test_asyncapi_and_openapi_describe_the_app(http: httpx.Client) -> None:
    asyncapi = http.get("/asyncapi.json").json()
    assert [c["address"] for c in asyncapi["channels"].values()] == ["/ws"]
    assert asyncapi["components"]["securitySchemes"] == {
        "HTTPBearer": {"type": "http", "scheme": "bearer"}
    }
    openapi = http.get("/openapi.json").json()
    assert openapi["paths"]["/me"]["get"]["security"] == [{"HTTPBearer": []}]


def test_websocket_denial_carries_the_http_exception(server: Server) -> None:
    with pytest.raises(InvalidStatus) as refused:
        with connect(f"{server.ws_url}/ws?token=bad", open_timeout=TIMEOUT):
            pass
    response = refused.value.response
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.body == b'{"detail":"unknown token"}'

    with connect(f"{server.ws_url}/ws?token=good", open_timeout=TIMEOUT) as ws:
        ws.send("who?")
        assert ws.recv(timeout=TIMEOUT) == "ann"
    assert "Traceback" not in server.log()


def test_the_log_has_no_error(server: Server) -> None:
    # Runs last in this module: nothing above (denials included) logged an error.
    assert "ERROR" not in server.log() and "Traceback" not in server.log()

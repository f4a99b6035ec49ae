"""``nova-socket.js`` (``NovaSocket``) on its own, in real headless Chromium.

Backoff with jitter against a port nothing listens on, the bounded queue against the example
app's echo socket on real uvicorn, and a dead connection (a server that never answers the
heartbeat) detected and replaced. Every wait is on an event in the page, with a timeout.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.server import ServerConnection, serve

from fastapi_nova import browser_client_path
from tests.support.browser import TIMEOUT_MS, chromium
from tests.support.servers import Server, free_port, uvicorn_server

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def blank(browser: Any) -> Any:
    """A page with NovaSocket loaded from the package's file (no server needed)."""
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.set_content("<!doctype html><title>blank</title>")
    page.add_script_tag(content=browser_client_path().read_text())
    return page


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    env = {"NOVA_PUBSUB_URL": "memory://"}
    with uvicorn_server("example_app.main:app", tmp_path, env=env) as s:
        yield s


def test_reconnect_delays_double_up_to_the_cap_with_jitter(blank: Any) -> None:
    url = f"ws://127.0.0.1:{free_port()}/nothing-listens"
    blank.evaluate(
        """url => {
          window.delays = [];
          window.client = new NovaSocket(url, {minDelay: 40, maxDelay: 320});
          window.client.onclose = (event, retryIn) => window.delays.push(retryIn);
        }""",
        url,
    )
    blank.wait_for_function("window.delays.length >= 8", timeout=TIMEOUT_MS)
    blank.evaluate("window.client.close()")
    delays: list[int] = blank.evaluate("window.delays")[:8]
    for attempt, delay in enumerate(delays):
        base = min(320, 40 * 2**attempt)
        assert base / 2 - 1 <= delay <= base, (attempt, delays)
    capped = delays[3:]  # 320 each: the jitter alone decides these
    assert len(set(capped)) > 1, f"no jitter in {delays}"


def test_close_stops_reconnecting(blank: Any) -> None:
    url = f"ws://127.0.0.1:{free_port()}/nothing-listens"
    blank.evaluate(
        """url => {
          window.retries = [];
          window.client = new NovaSocket(url, {minDelay: 40});
          window.client.onclose = (event, retryIn) => window.retries.push(retryIn);
        }""",
        url,
    )
    blank.wait_for_function("window.retries.length >= 1", timeout=TIMEOUT_MS)
    blank.evaluate("window.client.close()")
    state = blank.evaluate("({retry: window.client._retry, closed: window.client.closed})")
    assert state == {"retry": None, "closed": True}
    with pytest.raises(Exception, match="NovaSocket.send after close"):
        blank.evaluate("window.client.send('late')")


def test_messages_sent_while_disconnected_are_queued_bounded_and_in_order(
    browser: Any, server: Server
) -> None:
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{server.url}/login")  # a page of the app: its origin passes the origin check
    page.add_script_tag(url="/js/nova-socket.js")
    page.evaluate(
        """() => {
          window.got = [];
          window.client = new NovaSocket("/ws", {maxQueue: 3});
          window.client.onmessage = (text) => window.got.push(text);
          // Still connecting: all five are queued, and only the newest three are kept.
          for (const n of ["1", "2", "3", "4", "5"]) window.client.send(n);
        }"""
    )
    page.wait_for_function("window.got.length >= 3", timeout=TIMEOUT_MS)
    page.evaluate("window.client.send('6')")  # connected now: sent at once
    page.wait_for_function("window.got.length >= 4", timeout=TIMEOUT_MS)
    assert page.evaluate("window.got") == ["Echo: 3", "Echo: 4", "Echo: 5", "Echo: 6"]
    page.evaluate("window.client.close()")


@pytest.fixture
def silent_server() -> Iterator[tuple[int, list[ServerConnection]]]:
    """A WebSocket server that accepts and then never sends anything (a dead peer)."""
    port = free_port()
    accepted: list[ServerConnection] = []
    lock = threading.Lock()

    def handler(connection: ServerConnection) -> None:
        with lock:
            accepted.append(connection)
        for _ in connection:  # read and ignore everything, heartbeats included
            pass

    with serve(handler, "127.0.0.1", port) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield port, accepted
        finally:
            server.shutdown()
            thread.join(timeout=10)


def test_a_connection_that_never_answers_the_heartbeat_is_replaced(
    blank: Any, silent_server: tuple[int, list[ServerConnection]]
) -> None:
    port, accepted = silent_server
    blank.evaluate(
        """url => {
          window.closes = [];
          window.opens = 0;
          window.client = new NovaSocket(url, {
            heartbeat: "hb", heartbeatInterval: 100, minDelay: 40,
          });
          window.client.onopen = () => { window.opens += 1; };
          window.client.onclose = (event, retryIn) =>
            window.closes.push({code: event.code, reason: event.reason});
        }""",
        f"ws://127.0.0.1:{port}/",
    )
    # Two heartbeat intervals (+1 s) without a word: given up on, and a second connection opens.
    blank.wait_for_function("window.opens >= 2", timeout=TIMEOUT_MS)
    blank.evaluate("window.client.close()")
    closes = blank.evaluate("window.closes")
    assert closes[0] == {"code": 4000, "reason": "heartbeat lost"}
    assert len(accepted) >= 2


def test_a_throwing_hook_is_reported_and_the_client_carries_on(
    browser: Any, server: Server
) -> None:
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{server.url}/login")
    page.add_script_tag(url="/js/nova-socket.js")
    page.evaluate(
        """() => {
          window.got = [];
          window.client = new NovaSocket("/ws");
          window.client.onopen = () => { throw new Error("a bug in onopen"); };
          window.client.onmessage = (text) => window.got.push(text);
          window.client.send("queued");  // flushed after onopen, even though it throws
        }"""
    )
    page.wait_for_function("window.got.length >= 1", timeout=TIMEOUT_MS)
    assert page.evaluate("window.got") == ["Echo: queued"]
    page.wait_for_function("true")  # one more round trip so the reported error is delivered
    assert any("a bug in onopen" in error for error in errors), errors
    page.evaluate("window.client.close()")

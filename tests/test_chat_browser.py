"""The example chat page and its NovaSocket client in real headless Chromium (Debian's).

Never downloads a browser: Playwright is pointed at ``/usr/bin/chromium``. The server is a
real uvicorn child process; ``NOVA_CHAT_IDLE_TIMEOUT`` makes the chat route's idle timeout
short so that "idle for longer than idle_timeout" takes seconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from example_app.controllers.ws_handlers import CHAT_HEARTBEAT
from tests.support.browser import TIMEOUT_MS, chromium
from tests.support.servers import Server, free_port, uvicorn_server

pytestmark = [pytest.mark.slow, pytest.mark.browser]

APP = "example_app.main:app"
# Reconnecting waits out the client's backoff (up to 15 s between attempts) after a restart.
RECONNECT_MS = 40_000
IDLE_TIMEOUT = 2.0  # seconds; the page sends a heartbeat every third of it
ENV = {"NOVA_PUBSUB_URL": "memory://", "NOVA_CHAT_IDLE_TIMEOUT": str(IDLE_TIMEOUT)}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with uvicorn_server(APP, tmp_path, env=ENV) as s:
        yield s


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


class ChatPage:
    """One browser tab on /chat.html, with every WebSocket it opened."""

    def __init__(self, browser: Any, url: str, name: str) -> None:
        self.name = name
        self.page = browser.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.sockets: list[Any] = []
        self.page.on("websocket", lambda socket: self.sockets.append(socket))
        self.page.goto(f"{url}/chat.html?name={name}")
        self.wait_status("connected")

    def wait_status(self, pattern: str, timeout: int = TIMEOUT_MS) -> None:
        from playwright.sync_api import expect

        expect(self.page.locator("#status")).to_have_text(re.compile(pattern), timeout=timeout)

    def say(self, text: str) -> None:
        self.page.fill("#message", text)
        self.page.click("#send")

    def wait_last(self, line: str, timeout: int = TIMEOUT_MS) -> None:
        from playwright.sync_api import expect

        expect(self.page.locator("#messages li").last).to_have_text(line, timeout=timeout)

    def messages(self) -> list[str]:
        result: list[str] = self.page.locator("#messages li").all_inner_texts()
        return result


def test_two_browser_pages_chat_with_author_names(browser: Any, server: Server) -> None:
    ann = ChatPage(browser, server.url, "ann")
    bob = ChatPage(browser, server.url, "bob")

    ann.say("hello from the first page")
    for page in (ann, bob):
        page.wait_last("ann: hello from the first page")
    bob.say("and hello back")
    for page in (ann, bob):
        page.wait_last("bob: and hello back")

    expected = ["ann: hello from the first page", "bob: and hello back"]
    assert ann.messages() == expected and bob.messages() == expected
    assert bob.page.locator("#messages li .author").all_inner_texts() == ["ann", "bob"]
    assert ann.page.input_value("#message") == ""


def test_an_idle_reader_stays_connected_past_idle_timeout(browser: Any, server: Server) -> None:
    reader = ChatPage(browser, server.url, "reader")
    [socket] = reader.sockets
    # Each heartbeat answer takes a third of idle_timeout to come (the page's interval), so
    # seven of them span at least two idle timeouts in which the reader typed nothing.
    for _ in range(7):
        socket.wait_for_event(
            "framereceived",
            predicate=lambda payload: payload == CHAT_HEARTBEAT,
            timeout=TIMEOUT_MS,
        )
    assert not socket.is_closed()
    writer = ChatPage(browser, server.url, "writer")
    writer.say("still there?")
    reader.wait_last("writer: still there?")
    # The same connection all along: no close and no reconnect, and heartbeats never show.
    assert len(reader.sockets) == 1 and not socket.is_closed()
    assert reader.messages() == ["writer: still there?"]
    reader.wait_status("^connected$")


def test_both_pages_reconnect_after_a_server_restart(browser: Any, tmp_path: Path) -> None:
    port = free_port()
    for run in ("first", "second"):
        (tmp_path / run).mkdir()
    with uvicorn_server(APP, tmp_path / "first", env=ENV, port=port) as first:
        ann = ChatPage(browser, first.url, "ann")
        bob = ChatPage(browser, first.url, "bob")
        ann.say("before the restart")
        bob.wait_last("ann: before the restart")

    for page in (ann, bob):  # the server is gone: both pages notice and retry
        page.wait_status("^reconnecting in ")
    ann.say("typed while the server was down")  # queued by NovaSocket

    with uvicorn_server(APP, tmp_path / "second", env=ENV, port=port):
        for page in (ann, bob):
            page.wait_status("^connected$", timeout=RECONNECT_MS)
            assert len(page.sockets) >= 2  # a new connection, not the old one
        # The queued line went out on ann's new connection (a sender hears its own lines).
        ann.wait_last("ann: typed while the server was down")
        bob.say("after the restart")
        for page in (ann, bob):
            page.wait_last("bob: after the restart")
        ann.say("and back")
        for page in (ann, bob):
            page.wait_last("ann: and back")

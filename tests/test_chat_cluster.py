"""Two real uvicorn processes and a real redis-server make one chat, and survive Redis going away.

The example app runs twice with ``NOVA_PUBSUB_URL`` pointing at a redis-server that the
``redis_server`` fixture starts on a free 127.0.0.1 port (and kills and restarts mid-test).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import httpx2 as httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.support.redis import RedisServer, redis_server  # noqa: F401
from tests.support.servers import Server, eventually, uvicorn_server

pytestmark = [pytest.mark.slow, pytest.mark.redis]

TIMEOUT = 5.0
T = TypeVar("T")


@pytest.fixture
def nodes(redis_server: RedisServer, tmp_path: Path) -> Iterator[tuple[Server, Server]]:  # noqa: F811
    env = {"NOVA_PUBSUB_URL": redis_server.url}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with uvicorn_server("example_app.main:app", tmp_path / "a", env=env) as a:
        with uvicorn_server("example_app.main:app", tmp_path / "b", env=env) as b:
            yield a, b


def chat(server: Server) -> ClientConnection:
    return connect(f"{server.ws_url}/chat", open_timeout=TIMEOUT, close_timeout=TIMEOUT, proxy=None)


def members(server: Server) -> list[str]:
    result: list[str] = httpx.get(f"{server.url}/chat/members", timeout=TIMEOUT).json()["members"]
    return result


def both_agree(a: Server, b: Server) -> Callable[[], tuple[list[str], list[str]]]:
    def probe() -> tuple[list[str], list[str]]:
        return members(a), members(b)

    return probe


def agreed(count: int) -> Callable[[tuple[list[str], list[str]]], bool]:
    return lambda views: views[0] == views[1] and len(views[0]) == count


def send_until_delivered(sender: ClientConnection, receiver: ClientConnection, text: str) -> None:
    """Send ``text`` until ``receiver`` gets it (bounded): used while Redis comes back."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        sender.send(text)
        try:
            while True:
                got = receiver.recv(timeout=1.0)
                if got == text:
                    return
        except TimeoutError:
            continue
    raise AssertionError(f"{text!r} never arrived after Redis came back")


def drain(client: ClientConnection, text: str) -> None:
    """Read until ``text`` (the client's own copies, and refusals, come first)."""
    for _ in range(50):
        if client.recv(timeout=TIMEOUT) == text:
            return
    raise AssertionError(f"{text!r} not received")


def test_two_processes_one_chat_and_redis_restart(
    nodes: tuple[Server, Server],
    redis_server: RedisServer,  # noqa: F811
) -> None:
    a, b = nodes
    with chat(a) as alice, chat(b) as bob:
        views = eventually(both_agree(a, b), agreed(2))
        assert agreed(2)(views), views

        alice.send("hello from A")
        assert alice.recv(timeout=TIMEOUT) == "hello from A"
        assert bob.recv(timeout=TIMEOUT) == "hello from A"
        bob.send("hello from B")
        assert bob.recv(timeout=TIMEOUT) == "hello from B"
        assert alice.recv(timeout=TIMEOUT) == "hello from B"

        redis_server.stop()
        alice.send("while redis is down")
        # broadcast raises PubSubUnavailable promptly; the chat handler says so and lives on.
        assert alice.recv(timeout=TIMEOUT).startswith("* not sent")

        redis_server.start()
        send_until_delivered(alice, bob, "after the restart, A to B")
        send_until_delivered(bob, alice, "after the restart, B to A")
        views = eventually(both_agree(a, b), agreed(2))
        assert agreed(2)(views), views

    views = eventually(both_agree(a, b), agreed(0))
    assert agreed(0)(views), views
    for server in (a, b):
        assert "Traceback" not in server.log(), server.log()


def test_members_of_a_dead_node_disappear(
    nodes: tuple[Server, Server],
) -> None:
    a, b = nodes
    with chat(a) as alice, chat(b):
        views = eventually(both_agree(a, b), agreed(2))
        assert agreed(2)(views), views
        b.proc.kill()  # the node dies without saying goodbye
        b.proc.wait(timeout=10)
        remaining = eventually(lambda: members(a), lambda m: len(m) == 1)
        assert len(remaining) == 1, remaining
        alice.send("still here")
        assert alice.recv(timeout=TIMEOUT) == "still here"

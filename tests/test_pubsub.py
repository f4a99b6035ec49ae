"""Tests of fastapi_nova.pubsub, the public front: membership, delivery, names, payloads,
configuration and ownership, the lifespan, and loop binding; over memory:// and a real Redis.

The hub, gossip and backend each have their own module (test_hub, test_membership,
test_redis_backend); here everything goes through the functions users call.
"""

from __future__ import annotations

import asyncio
import functools
import math
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.from_thread
import httpx2 as httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastapi_nova import NovaRouter, PubSubConfigError, pubsub
from fastapi_nova.errors import NotInConnectionError, PubSubUnavailable
from fastapi_nova.pid import Pid, _reset_current, _set_current
from fastapi_nova.pubsub import PubSubMessage
from tests.support.pubsub import (  # noqa: F401
    TIMEOUT,
    Mailbox,
    connection,
    fresh_state_fixture,
)
from tests.support.redis import RedisServer, redis_server_fixture  # noqa: F401
from tests.support.servers import Server, eventually, uvicorn_server


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def backend_url(request: pytest.FixtureRequest) -> str:
    """The pub/sub URL under test: parametrized over memory and a real Redis."""
    if request.param == "memory":
        return "memory://"
    server: RedisServer = request.getfixturevalue("redis_server")
    return server.url


@pytest.fixture
async def ps(fresh_state: None, backend_url: str) -> AsyncIterator[str]:
    """The module-level API configured for ``backend_url``, shut down after the test."""
    pubsub.configure(backend_url)
    yield backend_url
    await pubsub.shutdown()


# -- delivery ------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_member_receives_message_from_outside_a_connection(ps: str) -> None:
    pid, mailbox = connection()
    await pubsub.join("chat", member=pid)

    await pubsub.broadcast("chat", "message", "hi")

    message = await mailbox.get()
    assert isinstance(message, PubSubMessage)
    assert message == ("nova_pubsub", "chat", None, "message", "hi")
    assert message._fields == ("tag", "channel", "sender", "topic", "payload")
    match message:
        case ("nova_pubsub", "chat", sender, "message", text):
            assert sender is None and text == "hi"
        case _:
            pytest.fail(f"pattern did not match {message!r}")
    pid.exit()


@pytest.mark.anyio
async def test_sender_is_included_and_is_its_live_pid(ps: str) -> None:
    sender, sender_box = connection()
    other, other_box = connection()
    await pubsub.join("chat", member=sender)
    await pubsub.join("chat", member=other)

    token = _set_current(sender)
    try:
        await pubsub.broadcast("chat", "message", {"text": "hi"})
    finally:
        _reset_current(token)

    for box in (sender_box, other_box):
        message = await box.get()
        assert message.sender is sender  # the live local object, not a copy
        assert message.payload == {"text": "hi"}
    sender.exit()
    other.exit()


@pytest.mark.anyio
async def test_topic_is_not_a_filter(ps: str) -> None:
    pid, mailbox = connection()
    await pubsub.join("room", member=pid)
    await pubsub.broadcast("room", "joined", 1)
    await pubsub.broadcast("room", "message", 2)
    assert [(m.topic, m.payload) for m in [await mailbox.get(), await mailbox.get()]] == [
        ("joined", 1),
        ("message", 2),
    ]
    pid.exit()


@pytest.mark.anyio
async def test_non_members_and_other_channels_receive_nothing(ps: str) -> None:
    member, member_box = connection()
    _, stranger_box = connection()
    await pubsub.join("a", member=member)
    await pubsub.broadcast("b", "t", 1)
    await pubsub.broadcast("a", "t", 2)
    assert (await member_box.get()).payload == 2
    await stranger_box.assert_empty()
    await member_box.assert_empty()
    member.exit()


# -- JSON ----------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ({1, 2}, "got set"),
        (object(), "got object"),
        ({"when": b"bytes"}, "got dict"),
        (math.nan, "got float"),
    ],
)
async def test_payload_must_be_json(ps: str, payload: Any, match: str) -> None:
    pid, mailbox = connection()
    await pubsub.join("chat", member=pid)
    with pytest.raises(TypeError, match=rf"pubsub payload must be JSON-serialisable.*{match}"):
        await pubsub.broadcast("chat", "message", payload)
    with pytest.raises(TypeError, match="JSON-serialisable"):
        await pubsub.local_broadcast("chat", "message", payload)
    await mailbox.assert_empty()
    pid.exit()


@pytest.mark.anyio
async def test_payload_is_json_round_tripped_and_shared_by_members(ps: str) -> None:
    first, first_box = connection()
    second, second_box = connection()
    await pubsub.join("chat", member=first)
    await pubsub.join("chat", member=second)
    payload = {"tuple": (1, 2), 3: "int key", "nested": [{"x": None}], "text": "héllo\n"}

    await pubsub.broadcast("chat", "t", payload)

    expected = {"tuple": [1, 2], "3": "int key", "nested": [{"x": None}], "text": "héllo\n"}
    got_first = (await first_box.get()).payload
    got_second = (await second_box.get()).payload
    assert got_first == got_second == expected
    assert got_first is not payload  # a decoded copy, never the sender's object
    assert got_first is got_second  # decoded once per process (read-only, as Erlang terms)
    first.exit()
    second.exit()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("payload", "error", "match"),
    [
        ({"text": "hi \ud83d"}, ValueError, "not valid Unicode"),
        ([1, {"k": math.inf}], TypeError, "JSON-serialisable"),
    ],
)
async def test_a_payload_no_backend_can_carry_is_refused_alike_on_every_backend(
    ps: str, payload: Any, error: type[Exception], match: str
) -> None:
    pid, mailbox = connection()
    await pubsub.join("chat", member=pid)
    with pytest.raises(error, match=match):  # never PubSubUnavailable, on Redis neither
        await pubsub.broadcast("chat", "message", payload)
    with pytest.raises(error, match=match):
        await pubsub.local_broadcast("chat", "message", payload)
    await pubsub.broadcast("chat", "message", "the backend is fine")
    assert (await mailbox.get()).payload == "the backend is fine"
    await mailbox.assert_empty()
    pid.exit()


@pytest.mark.anyio
async def test_channel_and_topic_must_be_str(ps: str) -> None:
    pid, _ = connection()
    with pytest.raises(TypeError, match="pubsub channel must be a str, got int"):
        await pubsub.join(1, member=pid)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="pubsub topic must be a str, got bytes"):
        await pubsub.broadcast("chat", b"t", 1)  # type: ignore[arg-type]
    pid.exit()


BAD_NAMES = [
    ("room-\ud800", r"not valid Unicode \(a lone surrogate at index 5\)"),
    ("", "must not be empty"),
    ("r" * (pubsub.MAX_NAME_LENGTH + 1), f"the limit is {pubsub.MAX_NAME_LENGTH}"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("name", "match"), BAD_NAMES)
async def test_a_bad_name_is_refused_everywhere_before_the_backend(
    ps: str, name: str, match: str
) -> None:
    pid, mailbox = connection()
    calls: list[Callable[[], Any]] = [
        lambda: pubsub.join(name, member=pid),
        lambda: pubsub.leave(name, member=pid),
        lambda: pubsub.broadcast(name, "t", 1),
        lambda: pubsub.broadcast("chat", name, 1),
        lambda: pubsub.local_broadcast(name, "t", 1),
        lambda: pubsub.local_broadcast("chat", name, 1),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=match):
            await call()
    for sync_call in (pubsub.get_members, pubsub.get_local_members):
        with pytest.raises(ValueError, match=match):
            sync_call(name)
    # Nothing reached the backend: every other channel still works.
    await pubsub.join("chat", member=pid)
    await pubsub.broadcast("chat", "t", "fine")
    assert (await mailbox.get()).payload == "fine"
    hub = pubsub._current_hub()
    assert hub is not None and hub.subscribed_channels == ["chat"]
    pid.exit()


# -- membership ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_join_twice_is_one_membership(ps: str) -> None:
    pid, mailbox = connection()
    await pubsub.join("chat", member=pid)
    await pubsub.join("chat", member=pid)
    assert pubsub.get_local_members("chat") == [pid]
    await pubsub.broadcast("chat", "t", "once")
    assert (await mailbox.get()).payload == "once"
    await mailbox.assert_empty()
    pid.exit()


@pytest.mark.anyio
async def test_leave_returns_whether_it_was_a_member(ps: str) -> None:
    pid, mailbox = connection()
    await pubsub.join("chat", member=pid)
    assert await pubsub.leave("chat", member=pid) is True
    assert await pubsub.leave("chat", member=pid) is False
    assert await pubsub.leave("never-joined", member=pid) is False
    assert pubsub.get_local_members("chat") == []
    await pubsub.broadcast("chat", "t", 1)
    await mailbox.assert_empty()
    pid.exit()


@pytest.mark.anyio
async def test_join_and_leave_outside_a_connection_need_a_member(ps: str) -> None:
    with pytest.raises(NotInConnectionError, match=r"pubsub\.join\(\) was called outside a Web"):
        await pubsub.join("chat")
    with pytest.raises(NotInConnectionError, match=r"leave\(channel, member=pid\)"):
        await pubsub.leave("chat")


@pytest.mark.anyio
async def test_join_and_leave_default_to_the_current_connection(ps: str) -> None:
    pid, _ = connection()
    token = _set_current(pid)
    try:
        await pubsub.join("chat")
        assert pubsub.get_local_members("chat") == [pid]
        assert await pubsub.leave("chat") is True
    finally:
        _reset_current(token)
    assert pubsub.get_local_members("chat") == []
    pid.exit()


@pytest.mark.anyio
async def test_members_in_join_order_and_get_members_on_one_node(ps: str) -> None:
    pids = [connection()[0] for _ in range(3)]
    for pid in pids:
        await pubsub.join("chat", member=pid)
    assert pubsub.get_local_members("chat") == pids
    assert pubsub.get_members("chat") == pids
    assert pubsub.get_members("nobody") == []
    for pid in pids:
        pid.exit()


@pytest.mark.anyio
async def test_exit_removes_every_membership_and_the_subscription(ps: str) -> None:
    pid, mailbox = connection()
    await pubsub.join("a", member=pid)
    await pubsub.join("b", member=pid)
    hub = pubsub._current_hub()
    assert hub is not None and sorted(hub.subscribed_channels) == ["a", "b"]

    pid.exit()

    assert pubsub.get_local_members("a") == pubsub.get_local_members("b") == []
    await hub.wait_until(lambda: hub.subscribed_channels == [], TIMEOUT)


@pytest.mark.anyio
async def test_a_dead_pid_joins_nothing_and_a_remote_pid_is_refused(ps: str) -> None:
    dead, _ = connection()
    dead.exit()
    await pubsub.join("chat", member=dead)
    assert pubsub.get_local_members("chat") == []
    with pytest.raises(ValueError, match="belongs to node 'elsewhere'"):
        await pubsub.join("chat", member=Pid(node="elsewhere", id="x"))


@pytest.mark.anyio
async def test_local_broadcast_reaches_local_members_only_without_a_backend(
    fresh_state: None,
) -> None:
    pid, mailbox = connection()
    await pubsub.join("chat", member=pid)
    await pubsub.shutdown()  # no hub at all (shut down): local_broadcast must not need one
    assert pubsub._current_hub() is None

    await pubsub.local_broadcast("chat", "t", (1, "two"))

    assert await mailbox.get() == ("nova_pubsub", "chat", None, "t", [1, "two"])
    assert pubsub._current_hub() is None
    pid.exit()


@pytest.mark.anyio
@pytest.mark.redis
async def test_one_redis_subscription_per_channel(
    fresh_state: None, redis_server: RedisServer
) -> None:
    import redis.asyncio

    pubsub.configure(redis_server.url)
    pids = [connection()[0] for _ in range(3)]
    for pid in pids:
        await pubsub.join("room", member=pid)
    client = redis.asyncio.Redis.from_url(redis_server.url)
    try:
        assert await client.pubsub_numsub("nova.db0.ch.room") == [(b"nova.db0.ch.room", 1)]
        for pid in pids:
            assert await pubsub.leave("room", member=pid)
        assert await client.pubsub_numsub("nova.db0.ch.room") == [(b"nova.db0.ch.room", 0)]
    finally:
        await client.aclose()
        await pubsub.shutdown()
    for pid in pids:
        pid.exit()


# -- connecting ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_lazy_connect_without_startup(ps: str) -> None:
    assert pubsub._current_hub() is None
    pid, mailbox = connection()
    await pubsub.join("chat", member=pid)
    hub = pubsub._current_hub()
    assert hub is not None and hub.connected and hub.url == ps
    await pubsub.broadcast("chat", "t", 1)
    assert (await mailbox.get()).payload == 1
    pid.exit()


@pytest.mark.anyio
async def test_broadcast_connects_lazily_too(ps: str) -> None:
    await pubsub.broadcast("nobody", "t", 1)
    hub = pubsub._current_hub()
    assert hub is not None and hub.connected


@pytest.mark.anyio
async def test_after_shutdown_use_raises_until_the_next_startup(ps: str) -> None:
    await pubsub.startup()
    first = pubsub._current_hub()
    assert first is not None and first.connected
    await pubsub.startup()  # a second router's lifespan: the same hub
    assert pubsub._current_hub() is first

    pid, mailbox = connection()
    await pubsub.join("chat", member=pid)
    await pubsub.shutdown()  # the inner lifespan ends: the outer one still uses pub/sub
    assert pubsub._current_hub() is first and first.connected
    await pubsub.shutdown()
    assert pubsub._current_hub() is None and first.closed
    assert pubsub.get_local_members("chat") == [pid]  # membership belongs to the process

    for late_use in (
        lambda: pubsub.broadcast("chat", "t", "late"),
        lambda: pubsub.join("other", member=pid),
    ):
        with pytest.raises(PubSubUnavailable, match="pub/sub has shut down with the app's"):
            await late_use()
    assert pubsub._current_hub() is None  # it did not reconnect
    await pubsub.local_broadcast("chat", "t", "local still works")
    assert (await mailbox.get()).payload == "local still works"

    await pubsub.startup()  # the app starts again (a TestClient entered twice)
    await pubsub.broadcast("chat", "t", "again")  # resubscribed "chat"
    assert (await mailbox.get()).payload == "again"
    assert pubsub._current_hub() is not first
    pid.exit()


def test_hub_rebinds_to_a_new_event_loop(fresh_state: None) -> None:
    """Each asyncio.run is a new loop, as each TestClient portal is."""
    pid, mailbox = connection()
    asyncio.run(pubsub.join("chat", member=pid))
    first = pubsub._current_hub()
    assert first is not None

    async def second_loop() -> Any:
        await pubsub.broadcast("chat", "t", "on the new loop")
        message = await mailbox.get()
        await pubsub.shutdown()
        return message

    message = asyncio.run(second_loop())
    assert message.payload == "on the new loop"
    assert first.closed
    pid.exit()


@pytest.mark.anyio
async def test_hub_on_another_running_loop_is_closed_there(fresh_state: None) -> None:
    pid, mailbox = connection()
    with anyio.from_thread.start_blocking_portal("asyncio") as portal:
        portal.call(functools.partial(pubsub.join, "chat", member=pid))
        other = pubsub._current_hub()
        assert other is not None and other.connected

        await pubsub.broadcast("chat", "t", "here")  # on this test's loop

        assert (await mailbox.get()).payload == "here"
        assert other.closed and pubsub._current_hub() is not other
    await pubsub.shutdown()
    pid.exit()


# -- configuration -------------------------------------------------------------------------


def test_configure_rejects_an_unknown_scheme(fresh_state: None) -> None:
    with pytest.raises(ValueError, match=r"unsupported pub/sub URL 'nats://x': the scheme must"):
        pubsub.configure("nats://x")
    with pytest.raises(ValueError, match=r"namespace 'a b' in .* must be 1 to 64 characters"):
        pubsub.configure("memory://?namespace=a b")


def test_a_second_router_naming_another_backend_is_refused(fresh_state: None) -> None:
    first = NovaRouter([], pubsub="redis://user:pw@127.0.0.1:1/0")
    again = NovaRouter([], pubsub="redis://user:pw@127.0.0.1:1/0")  # the same URL is fine
    plain = NovaRouter([])  # no URL: uses the configured one
    assert first.pubsub is again.pubsub is plain.pubsub is pubsub.current()
    with pytest.raises(
        PubSubConfigError,
        match=r"already configured for 'redis://\*\*\*@127\.0\.0\.1:1/0'; refusing to "
        r"re-point it to 'redis://127\.0\.0\.1:1/1'\. Pub/sub is process-wide",
    ):
        NovaRouter([], pubsub="redis://127.0.0.1:1/1")
    with pytest.raises(ValueError):  # PubSubConfigError is a ValueError too
        pubsub.configure("memory://")
    assert pubsub.current().resolved_url() == "redis://user:pw@127.0.0.1:1/0"  # unchanged
    pubsub.configure(None)  # forgetting it (tests) makes room for another
    pubsub.configure("memory://")


@pytest.mark.anyio
async def test_url_from_environment(fresh_state: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOVA_PUBSUB_URL", "memory://")
    await pubsub.startup()
    hub = pubsub._current_hub()
    assert hub is not None and hub.url == "memory://"
    monkeypatch.setenv("NOVA_PUBSUB_URL", "nope://")
    with pytest.raises(ValueError, match="'nope://'"):
        await pubsub.broadcast("chat", "t", 1)
    await pubsub.shutdown()


def test_redis_url_without_redis_installed_names_the_extra(
    fresh_state: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi_nova.redis_backend import _RedisBackend

    for name in [m for m in sys.modules if m == "redis" or m.startswith("redis.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "redis", None)  # makes `import redis` fail
    with pytest.raises(ImportError, match=r"pip install 'fastapi-nova\[redis\]'"):
        pubsub.configure("redis://127.0.0.1:1/0")
    with pytest.raises(ImportError, match=r"pip install 'fastapi-nova\[redis\]'"):
        _RedisBackend("redis://127.0.0.1:1/0")


# -- the lifespan --------------------------------------------------------------------------


def recording_lifespan(
    seen: list[str], member: tuple[Pid, Mailbox] | None = None
) -> Callable[[Any], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        hub = pubsub._current_hub()
        seen.append(f"startup: hub {'up' if hub is not None and hub.connected else 'absent'}")
        if member is not None:
            await pubsub.join("news", member=member[0])
        yield
        try:
            await pubsub.broadcast("news", "t", "going down")
            seen.append("shutdown: broadcast sent")
        except PubSubUnavailable as exc:
            seen.append(f"shutdown: {exc}")
            return
        if member is not None:
            seen.append(f"shutdown: delivered {(await member[1].get()).payload!r}")

    return lifespan


def test_a_router_lifespan_runs_inside_pubsub(fresh_state: None) -> None:
    seen: list[str] = []
    pid, mailbox = connection()
    app = FastAPI()
    app.include_router(NovaRouter([], lifespan=recording_lifespan(seen, (pid, mailbox))))
    with TestClient(app):
        hub = pubsub._current_hub()
    assert seen == [
        "startup: hub up",
        "shutdown: broadcast sent",
        "shutdown: delivered 'going down'",  # pub/sub was still up when the user code ran
    ]
    assert hub is not None and hub.closed and pubsub._current_hub() is None
    pid.exit()
    pid.exit()


def test_an_app_lifespan_runs_outside_and_gets_a_clear_error_at_shutdown(
    fresh_state: None,
) -> None:
    # FastAPI runs the app's own lifespan around every router's: its shutdown code runs after
    # pub/sub has stopped, and a broadcast there raises instead of silently reconnecting.
    seen: list[str] = []
    app = FastAPI(lifespan=recording_lifespan(seen))
    app.include_router(NovaRouter([]))
    with TestClient(app):
        pass
    assert seen[0] == "startup: hub absent"  # it would connect lazily on first use
    assert seen[1].startswith("shutdown: pub/sub has shut down with the app's lifespan")
    assert "NovaRouter(..., lifespan=...)" in seen[1]
    assert pubsub._current_hub() is None


def test_without_the_lifespan_it_connects_on_first_use_after_an_earlier_app(
    fresh_state: None,
) -> None:
    app = FastAPI()
    app.include_router(NovaRouter([]))
    with TestClient(app):
        pass  # this app's lifespan ran and stopped pub/sub on its own loop
    pid, mailbox = connection()
    asyncio.run(pubsub.join("chat", member=pid))  # another loop, no lifespan: connects lazily

    async def send() -> Any:
        await pubsub.broadcast("chat", "t", "lazy")
        message = await mailbox.get()
        await pubsub.shutdown()
        return message

    assert asyncio.run(send()).payload == "lazy"
    pid.exit()


# -- property-based: names and payloads ------------------------------------------------------

SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
NAMES = st.one_of(
    st.text(max_size=40),
    st.text(min_size=1, max_size=10).flatmap(
        lambda text: SURROGATES.map(lambda bad: text[:3] + bad + text[3:])
    ),
    st.integers(pubsub.MAX_NAME_LENGTH - 1, pubsub.MAX_NAME_LENGTH + 2).map(lambda n: "n" * n),
)
LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),  # NaN and infinities included: refused, on every backend
    st.text(max_size=20),
    st.text(max_size=5).flatmap(lambda text: SURROGATES.map(lambda bad: text + bad)),
)
PAYLOADS = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(st.text(max_size=8), inner, max_size=4),
        st.sets(st.integers(), max_size=2),
    ),
    max_leaves=12,
)


def valid_name(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return 0 < len(name) <= pubsub.MAX_NAME_LENGTH


@pytest.mark.anyio
@settings(
    max_examples=40,
    deadline=2000,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(name=NAMES)
async def test_any_name_is_delivered_or_refused_with_a_value_error(ps: str, name: str) -> None:
    pid, mailbox = connection()
    try:
        if not valid_name(name):
            with pytest.raises(ValueError, match=r"pubsub (channel|topic) "):
                await pubsub.join(name, member=pid)
            with pytest.raises(ValueError, match=r"pubsub (channel|topic) "):
                await pubsub.broadcast("chat", name, 1)
            return
        await pubsub.join(name, member=pid)
        await pubsub.broadcast(name, name, "x")
        message = await mailbox.get()
        assert (message.channel, message.topic, message.payload) == (name, name, "x")
        assert await pubsub.leave(name, member=pid)
    finally:
        pid.exit()


async def outcome(channel: str, payload: Any, mailbox: Any) -> tuple[str, Any]:
    """What a broadcast of ``payload`` does: ("delivered", payload) or ("refused", type)."""
    try:
        await pubsub.broadcast(channel, "t", payload)
    except (TypeError, ValueError) as exc:
        return ("refused", type(exc))
    return ("delivered", (await mailbox.get()).payload)


@pytest.mark.anyio
@pytest.mark.redis
@settings(
    max_examples=40,
    deadline=3000,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(payload=PAYLOADS)
async def test_a_payload_is_delivered_or_refused_alike_on_memory_and_redis(
    fresh_state: None, redis_server: RedisServer, payload: Any
) -> None:
    pid, mailbox = connection()
    results = []
    try:
        for url in ("memory://", redis_server.url):
            pubsub.configure(None)
            pubsub.configure(url)
            await pubsub.join("fuzz", member=pid)
            results.append(await outcome("fuzz", payload, mailbox))
            await pubsub.shutdown()
    finally:
        pid.exit()
        pubsub.configure(None)
    assert results[0] == results[1], f"memory:// {results[0]} but redis:// {results[1]}"
    assert results[0][0] == "delivered" or results[0][1] in (TypeError, ValueError)


# -- two apps on one Redis, as real processes ------------------------------------------------


@pytest.mark.slow
@pytest.mark.redis
def test_two_apps_on_one_redis_with_different_databases_do_not_hear_each_other(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    from websockets.sync.client import connect as ws_connect

    def chat(server: Server) -> Any:
        return ws_connect(f"{server.ws_url}/chat", open_timeout=TIMEOUT, proxy=None)

    def members(server: Server) -> int:
        reply = httpx.get(f"{server.url}/chat/members", timeout=TIMEOUT)
        return len(reply.json()["members"])

    db0, db1 = redis_server.url, redis_server.url.removesuffix("/0") + "/1"
    for name in ("shop-a", "shop-b", "blog"):
        (tmp_path / name).mkdir()
    app = "example_app.main:app"
    with (
        uvicorn_server(app, tmp_path / "shop-a", env={"NOVA_PUBSUB_URL": db0}) as shop_a,
        uvicorn_server(app, tmp_path / "shop-b", env={"NOVA_PUBSUB_URL": db0}) as shop_b,
        uvicorn_server(app, tmp_path / "blog", env={"NOVA_PUBSUB_URL": db1}) as blog,
        chat(shop_a) as ann,
        chat(shop_b) as bob,
        chat(blog) as eve,
    ):
        # The shop's two processes see each other's members; the blog sees only its own.
        assert eventually(lambda: (members(shop_a), members(blog)), lambda v: v == (2, 1))
        ann.send("shop news")
        assert ann.recv(timeout=TIMEOUT) == "shop news"
        assert bob.recv(timeout=TIMEOUT) == "shop news"  # same app, other process: heard
        eve.send("blog news")
        # Had the shop's message reached the blog, it would have come before eve's own.
        assert eve.recv(timeout=TIMEOUT) == "blog news"
        ann.send("shop again")
        assert bob.recv(timeout=TIMEOUT) == "shop again"  # not "blog news"
        assert members(shop_b) == 2 and members(blog) == 1

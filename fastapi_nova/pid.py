"""Process identifiers: a handle to one live connection, as an Erlang pid is to a process.

A `Pid` names a connection (`node` + `id`) and, on the node that owns it, carries
the connection's inbox so that `send` can deliver to it. Pids of other nodes (seen as
pub/sub senders or members) compare equal to the local original but deliver nothing.

Monitors stand in for Erlang's `monitor/2`: whatever must be cleaned up when a connection
ends (pub/sub membership, timers) registers a callback with `Pid.monitor`, and the
connection calls `Pid.exit` exactly once when it stops, however it stops.
"""

from __future__ import annotations

import contextvars
import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from typing import Any, Protocol

logger = logging.getLogger(__name__)

#: This process's node name: unique per process, readable in logs.
NODE: str = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Inbox(Protocol):
    """What a pid delivers into: a connection's mailbox. `deliver` must not block."""

    def deliver(self, message: Any) -> None: ...


ExitCallback = Callable[["Pid"], None]

# Guards every pid's monitor list: monitor() and exit() may run on different threads.
_monitors_lock = threading.Lock()


class Pid:
    """A handle to one connection (local or on another node)."""

    __slots__ = ("node", "id", "_inbox", "_monitors", "__weakref__")

    def __init__(self, inbox: Inbox | None = None, *, node: str = NODE, id: str | None = None):
        self.node = node
        self.id = id if id is not None else uuid.uuid4().hex
        self._inbox = inbox
        self._monitors: list[ExitCallback] | None = [] if inbox is not None else None

    @property
    def is_local(self) -> bool:
        """True when the connection lives in this process."""
        return self.node == NODE

    @property
    def alive(self) -> bool:
        """True while this local connection runs (always False for remote pids)."""
        return self._inbox is not None

    def deliver(self, message: Any) -> bool:
        """Put `message` in the inbox; False when the connection is gone or remote."""
        inbox = self._inbox
        if inbox is None:
            return False
        inbox.deliver(message)
        return True

    def monitor(self, callback: ExitCallback) -> None:
        """Call `callback(pid)` once when this connection ends (at once if it already has)."""
        # Under the lock, so that an exit() on another thread cannot take the list between
        # our check and our append and leave the callback in a list nobody runs.
        with _monitors_lock:
            if self._monitors is not None:
                self._monitors.append(callback)
                return
        callback(self)

    def demonitor(self, callback: ExitCallback) -> None:
        """Remove a callback added with `monitor`; a no-op if it is not there."""
        with _monitors_lock:
            if self._monitors is not None and callback in self._monitors:
                self._monitors.remove(callback)

    def exit(self) -> None:
        """Mark the connection ended and run its monitors (idempotent)."""
        with _monitors_lock:
            monitors, self._monitors, self._inbox = self._monitors, None, None
        for callback in monitors or ():
            try:
                callback(self)
            except Exception:  # one bad monitor must not keep the others from running
                logger.exception("exit monitor %r of %r failed", callback, self)

    def to_json(self) -> dict[str, str]:
        """The wire form used by pub/sub envelopes."""
        return {"node": self.node, "id": self.id}

    @classmethod
    def from_json(cls, data: dict[str, str]) -> Pid:
        """Rebuild a pid from its wire form: the live local pid if it is ours and known."""
        if data["node"] == NODE:
            local = _registry.get(data["id"])
            if local is not None:
                return local
        return cls(node=data["node"], id=data["id"])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pid) and (self.node, self.id) == (other.node, other.id)

    def __hash__(self) -> int:
        return hash((self.node, self.id))

    def __repr__(self) -> str:
        return f"<Pid {self.node}.{self.id[:8]}>"


# Live local pids by id, so a pid that comes back over the wire is the live object again.
_registry: dict[str, Pid] = {}


def spawn(inbox: Inbox) -> Pid:
    """Create the pid of a new local connection and register it until it exits."""
    pid = Pid(inbox)
    _registry[pid.id] = pid
    pid.monitor(_unregister)
    return pid


def _unregister(pid: Pid) -> None:
    _registry.pop(pid.id, None)


def whereis(pid_id: str) -> Pid | None:
    """The live local pid with this id, if any."""
    return _registry.get(pid_id)


def send(pid: Pid, message: Any) -> None:
    """Deliver `message` to the connection's `websocket_info` (Erlang's `!`).

    Plain and non-blocking; a no-op for a connection that has ended or lives on another node.
    """
    pid.deliver(message)


_current: contextvars.ContextVar[Pid | None] = contextvars.ContextVar(
    "fastapi_nova_current_pid", default=None
)


def self_pid() -> Pid | None:
    """The pid of the connection whose callback is running now, or None outside one."""
    return _current.get()


def set_current(pid: Pid | None) -> contextvars.Token[Pid | None]:
    """Make `pid` the current connection (used by the connection loop around callbacks)."""
    return _current.set(pid)


def reset_current(token: contextvars.Token[Pid | None]) -> None:
    """Undo `set_current`."""
    _current.reset(token)

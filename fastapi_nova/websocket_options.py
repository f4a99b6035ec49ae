"""The per-route settings of a WebSocket route: the `{"protocol": "ws", ...}` options map."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from fastapi_nova.mailbox import OVERFLOW_POLICIES, OverflowPolicy
from fastapi_nova.origin import normalize_origin

__all__ = ["WebSocketOptions"]


def _check_seconds(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(
            f"{name} must be a positive number of seconds (int or float), got {value!r}"
        )


@dataclass(frozen=True)
class WebSocketOptions:
    """Per-route WebSocket settings (the `{"protocol": "ws", ...}` route options)."""

    idle_timeout: float = 60.0
    """Seconds without an incoming frame before the connection closes (code 1000,
    `terminate("timeout")`); `math.inf` disables it.
    """
    max_frame_size: int = 1024 * 1024
    """Bytes of one message after reassembly; larger closes with 1009."""
    allowed_origins: tuple[str, ...] | None = None
    """Browser origins allowed to connect (a list or tuple of `scheme://host[:port]`, stored
    normalized): None = the request's own host only, `"*"` = any. Non-browser clients
    send no Origin and are always allowed.
    """
    mailbox_size: int = 1024
    """Messages that may wait in the mailbox."""
    on_overflow: OverflowPolicy = "close"
    """What a full mailbox does with one more message."""
    send_timeout: float = 30.0
    """Seconds one send to the client may make no progress (the client stopped reading and
    the server's buffers are full) before the connection is dropped:
    `terminate(("error", SendTimeoutError))`; `math.inf` disables it.
    """
    heartbeat: str | None = None
    """A text frame exactly equal to this is answered with the same frame by the runtime,
    never reaches `websocket_handle`, and counts as activity for `idle_timeout`
    (browsers cannot send pings; the shipped browser client sends this). None: off.
    """

    def __post_init__(self) -> None:
        _check_seconds("idle_timeout", self.idle_timeout)
        _check_seconds("send_timeout", self.send_timeout)
        for name in ("max_frame_size", "mailbox_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        beat = self.heartbeat
        if beat is not None and (not isinstance(beat, str) or not beat):
            raise ValueError(f"heartbeat must be None or a non-empty str, got {beat!r}")
        if self.on_overflow not in OVERFLOW_POLICIES:
            expected = ", ".join(repr(p) for p in OVERFLOW_POLICIES)
            raise ValueError(
                f"on_overflow must be one of {expected} (str), got {self.on_overflow!r}"
            )
        origins = self.allowed_origins
        if origins is None:
            return
        if not isinstance(origins, tuple | list) or not all(isinstance(o, str) for o in origins):
            raise ValueError(
                f"allowed_origins must be a list of str origins like 'https://example.com' "
                f"or '*', got {origins!r}"
            )
        normalized = []
        for origin in origins:
            norm = origin if origin == "*" else normalize_origin(origin, strict=True)
            if norm is None:
                raise ValueError(
                    f"allowed_origins entries must be 'scheme://host[:port]' or '*' (str), "
                    f"got {origin!r}"
                )
            normalized.append(norm)
        object.__setattr__(self, "allowed_origins", tuple(normalized))

    @classmethod
    def from_route_options(cls, options: Mapping[str, Any]) -> WebSocketOptions:
        """Build and validate from a route's options map; `ValueError` names the bad option."""
        known = [f.name for f in fields(cls)]
        unknown = sorted(str(key) for key in options if key not in known and key != "protocol")
        if unknown:
            raise ValueError(
                f"unknown WebSocket route option(s) {', '.join(map(repr, unknown))}: "
                f"expected 'protocol', {', '.join(map(repr, known))}"
            )
        # A route table writes allowed_origins as a list; __post_init__ stores a tuple.
        return cls(**{key: options[key] for key in known if key in options})

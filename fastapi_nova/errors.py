"""The exception tree of fastapi-nova: one base class, one subclass per kind of fault."""

from __future__ import annotations

import reprlib
from typing import Any

_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = 120


class NovaError(Exception):
    """Base class of every error fastapi-nova raises on purpose."""


class RouteConfigError(NovaError, ValueError):
    """A route table is malformed; raised when the router is built, naming group and route."""


class HandlerExistsError(NovaError, KeyError):
    """A handler name is already registered (pass ``replace=True`` to override it)."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class TemplateNotFoundError(NovaError, LookupError):
    """A controller asked for a template that no template directory holds."""


class PubSubError(NovaError):
    """Base class of pub/sub faults."""


class PubSubUnavailable(PubSubError, ConnectionError):
    """The backend is unreachable: the message was not confirmed (after a timeout it may arrive)."""


class NotInConnectionError(PubSubError, RuntimeError):
    """``join``/``leave`` was called outside a WebSocket connection without ``member=``."""


class PubSubConfigError(PubSubError, ValueError):
    """A second pub/sub configuration conflicts with the process's (e.g. another backend URL)."""


class InvalidCallbackReturn(NovaError, TypeError):
    """A WebSocket callback returned something that is not one of the documented forms."""

    def __init__(self, handler: str, callback: str, value: Any, problem: str) -> None:
        self.handler, self.callback, self.value = handler, callback, value
        super().__init__(f"{handler}.{callback} returned {_repr.repr(value)}: {problem}")


class FrameTooLargeError(NovaError, ValueError):
    """A client sent a message larger than the route's ``max_frame_size``."""

    def __init__(self, size: int, limit: int) -> None:
        self.size, self.limit = size, limit
        super().__init__(f"received a {size}-byte message; max_frame_size is {limit} bytes")


class SendTimeoutError(NovaError, TimeoutError):
    """A send to a WebSocket client made no progress for the route's ``send_timeout``."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        super().__init__(
            f"a send to the client made no progress for {timeout:g} s (send_timeout): "
            "the client stopped reading"
        )

"""The exception tree of fastapi-nova: one base class, one subclass per kind of fault.

Every exception the library raises, or raises and catches for its own control flow, is
defined here and is a `NovaError`, so `except NovaError` catches all of them. Modules
that raise one also re-export it where users met it first
(`fastapi_nova.testing.WebSocketRefused`, `fastapi_nova.cli.CliError`).
"""

from __future__ import annotations

import reprlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only for the annotation: importing Starlette here is not needed at run time
    from starlette.responses import Response

_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = 120


class NovaError(Exception):
    """Base class of every error fastapi-nova raises on purpose."""


class RouteConfigError(NovaError, ValueError):
    """A route table is malformed; raised when the router is built, naming group and route."""


class HandlerExistsError(NovaError, KeyError):
    """A handler name is already registered (pass `replace=True` to override it)."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ""


class TemplateNotFoundError(NovaError, LookupError):
    """A controller asked for a template that no template directory holds."""


class InvalidReturn(NovaError):
    """A controller's value has no handler, or the wrong shape for its handler."""


class HandlerError(NovaError):
    """A handler failed to build a response (a bug in the handler, not in the controller)."""


class BodyError(NovaError, ValueError):
    """The request body could not be parsed (answered with 400 before the controller runs).

    A Nova-style controller never sees it: `NovaRequest.body_error` holds it while the
    router answers 400 with `{"detail": ...}`.
    """


class SecurityDenied(NovaError):
    """Raised by the security dependency to answer with `response` instead of the route.

    Control flow only: the router catches it and sends `response`; users never see it.
    """

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


class PubSubError(NovaError):
    """Base class of pub/sub faults."""


class PubSubUnavailable(PubSubError, ConnectionError):
    """The backend is unreachable: the message was not confirmed (after a timeout it may arrive)."""


class NotInConnectionError(PubSubError, RuntimeError):
    """`join`/`leave` was called outside a WebSocket connection without `member=`."""


class PubSubConfigError(PubSubError, ValueError):
    """A second pub/sub configuration conflicts with the process's (e.g. another backend URL)."""


class CliError(NovaError):
    """A one-line error for the user of `python -m fastapi_nova` (exit code 2)."""


class WebSocketRefused(NovaError):
    """The app refused the upgrade: `status`, `headers` and `body` of its denial.

    Raised by `fastapi_nova.testing.connect`. A close before accept (a server without the
    denial-response extension) counts as 403, as an ASGI server answers it.
    """

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        super().__init__(f"WebSocket upgrade refused with HTTP {status}")
        self.status, self.headers, self.body = status, headers, body


class InvalidCallbackReturn(NovaError, TypeError):
    """A WebSocket callback returned something that is not one of the documented forms."""

    def __init__(self, handler: str, callback: str, value: Any, problem: str) -> None:
        self.handler, self.callback, self.value = handler, callback, value
        super().__init__(f"{handler}.{callback} returned {_repr.repr(value)}: {problem}")


class FrameTooLargeError(NovaError, ValueError):
    """A client sent a message larger than the route's `max_frame_size`."""

    def __init__(self, size: int, limit: int) -> None:
        self.size, self.limit = size, limit
        super().__init__(f"received a {size}-byte message; max_frame_size is {limit} bytes")


class SendTimeoutError(NovaError, TimeoutError):
    """A send to a WebSocket client made no progress for the route's `send_timeout`."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        super().__init__(
            f"a send to the client made no progress for {timeout:g} s (send_timeout): "
            "the client stopped reading"
        )

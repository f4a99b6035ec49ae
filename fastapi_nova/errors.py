"""The exception tree of fastapi-nova: one base class, one subclass per kind of fault.

Every exception the library raises, or raises and catches for its own control flow, is
defined here and is a `NovaError`, so `except NovaError` catches all of them. Modules
that raise one also re-export it where users met it first
(`fastapi_nova.testing.WebSocketRefused`, `fastapi_nova.cli.CliError`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for the annotation: importing Starlette here is not needed at run time
    from starlette.responses import Response


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

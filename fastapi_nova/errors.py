"""The exception tree of fastapi-nova: one base class, one subclass per kind of fault."""

from __future__ import annotations


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

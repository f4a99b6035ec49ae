"""fastapi-nova: the programming model of Nova (the Erlang web framework) on FastAPI."""

from __future__ import annotations

from fastapi_nova.errors import (
    HandlerExistsError,
    NotInConnectionError,
    NovaError,
    PubSubError,
    PubSubUnavailable,
    RouteConfigError,
    TemplateNotFoundError,
)
from fastapi_nova.pid import Pid, send

__version__ = "0.1.0"

__all__ = [
    "HandlerExistsError",
    "NotInConnectionError",
    "NovaError",
    "Pid",
    "PubSubError",
    "PubSubUnavailable",
    "RouteConfigError",
    "TemplateNotFoundError",
    "send",
]

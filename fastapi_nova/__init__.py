"""fastapi-nova: the programming model of Nova (the Erlang web framework) on FastAPI.

```python
from fastapi import FastAPI
from fastapi_nova import NovaRouter

app = FastAPI()
app.include_router(NovaRouter(routes))
```
"""

from __future__ import annotations

from fastapi_nova import pubsub
from fastapi_nova.asyncapi import get_asyncapi
from fastapi_nova.browser_client import browser_client_path
from fastapi_nova.controllers import controller
from fastapi_nova.errors import (
    BodyError,
    HandlerExistsError,
    NotInConnectionError,
    NovaError,
    PubSubConfigError,
    PubSubError,
    PubSubUnavailable,
    RouteConfigError,
    SendTimeoutError,
    TemplateNotFoundError,
)
from fastapi_nova.groups import RouteGroup
from fastapi_nova.handlers import (
    HandlerRegistry,
    default_registry,
    register_handler,
    unregister_handler,
)
from fastapi_nova.pid import Pid, send
from fastapi_nova.pubsub import PubSubMessage
from fastapi_nova.request import NovaRequest
from fastapi_nova.routing import NovaRouter
from fastapi_nova.security import AuthData, security_scheme
from fastapi_nova.types import (
    CallbackReturn,
    Controller,
    ControllerReturn,
    HandlerFunction,
    RouteGroupDict,
    Routes,
    SecurityFunction,
)
from fastapi_nova.websocket import (
    FrameTooLargeError,
    InvalidCallbackReturn,
    NovaWebSocket,
    TimerRef,
    WebSocketOptions,
)

__version__ = "0.1.0"

__all__ = [
    "AuthData",
    "BodyError",
    "CallbackReturn",
    "Controller",
    "ControllerReturn",
    "FrameTooLargeError",
    "HandlerExistsError",
    "HandlerFunction",
    "HandlerRegistry",
    "InvalidCallbackReturn",
    "NotInConnectionError",
    "NovaError",
    "NovaRequest",
    "NovaRouter",
    "NovaWebSocket",
    "Pid",
    "PubSubConfigError",
    "PubSubError",
    "PubSubMessage",
    "PubSubUnavailable",
    "RouteConfigError",
    "RouteGroup",
    "RouteGroupDict",
    "Routes",
    "SecurityFunction",
    "SendTimeoutError",
    "TemplateNotFoundError",
    "TimerRef",
    "WebSocketOptions",
    "browser_client_path",
    "controller",
    "default_registry",
    "get_asyncapi",
    "pubsub",
    "register_handler",
    "security_scheme",
    "send",
    "unregister_handler",
]

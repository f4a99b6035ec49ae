"""The type aliases of fastapi-nova's public API, in one place (as Starlette's `types.py`).

Annotate a route table with them and `mypy --strict` catches a misspelled group key:

```python
from fastapi_nova.types import RouteGroupDict

def routes(environment: str) -> list[RouteGroupDict]:
    return [{"prefix": "/api", "secuirty": auth.check, "routes": [...]}]
    #                            ^ error: Extra key "secuirty" for TypedDict "RouteGroupDict"
```

These are static descriptions only: every value is still validated when the router is built
(a [`RouteConfigError`][fastapi_nova.RouteConfigError] naming the group and route).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal, Required, TypeAlias, TypedDict

from starlette.responses import Response

from fastapi_nova.groups import RouteGroup
from fastapi_nova.handlers import HandlerFunction
from fastapi_nova.websocket import CallbackReturn

SecurityFunction: TypeAlias = Callable[..., Any]
"""A group's `security`: a Nova-style `fn(req)` or a FastAPI-style function with any
annotated signature, sync or async; what it returns (`True`, `(True, auth_data)`, `False`,
`(False, ...)`, `("redirect", url)`) is read as the docs' Security page says, under
"What each return value does".
"""

#: One route of a group: `(path, controller)`, `(path, controller, options)`,
#: `(path, HandlerClass, {"protocol": "ws"})`, `(status_code, controller, options)` or
#: `(url_path, directory_or_file[, options])`.
RouteEntry: TypeAlias = tuple[str | int, Any] | tuple[str | int, Any, Mapping[str, Any]]


class RouteGroupDict(TypedDict, total=False):
    """The dict form of a route group (Nova's map); only `routes` is required."""

    prefix: str
    security: SecurityFunction | Literal[False]
    routes: Required[Sequence[RouteEntry]]
    tags: Sequence[str]
    plugins: Sequence[Any]
    dependencies: Sequence[Any]


#: A group in either form.
Group: TypeAlias = RouteGroupDict | RouteGroup

Routes: TypeAlias = Sequence[Group] | Callable[[str], Sequence[Group]]
"""What `NovaRouter` takes: a list of groups, or `routes(environment)` returning one."""

_Headers: TypeAlias = Mapping[str, str]

ControllerReturn: TypeAlias = (
    tuple[Literal["json"], Any]
    | tuple[Literal["json"], int, _Headers, Any]
    | tuple[Literal["ok", "view"], Mapping[str, Any]]
    | tuple[Literal["ok", "view"], Mapping[str, Any], Mapping[str, Any]]
    | tuple[Literal["status"], int]
    | tuple[Literal["status"], int, _Headers]
    | tuple[Literal["status"], int, _Headers, Any]
    | tuple[Literal["redirect"], str]
    | tuple[Literal["sendfile"], int, _Headers, tuple[int, int, str], str]
    | tuple[str, Any]
    | tuple[str, int, _Headers, Any]
    | Response
)
"""A controller's return value: a tuple for a built-in handler (the docs' Controllers page,
"Return values"), a custom handler's `(name, payload)` / `(name, status, headers,
payload)`, or a `Response` sent as is. The built-in shapes are spelled out for readers;
the custom-handler shapes make any tag type-check, since handlers are registered at run
time.
"""

Controller: TypeAlias = Callable[..., "ControllerReturn | Awaitable[ControllerReturn]"]
"""A controller: Nova-style `fn(req)` or a FastAPI-style signature, sync or async."""

__all__ = [
    "CallbackReturn",
    "Controller",
    "ControllerReturn",
    "Group",
    "HandlerFunction",
    "RouteEntry",
    "RouteGroupDict",
    "Routes",
    "SecurityFunction",
]

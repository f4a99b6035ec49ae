"""The type aliases of fastapi-nova's public API, in one place (as Starlette's ``types.py``).

Annotate a route table with them and ``mypy --strict`` catches a misspelled group key:

```python
from fastapi_nova.types import RouteGroupDict

def routes(environment: str) -> list[RouteGroupDict]:
    return [{"prefix": "/api", "secuirty": auth.check, "routes": [...]}]
    #                            ^ error: Extra key "secuirty" for TypedDict "RouteGroupDict"
```

These are static descriptions only: every value is still validated when the router is built
(a :class:`~fastapi_nova.RouteConfigError` naming the group and route).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal, Required, TypeAlias, TypedDict

from starlette.responses import Response

from fastapi_nova.groups import RouteGroup
from fastapi_nova.handlers import HandlerFunction
from fastapi_nova.websocket import CallbackReturn

#: A group's ``security``: a Nova-style ``fn(req)`` or a FastAPI-style function with any
#: annotated signature, sync or async; what it returns is read by DESIGN's security table
#: (``True``, ``(True, auth_data)``, ``False``, ``(False, ...)``, ``("redirect", url)``).
SecurityFunction: TypeAlias = Callable[..., Any]

#: One route of a group: ``(path, controller)``, ``(path, controller, options)``,
#: ``(path, HandlerClass, {"protocol": "ws"})``, ``(status_code, controller, options)`` or
#: ``(url_path, directory_or_file[, options])``.
RouteEntry: TypeAlias = tuple[str | int, Any] | tuple[str | int, Any, Mapping[str, Any]]


class RouteGroupDict(TypedDict, total=False):
    """The dict form of a route group (Nova's map); only ``routes`` is required."""

    prefix: str
    security: SecurityFunction | Literal[False]
    routes: Required[Sequence[RouteEntry]]
    tags: Sequence[str]
    plugins: Sequence[Any]
    dependencies: Sequence[Any]


#: A group in either form.
Group: TypeAlias = RouteGroupDict | RouteGroup

#: What ``NovaRouter`` takes: a list of groups, or ``routes(environment)`` returning one.
Routes: TypeAlias = Sequence[Group] | Callable[[str], Sequence[Group]]

_Headers: TypeAlias = Mapping[str, str]

#: A controller's return value: a tuple for a built-in handler (DESIGN section 3), a custom
#: handler's ``(name, payload)`` / ``(name, status, headers, payload)``, or a ``Response``
#: sent as is. The built-in shapes are spelled out for readers; the custom-handler shapes
#: make any tag type-check, since handlers are registered at run time.
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

#: A controller: Nova-style ``fn(req)`` or a FastAPI-style signature, sync or async.
Controller: TypeAlias = Callable[..., "ControllerReturn | Awaitable[ControllerReturn]"]

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

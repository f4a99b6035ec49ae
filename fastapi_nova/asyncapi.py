"""An AsyncAPI 3.0 document of an app's Nova WebSocket routes (OpenAPI has no place for them).

```python
@app.get("/asyncapi.json", include_in_schema=False)
def asyncapi() -> dict[str, Any]:
    return get_asyncapi(app)
```

One channel per WebSocket route of every included `NovaRouter`: its `address` is the
path as FastAPI serves it (`/rooms/{room}`, the `include_router` prefix included), its
`parameters` are the path's bindings, its description is the handler class's docstring.
Each channel has two operations, as a socket carries both ways: `receive` (the frames the
handler's `websocket_handle` gets) and `send` (the frames it replies and pushes). The
group's security appears on both: the FastAPI schemes the route depends on (a FastAPI-style
function's own, or the one a Nova-style function declared with `security_scheme`) as
AsyncAPI security schemes, and the security function's name as `x-nova-security` (a
Nova-style function that declares no scheme has no standard description). HTTP routes are
left to OpenAPI.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from fastapi import FastAPI
from fastapi.routing import RouteContext, iter_route_contexts
from fastapi.security.base import SecurityBase
from starlette.routing import WebSocketRoute

from fastapi_nova._route_info import nova_info
from fastapi_nova.request import _callable_name

#: The AsyncAPI version of the document.
_ASYNCAPI_VERSION = "3.0.0"

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::[a-z]+)?\}")

#: The two kinds of WebSocket frame a handler sees, as AsyncAPI messages.
_MESSAGES: dict[str, dict[str, Any]] = {
    "text": {
        "name": "text",
        "title": "Text frame",
        "contentType": "text/plain",
        "payload": {"type": "string"},
    },
    "binary": {
        "name": "binary",
        "title": "Binary frame",
        "contentType": "application/octet-stream",
        "payload": {"type": "string", "format": "binary"},
    },
}


def get_asyncapi(
    app: FastAPI, *, title: str | None = None, version: str | None = None
) -> dict[str, Any]:
    """An AsyncAPI 3.0 document (a dict, ready for JSON) of `app`'s Nova WebSocket routes.

    `title` and `version` default to the app's own (`FastAPI(title=..., version=...)`).
    """
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    schemes: dict[str, Any] = {}
    for context in iter_route_contexts(app.routes):
        info = _nova_websocket_info(context)
        if info is None:
            continue
        path = context.path or info.path
        channel_id = _unique(_channel_id(path), channels)
        channel_schemes = _route_schemes(context)
        schemes.update(channel_schemes)
        channels[channel_id] = _channel(path, info)
        security = [{"$ref": f"#/components/securitySchemes/{name}"} for name in channel_schemes]
        for action, verb in (("receive", "handled by"), ("send", "sent by")):
            operation: dict[str, Any] = {
                "action": action,
                "channel": {"$ref": f"#/channels/{channel_id}"},
                "summary": f"Frames {verb} {info.target.__name__}",
                "messages": [
                    {"$ref": f"#/channels/{channel_id}/messages/{name}"} for name in _MESSAGES
                ],
            }
            if security:
                operation["security"] = security
            if info.security is not None:
                operation["x-nova-security"] = _callable_name(info.security)
            operations[f"{channel_id}_{action}"] = operation
    document: dict[str, Any] = {
        "asyncapi": _ASYNCAPI_VERSION,
        "info": {"title": title or app.title, "version": version or app.version},
        "channels": channels,
        "operations": operations,
    }
    if app.description:
        document["info"]["description"] = app.description
    if schemes:
        document["components"] = {"securitySchemes": schemes}
    return document


def _nova_websocket_info(context: RouteContext) -> Any:
    """The `NovaRouteInfo` of a Nova WebSocket route, else None.

    Read as the `routes` CLI reads it (the info NovaRouter attaches to the endpoint).
    """
    if not isinstance(context.original_route, WebSocketRoute):
        return None
    info = nova_info(context)
    return info if info is not None and info.kind == "ws" else None


def _channel(path: str, info: Any) -> dict[str, Any]:
    channel: dict[str, Any] = {
        "address": path,
        "title": info.target.__name__,
        "messages": {name: dict(message) for name, message in _MESSAGES.items()},
    }
    doc = inspect.getdoc(info.target)
    if doc and info.target.__doc__ is not None:  # its own docstring, not NovaWebSocket's
        channel["description"] = doc
    names = _PARAM.findall(path)
    if names:
        channel["parameters"] = {
            name: {"description": f"The path binding {name!r} (Nova's ':{name}')."}
            for name in names
        }
    return channel


def _route_schemes(context: RouteContext) -> dict[str, Any]:
    """The FastAPI security schemes the route depends on, as AsyncAPI security schemes."""
    found: dict[str, Any] = {}
    stack = list(getattr(getattr(context, "dependant", None), "dependencies", None) or [])
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, SecurityBase):
            converted = _scheme(dep.call)
            if converted is not None:
                found[dep.call.scheme_name] = converted
        stack.extend(dep.dependencies)
    return dict(sorted(found.items()))


def _scheme(scheme: SecurityBase) -> dict[str, Any] | None:
    """An OpenAPI security scheme (FastAPI's `scheme.model`) in AsyncAPI 3.0's terms."""
    model = scheme.model.model_dump(mode="json", by_alias=True, exclude_none=True)
    kind = model.get("type")
    out: dict[str, Any]
    if kind == "apiKey":
        out = {"type": "httpApiKey", "name": model["name"], "in": model["in"]}
    elif kind == "http":
        out = {"type": "http", "scheme": model.get("scheme", "bearer")}
        if "bearerFormat" in model:
            out["bearerFormat"] = model["bearerFormat"]
    elif kind == "openIdConnect":
        out = {"type": "openIdConnect", "openIdConnectUrl": model["openIdConnectUrl"]}
    elif kind == "oauth2":
        out = {"type": "oauth2", "flows": _oauth_flows(model.get("flows", {}))}
    else:  # pragma: no cover - FastAPI has no other scheme type
        return None
    if "description" in model:
        out["description"] = model["description"]
    return out


def _oauth_flows(flows: dict[str, Any]) -> dict[str, Any]:
    # AsyncAPI 3.0 renamed OpenAPI's `scopes` to `availableScopes`. URLs are copied as
    # given: AsyncAPI wants them absolute, which a relative `tokenUrl="/token"` is not.
    out: dict[str, Any] = {}
    for name, flow in flows.items():
        converted = {k: v for k, v in flow.items() if k != "scopes"}
        converted["availableScopes"] = dict(flow.get("scopes", {}))
        out[name] = converted
    return out


def _channel_id(path: str) -> str:
    """A channel id from the path: `/rooms/{room}` -> `rooms_room`."""
    return re.sub(r"[^A-Za-z0-9]+", "_", path).strip("_") or "root"


def _unique(name: str, taken: dict[str, Any]) -> str:
    unique, n = name, 1
    while unique in taken:
        n += 1
        unique = f"{name}_{n}"
    return unique

"""Route groups: Nova's router maps, validated into route specs before any route is built.

Every fault is a [`RouteConfigError`][fastapi_nova.RouteConfigError] raised when the router is
built, naming the group (index and prefix) and the route, and saying what was expected.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fastapi import params

from fastapi_nova._fastapi_compat import apiroute_option_names
from fastapi_nova.controllers import _is_streaming
from fastapi_nova.errors import RouteConfigError
from fastapi_nova.openapi import _returns_error
from fastapi_nova.request import _WILDCARD_PARAM, _is_nova_style
from fastapi_nova.static import _STATIC_METHODS, _STATIC_OPTIONS
from fastapi_nova.websocket_handler import NovaWebSocket

#: Every method a route without `methods` answers (Nova's `'_'`). TRACE and CONNECT are
#: left out on purpose: nothing a controller should answer by accident.
_ALL_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
#: Of those, the ones shown in OpenAPI for a route without `methods` (as
#: `rebar3 nova openapi` expands `'_'`); HEAD and OPTIONS are served but not documented.
_DOCUMENTED_DEFAULT_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_KNOWN_METHODS = frozenset({*_ALL_METHODS, "TRACE"})
_METHOD_ORDER = {m: i for i, m in enumerate((*_ALL_METHODS, "TRACE"))}


def _method_key(method: str) -> int:
    """Sort key for HTTP methods in the order people read them (`Allow`, the CLI); others last."""
    return _METHOD_ORDER.get(method, 99)


_GROUP_KEYS = ("prefix", "security", "routes", "tags", "plugins", "dependencies")

# Route options that are ours; every other accepted key goes to FastAPI's APIRoute.
_OWN_OPTIONS = frozenset({"methods", "protocol", "returns"})
_NOT_PASSED = frozenset({"self", "path", "endpoint", "methods", "dependency_overrides_provider"})
_FASTAPI_OPTIONS = apiroute_option_names() - _NOT_PASSED

#: Bindings may not start with this: the generated endpoints name their own parameters so.
_RESERVED_BINDING_PREFIX = "_nova_"
_BINDING = re.compile(r"^:([A-Za-z_][A-Za-z0-9_]*)$")
_FASTAPI_PARAM = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)(:[a-z]+)?\}$")
_WILDCARD = "[...]"


@dataclass(frozen=True, kw_only=True)
class RouteGroup:
    """A typed route group, the same as Nova's map (and validated the same way).

    ```python
    RouteGroup(prefix="/api", security=auth.check, routes=[
        ("/users/:id", api_controller.show, {"methods": ["get"]}),
    ])
    ```
    """

    routes: Sequence[Any]
    prefix: str = ""
    security: Callable[..., Any] | Literal[False] = False
    tags: Sequence[str] = ()
    plugins: Sequence[Any] = ()
    dependencies: Sequence[Any] = ()


@dataclass(frozen=True)
class _GroupInfo:
    """A validated group: what its routes share."""

    index: int
    prefix: str
    security: Callable[..., Any] | None
    tags: tuple[str, ...]
    plugins: tuple[params.Depends, ...]
    dependencies: tuple[params.Depends, ...]

    @property
    def label(self) -> str:
        """`group N (prefix P)`, as every RouteConfigError and the CLI name a group."""
        return _Where(self.index, self.prefix).text

    def route_error(self, route: Any, message: str) -> RouteConfigError:
        """A RouteConfigError naming this group and `route`."""
        return _Where(self.index, self.prefix, route).error(message)


@dataclass(frozen=True)
class _HttpRouteSpec:
    """An HTTP route: `(path, controller[, options])`."""

    group: _GroupInfo
    nova_path: str
    path: str
    path_params: tuple[str, ...]
    wildcard: bool
    controller: Callable[..., Any]
    methods: tuple[str, ...]
    methods_given: bool
    fastapi_options: dict[str, Any] = field(default_factory=dict)
    #: The `returns` option: what the controller returns, for OpenAPI (fastapi_nova.openapi).
    returns: Any = None


@dataclass(frozen=True)
class _WebSocketRouteSpec:
    """A WebSocket route: `(path, HandlerClass, {"protocol": "ws", ...})`."""

    group: _GroupInfo
    nova_path: str
    path: str
    handler: type[Any]
    options: dict[str, Any]


@dataclass(frozen=True)
class _StatusPageSpec:
    """A status page: `(code, controller[, options])`."""

    group: _GroupInfo
    code: int
    controller: Callable[..., Any]


@dataclass(frozen=True)
class _StaticRouteSpec:
    """Static content: `(url_path, directory_or_file[, options])`."""

    group: _GroupInfo
    nova_path: str
    path: str
    local: Path
    options: dict[str, Any]

    @property
    def paths(self) -> tuple[str, ...]:
        """The paths served: the path itself and, for a directory, everything under it."""
        if self.local.is_dir():
            return (self.path, self.path.rstrip("/") + "/{" + _WILDCARD_PARAM + ":path}")
        return (self.path,)


_RouteSpec = _HttpRouteSpec | _WebSocketRouteSpec | _StatusPageSpec | _StaticRouteSpec


class _Where:
    """Builds error messages that name the group and route."""

    def __init__(self, index: int, prefix: Any, route: Any = None) -> None:
        self.text = f"group {index} (prefix {prefix!r})"
        if route is not None:
            self.text += f", route {route!r}"

    def error(self, message: str) -> RouteConfigError:
        return RouteConfigError(f"{self.text}: {message}")


def _convert_path(nova_path: str, where: _Where) -> tuple[str, tuple[str, ...], bool]:
    """Nova path syntax to FastAPI's: `:id` -> `{id}`, a trailing `[...]` -> the rest.

    Doubled and trailing slashes are ignored, as in Nova. Returns the FastAPI path, the
    binding names and whether the path ends in a wildcard.
    """
    segments = [s for s in nova_path.split("/") if s]
    out: list[str] = []
    names: list[str] = []
    wildcard = False
    for i, segment in enumerate(segments):
        if segment == _WILDCARD:
            if i != len(segments) - 1:
                raise where.error("a [...] wildcard is only allowed as the last segment")
            out.append("{" + _WILDCARD_PARAM + ":path}")
            wildcard = True
            continue
        nova_binding = _BINDING.match(segment)
        fastapi_param = _FASTAPI_PARAM.match(segment)
        if nova_binding or fastapi_param:
            name = (nova_binding or fastapi_param).group(1)  # type: ignore[union-attr]
            if name in names or name == _WILDCARD_PARAM:
                raise where.error(f"binding {name!r} appears twice (or is reserved)")
            if name.startswith(_RESERVED_BINDING_PREFIX):  # the endpoints' own parameters
                raise where.error(
                    f"binding {name!r} is reserved: names starting with "
                    f"{_RESERVED_BINDING_PREFIX!r} are fastapi-nova's"
                )
            names.append(name)
            # FastAPI's own {name:convertor} syntax is accepted and kept as written.
            out.append(segment if fastapi_param else "{" + name + "}")
            continue
        if segment.startswith(":") or "{" in segment or "}" in segment or "[" in segment:
            raise where.error(
                f"bad path segment {segment!r}: a binding is ':name' with name a Python "
                "identifier, a wildcard is a last segment '[...]'"
            )
        out.append(segment)
    return "/" + "/".join(out), tuple(names), wildcard


def _join(prefix: str, path: str) -> str:
    return "/" + "/".join(s for s in f"{prefix}/{path}".split("/") if s)


def _depends_list(value: Any, key: str, where: _Where) -> tuple[params.Depends, ...]:
    if not isinstance(value, list | tuple):
        raise where.error(f"{key} must be a list of dependencies, got {value!r}")
    out: list[params.Depends] = []
    for item in value:
        if isinstance(item, params.Depends):
            out.append(item)
        elif callable(item):
            out.append(params.Depends(item))
        else:
            raise where.error(f"{key} must hold callables or Depends(...), got {item!r}")
    return tuple(out)


def _validate_group(index: int, raw: Any) -> tuple[_GroupInfo, Sequence[Any]]:
    if isinstance(raw, RouteGroup):
        data: dict[str, Any] = {k: getattr(raw, k) for k in _GROUP_KEYS}
    elif isinstance(raw, Mapping):
        data = dict(raw)
    else:
        raise RouteConfigError(f"group {index}: expected a dict or RouteGroup, got {raw!r}")
    prefix = data.get("prefix", "")
    where = _Where(index, prefix)
    unknown = sorted(set(map(str, data)) - set(_GROUP_KEYS))
    if unknown:
        raise where.error(f"unknown key {unknown[0]!r}; a group takes {', '.join(_GROUP_KEYS)}")
    if not isinstance(prefix, str):
        raise where.error(f"prefix must be a str, got {prefix!r}")
    if prefix and not prefix.startswith("/"):
        raise where.error("prefix must be empty or start with '/'")
    if "routes" not in data:
        raise where.error("routes is required (a list of route tuples)")
    routes = data["routes"]
    if not isinstance(routes, list | tuple):
        raise where.error(f"routes must be a list of route tuples, got {routes!r}")
    security = data.get("security", False)
    if security is not False and (security is True or not callable(security)):
        raise where.error(f"security must be False or a callable, got {security!r}")
    tags = data.get("tags", ())
    if not isinstance(tags, list | tuple) or not all(isinstance(t, str) for t in tags):
        raise where.error(f"tags must be a list of str, got {tags!r}")
    info = _GroupInfo(
        index=index,
        prefix=prefix,
        security=security or None,
        tags=tuple(tags),
        plugins=_depends_list(data.get("plugins", ()), "plugins", where),
        dependencies=_depends_list(data.get("dependencies", ()), "dependencies", where),
    )
    return info, routes


def _methods(options: Mapping[str, Any], where: _Where) -> tuple[tuple[str, ...], bool]:
    if "methods" not in options:
        return _ALL_METHODS, False
    methods = options["methods"]
    if not isinstance(methods, list | tuple) or not all(isinstance(m, str) for m in methods):
        raise where.error(f"methods must be a list of HTTP method names, got {methods!r}")
    if not methods:
        raise where.error("methods must not be empty (leave it out to answer every method)")
    out: list[str] = []
    for method in methods:
        if method.upper() not in _KNOWN_METHODS:
            raise where.error(
                f"unknown HTTP method {method!r}; expected one of "
                f"{', '.join(m.lower() for m in sorted(_KNOWN_METHODS))}"
            )
        if method.upper() not in out:
            out.append(method.upper())
    return tuple(out), True


_OPTION_TYPES: dict[str, tuple[type, ...]] = {
    "summary": (str,),
    "description": (str,),
    "name": (str,),
    "operation_id": (str,),
    "response_description": (str,),
    "status_code": (int,),
    "deprecated": (bool,),
    "include_in_schema": (bool,),
    "tags": (list, tuple),
    "responses": (dict,),
    "dependencies": (list, tuple),
}


def _fastapi_options(options: Mapping[str, Any], where: _Where) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in options.items():
        if key in _OWN_OPTIONS:
            continue
        if key not in _FASTAPI_OPTIONS:
            raise where.error(
                f"unknown option {key!r}; expected methods, protocol, returns or a FastAPI route "
                f"option ({', '.join(sorted(_FASTAPI_OPTIONS))})"
            )
        expected = _OPTION_TYPES.get(key)
        if expected and (
            not isinstance(value, expected) or (key == "status_code" and isinstance(value, bool))
        ):
            names = " or ".join(t.__name__ for t in expected)
            raise where.error(f"option {key} must be {names}, got {value!r}")
        if key == "status_code" and not 100 <= value <= 599:
            raise where.error(f"option status_code must be an HTTP status (100..599), got {value}")
        if key == "tags" and not all(isinstance(tag, str) for tag in value):
            raise where.error(f"option tags must be a list of str, got {value!r}")
        out[key] = value
    if "dependencies" in out:
        out["dependencies"] = list(_depends_list(out["dependencies"], "dependencies", where))
    return out


def _resolve_local(local: str | os.PathLike[str], base_dir: Path, where: _Where) -> Path:
    given = Path(local)
    for candidate in (given, base_dir / given):
        if candidate.exists():
            return candidate.resolve()
    raise where.error(f"static path {os.fspath(local)!r} does not exist (also tried {base_dir})")


def _parse_route(group: _GroupInfo, position: int, entry: Any, base_dir: Path) -> _RouteSpec:
    """One entry of a group's `routes`: its shape, then the parser for its kind."""
    if not isinstance(entry, tuple | list) or len(entry) not in (2, 3):
        where = _Where(group.index, group.prefix, position)
        raise where.error(f"expected a tuple (path, controller[, options]), got {entry!r}")
    target, handler = entry[0], entry[1]
    options = entry[2] if len(entry) == 3 else {}
    where = _Where(group.index, group.prefix, target)
    if not isinstance(options, Mapping):
        raise where.error(f"options must be a dict, got {options!r}")
    options = dict(options)
    if isinstance(target, int) and not isinstance(target, bool):
        return _parse_status_page(group, target, handler, options, where)
    if not isinstance(target, str):
        raise where.error(f"path must be a str (or a status code), got {target!r}")
    if not target.startswith("/"):
        raise where.error("path must start with '/'")
    if isinstance(handler, str | os.PathLike):
        return _parse_static(group, target, handler, options, where, base_dir)
    protocol = options.get("protocol", "http")
    if protocol not in ("http", "ws"):
        raise where.error(f"protocol must be 'http' or 'ws', got {protocol!r}")
    if protocol == "ws":
        return _parse_websocket(group, target, handler, options, where)
    return _parse_http(group, target, handler, options, where)


def _parse_status_page(
    group: _GroupInfo, code: int, handler: Any, options: dict[str, Any], where: _Where
) -> _StatusPageSpec:
    if not 400 <= code <= 599:
        raise where.error(f"a status page code must be 400..599, got {code}")
    if not callable(handler) or not _is_nova_style(handler):
        raise where.error(
            "a status page controller must be Nova-style (one parameter, the request), "
            f"got {handler!r}"
        )
    if options:
        raise where.error(f"status page routes take no options, got {options!r}")
    return _StatusPageSpec(group, code, handler)


def _parse_static(
    group: _GroupInfo,
    target: str,
    handler: str | os.PathLike[str],
    options: dict[str, Any],
    where: _Where,
    base_dir: Path,
) -> _StaticRouteSpec:
    unknown = sorted(set(options) - _STATIC_OPTIONS)
    if unknown:
        raise where.error(
            f"unknown static option {unknown[0]!r}; expected {', '.join(sorted(_STATIC_OPTIONS))}"
        )
    local = _resolve_local(handler, base_dir, where)
    index_files = options.get("index_files", ["index.html"])
    if not isinstance(index_files, list | tuple) or not all(
        isinstance(i, str) for i in index_files
    ):
        raise where.error(f"index_files must be a list of file names, got {index_files!r}")
    if not isinstance(options.get("list_dir", False), bool):
        raise where.error(f"list_dir must be a bool, got {options['list_dir']!r}")
    if not isinstance(options.get("hide_dotfiles", False), bool):
        raise where.error(f"hide_dotfiles must be a bool, got {options['hide_dotfiles']!r}")
    if "hide_dotfiles" in options and not local.is_dir():
        raise where.error("hide_dotfiles is for a static directory (not a file)")
    if "mimetype" in options and (local.is_dir() or not isinstance(options["mimetype"], str)):
        raise where.error("mimetype is a str, for a static file (not a directory)")
    url = target[: -len(_WILDCARD)] if target.endswith(_WILDCARD) else target
    path, names, _ = _convert_path(_join(group.prefix, url), where)
    if names:
        raise where.error("a static path cannot have bindings")
    return _StaticRouteSpec(group, target, path, local, options)


def _is_websocket_handler(handler: Any) -> bool:
    return inspect.isclass(handler) and issubclass(handler, NovaWebSocket)


def _parse_websocket(
    group: _GroupInfo, target: str, handler: Any, options: dict[str, Any], where: _Where
) -> _WebSocketRouteSpec:
    if not _is_websocket_handler(handler):
        raise where.error(f"a 'ws' route takes a NovaWebSocket subclass, got {handler!r}")
    path, _, _ = _convert_path(_join(group.prefix, target), where)
    return _WebSocketRouteSpec(group, target, path, handler, options)


def _parse_http(
    group: _GroupInfo, target: str, handler: Any, options: dict[str, Any], where: _Where
) -> _HttpRouteSpec:
    if _is_websocket_handler(handler):
        raise where.error(
            f"{handler.__name__} is a WebSocket handler; add {{'protocol': 'ws'}} to its options"
        )
    if not callable(handler):
        raise where.error(f"controller must be callable, got {handler!r}")
    if _is_nova_style(handler) and _is_streaming(handler):
        raise where.error(
            "a Nova-style controller (one parameter, the request) cannot yield: its items "
            "would not be tuples for the handlers; give it FastAPI-style parameters to stream "
            "(e.g. request: Request) and FastAPI streams it"
        )
    methods, given = _methods(options, where)
    fastapi_options = _fastapi_options(options, where)
    if "returns" in options and (problem := _returns_error(options["returns"])) is not None:
        raise where.error(problem)
    documented = methods if given else _DOCUMENTED_DEFAULT_METHODS
    in_schema = fastapi_options.get("include_in_schema", True)
    if "operation_id" in fastapi_options and in_schema and len(documented) > 1:
        raise where.error(
            f"operation_id names one operation, but this route documents {len(documented)} "
            f"({', '.join(documented)}); give it exactly one method"
        )
    path, names, wildcard = _convert_path(_join(group.prefix, target), where)
    return _HttpRouteSpec(
        group=group,
        nova_path=target,
        path=path,
        path_params=names + ((_WILDCARD_PARAM,) if wildcard else ()),
        wildcard=wildcard,
        controller=handler,
        methods=methods,
        methods_given=given,
        fastapi_options=fastapi_options,
        returns=options.get("returns"),
    )


def _parse_groups(groups: Any, *, base_dir: Path) -> list[_RouteSpec]:
    """Validate a route table (a list of groups) into route specs, in table order."""
    if not isinstance(groups, list | tuple):
        raise RouteConfigError(f"routes must be a list of groups, got {groups!r}")
    specs: list[_RouteSpec] = []
    seen: dict[tuple[str, str], str] = {}
    status_codes: dict[int, str] = {}
    for index, raw in enumerate(groups):
        info, routes = _validate_group(index, raw)
        for position, entry in enumerate(routes):
            spec = _parse_route(info, position, entry, base_dir)
            _check_duplicate(spec, seen, status_codes)
            specs.append(spec)
    return _explicit_methods_win(specs)


def _explicit_methods_win(specs: list[_RouteSpec]) -> list[_RouteSpec]:
    """A route without `methods` answers what no explicit route of its path claims.

    As in Nova, where an exact method beats `'_'`: `("/x", any_method)` beside
    `("/x", only_get, {"methods": ["get"]})` sends GET to `only_get`, the rest to
    `any_method`.
    """
    claimed: dict[str, set[str]] = {}
    for spec in specs:
        if isinstance(spec, _HttpRouteSpec) and spec.methods_given:
            claimed.setdefault(_pattern(spec.path), set()).update(spec.methods)
        elif isinstance(spec, _StaticRouteSpec):
            for path in spec.paths:
                claimed.setdefault(_pattern(path), set()).update(_STATIC_METHODS)
    out: list[_RouteSpec] = []
    for spec in specs:
        if isinstance(spec, _HttpRouteSpec) and not spec.methods_given:
            taken = claimed.get(_pattern(spec.path), set())
            if taken:
                remaining = tuple(m for m in spec.methods if m not in taken)
                if not remaining:
                    continue
                spec = dataclasses.replace(spec, methods=remaining)
        out.append(spec)
    return out


def _pattern(path: str) -> str:
    """A path with binding names erased: `/users/{id}` and `/users/{uid}` collide.

    Convertors are kept: `/f/{id}` (one segment) and `/f/{pathinfo:path}` do not.
    """
    return re.sub(r"\{[^}:]*(:[^}]*)?\}", lambda m: "{" + (m.group(1) or "") + "}", path)


def _check_duplicate(
    spec: _RouteSpec, seen: dict[tuple[str, str], str], status_codes: dict[int, str]
) -> None:
    here = f"{spec.group.label}, route "
    if isinstance(spec, _StatusPageSpec):
        if spec.code in status_codes:
            raise RouteConfigError(
                f"{here}{spec.code!r}: status page {spec.code} is already defined by "
                f"{status_codes[spec.code]}"
            )
        status_codes[spec.code] = spec.group.label
        return
    paths: tuple[str, ...] = (spec.path,)
    if isinstance(spec, _HttpRouteSpec):
        # Explicit methods collide with explicit ones; a default route with another default.
        methods = spec.methods if spec.methods_given else ("*",)
    elif isinstance(spec, _StaticRouteSpec):
        paths, methods = spec.paths, _STATIC_METHODS
    else:
        methods = ("WEBSOCKET",)
    for path in paths:
        for method in methods:
            key = (_pattern(path), method)
            if key in seen:
                what = "every method of" if method == "*" else method
                raise RouteConfigError(
                    f"{here}{spec.nova_path!r}: {what} {path} is already routed by {seen[key]}"
                )
            seen[key] = f"{spec.group.label}, route {spec.nova_path!r}"

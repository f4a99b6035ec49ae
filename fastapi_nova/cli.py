"""`python -m fastapi_nova routes|audit MODULE:APP`: Nova's `rebar3 nova routes`, and an audit.

`routes` prints the route tree of a FastAPI app: the routes of each Nova route group under
a heading for the group, then the routers' status pages, then every other (plain FastAPI)
route, one line per method:

```text
Host: '_'
├─ group 0 (prefix '')
│  ├─ GET   /login      app.main.login        security: -  (http)
│  └─ WS    /ws         app.ws.EchoHandler    security: -  (ws)
├─ group 1 (prefix '/api')
│  └─ POST  /api/users  app.api.create        security: app.auth.check  (http)
├─ status pages
│  └─ 404   *           app.errors.not_found  security: -  (status)
└─ FastAPI routes
   └─ GET   /health     app.main.health       security: HTTPBearer  (http)
```

* **method**: an HTTP method, `WS` for a WebSocket route, `*` for a Nova route that
  answers every method (no `methods` option) or a mounted app, the status code for a
  status page.
* **path**: the path as served, in FastAPI syntax (`/users/{id}`, prefixes of
  `include_router` included), as `/docs` shows it; `*` for status pages, which answer
  for every HTTP route of their router.
* **target**: the controller, WebSocket handler class, static file or directory (relative to
  the working directory when it is under it), or mounted app.
* **security**: the group's security function; for a route without one (and for plain
  FastAPI routes) the FastAPI security schemes (`fastapi.security`) it depends on, its
  inclusion's and plugins' included; `-` when there are none.
* **protocol**: `http`, `ws`, `static`, `status` or `mount`.

Status pages are read from the routers' HTTP routes (`NovaRouteInfo.options`, attached to
each endpoint as `__nova_route__`): an included router itself is not reachable from the
app through FastAPI's public API, only its routes are (`fastapi.routing.iter_route_contexts`),
and status pages only ever answer for those HTTP routes anyway.

A group heading is `group N (prefix P)` as in `RouteConfigError` messages, plus
`under 'X'` when the router was included with `prefix="X"`, and `#2`, `#3`... when two
routers would otherwise share a heading. The app's own `/openapi.json` and docs pages are
left out.

`routes --json` prints the same rows as a JSON list, in the same order; every row is an
object with exactly these string keys (new keys may be added, these will not change):

```python
[{"group": "group 0 (prefix '')", "method": "GET", "path": "/login",
  "target": "example_app.controllers.main_controller.login", "security": "-",
  "protocol": "http"}, ...]
```

`group` is the heading (`"status pages"` and `"FastAPI routes"` for those sections).

`audit` reports, per row:

* `warning`: a route without security that changes state (POST, PUT, PATCH, DELETE, or
  `*`), and every WebSocket route without security;
* `info`: a public GET, public static content (a static route in a group without
  security, once per path, on its GET row) and a mounted app (its routes are not visible,
  so not audited).

A route counts as secured when its group has a security function, or when it depends on a
FastAPI security scheme (`HTTPBasic`, `OAuth2PasswordBearer`, `APIKeyHeader`, ...).
A plain dependency that checks credentials by hand is not recognised. `audit --json`
prints a list of `{"level", "method", "path", "target", "message"}` objects.

Exit codes: 0 success; 1 `audit --strict` found warnings; 2 usage error or an app that
cannot be loaded (one line on stderr: bad `MODULE:APP`, import failure, a module that calls
`sys.exit` on import, a missing attribute or one whose lookup raises, not a FastAPI app);
141 the output pipe closed early (`| head`), as for a process killed by SIGPIPE.

The functions are usable from Python too, e.g. a project test that fails on any warning:

```python
from fastapi_nova.cli import audit, route_rows
assert [f for f in audit(route_rows(app)) if f.level == "warning"] == []
```
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.routing import RouteContext, iter_route_contexts
from fastapi.security.base import SecurityBase
from starlette.routing import Host, Mount, WebSocketRoute

from fastapi_nova._route import NovaRouteInfo
from fastapi_nova._route_info import nova_info
from fastapi_nova.errors import CliError
from fastapi_nova.groups import ALL_METHODS, method_key
from fastapi_nova.request import callable_name

__all__ = [
    "CliError",
    "Finding",
    "RouteRow",
    "audit",
    "format_audit",
    "format_tree",
    "load_app",
    "main",
    "route_rows",
]

#: Methods that change state: without security they are audit warnings.
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Heading of the status pages section.
STATUS_PAGES = "status pages"
#: Heading of the routes that do not come from a NovaRouter.
FASTAPI_ROUTES = "FastAPI routes"

_EXIT_BROKEN_PIPE = 141
_ASCII_TREE = str.maketrans({"├": "|", "└": "`", "│": "|", "─": "-"})


@dataclass(frozen=True)
class RouteRow:
    """One line of the route listing (see the module docstring for each field)."""

    group: str
    method: str
    path: str
    target: str
    security: str
    protocol: str


@dataclass(frozen=True)
class Finding:
    """One audit finding: `level` is `"warning"` or `"info"`."""

    level: str
    method: str
    path: str
    target: str
    message: str


def load_app(target: str) -> FastAPI:
    """Import `module:attribute` (like uvicorn) and check it is a FastAPI app.

    Raises `CliError` with a one-line message when it cannot.
    """
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise CliError(f"expected MODULE:APP (e.g. example_app.main:app), got {target!r}")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, "")  # like uvicorn: import from the working directory
    try:
        module = importlib.import_module(module_name)
    except SystemExit as exc:  # a script run on import: its exit must not pass for ours
        raise CliError(f"importing {module_name!r} called sys.exit({exc.code!r})") from exc
    except ModuleNotFoundError as exc:
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise CliError(
                f"no module named {exc.name!r} (run from the project directory, or set PYTHONPATH)"
            ) from exc
        raise CliError(f"cannot import {module_name!r}: {_one_line(exc)}") from exc
    except Exception as exc:  # a broken route table, a syntax error...: say which
        raise CliError(
            f"importing {module_name!r} raised {type(exc).__name__}: {_one_line(exc)}"
        ) from exc
    app: Any = module
    for part in attr.split("."):
        try:
            app = getattr(app, part)
        except AttributeError as exc:
            raise CliError(f"module {module_name!r} has no attribute {attr!r}") from exc
        except Exception as exc:  # a lazy module __getattr__ or property that fails
            raise CliError(
                f"getting {attr!r} from {module_name!r} raised {type(exc).__name__}: "
                f"{_one_line(exc)}"
            ) from exc
    if not isinstance(app, FastAPI):
        raise CliError(f"{target} is a {type(app).__name__}, not a FastAPI app")
    return app


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _method_key(method: str) -> int:
    # A WebSocket route lists right after the HTTP methods of its path.
    return method_key("TRACE") + 1 if method == "WS" else method_key(method)


def _schemes(context: RouteContext) -> str | None:
    """The FastAPI security schemes a route depends on (its inclusion's too), or None."""
    dependant = getattr(context, "dependant", None)
    names: set[str] = set()
    stack = list(getattr(dependant, "dependencies", None) or [])
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, SecurityBase):
            names.add(dep.call.scheme_name)
        stack.extend(dep.dependencies)
    return ", ".join(sorted(names)) or None


def _local_path(path: Any) -> str:
    """A static route's file or directory, relative to the working directory if under it."""
    local = Path(path)
    try:
        return local.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return local.as_posix()


@dataclass
class _NovaEntry:
    heading_key: tuple[int, str]
    path: str
    info: NovaRouteInfo
    methods: set[str]
    security: str


def route_rows(app: FastAPI) -> list[RouteRow]:
    """Every route of `app` as rows: Nova groups, status pages, then other routes."""
    internal = {app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
    listing = _Listing()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        path = context.path or getattr(route, "host", "") or ""
        if path in internal and not isinstance(route, Mount | Host):
            continue
        is_ws = isinstance(route, WebSocketRoute)
        methods = {"WS"} if is_ws else set(context.methods or ())
        info = nova_info(context)
        if info is None:
            listing.other.extend(_other_rows(context, path, methods, is_ws))
        else:
            listing.add_nova(context, path, methods, info)
    return listing.rows()


@dataclass
class _Listing:
    """What `route_rows` collects while it walks the app's routes."""

    #: (group, include prefix) -> its heading, in the order the group's first route was met.
    headings: dict[tuple[int, str], str] = field(default_factory=dict)
    #: One entry per route of a group (the methods of its several routes merged).
    entries: dict[tuple[int, str, str, int], _NovaEntry] = field(default_factory=dict)
    status_pages: dict[int, Callable[..., Any]] = field(default_factory=dict)
    other: list[RouteRow] = field(default_factory=list)

    def add_nova(
        self, context: RouteContext, path: str, methods: set[str], info: NovaRouteInfo
    ) -> None:
        if info.options is not None:
            for code, page in info.options.status_pages.items():
                self.status_pages.setdefault(code, page)
        heading_key = self._heading(info, _included_prefix(context, path))
        key = (*heading_key, path, id(info))
        entry = self.entries.get(key)
        if entry is None:
            security = _security_name(context, info)
            entry = self.entries[key] = _NovaEntry(heading_key, path, info, set(), security)
        entry.methods.update(methods)

    def _heading(self, info: NovaRouteInfo, included: str) -> tuple[int, str]:
        """The key of the heading of `info`'s group as included under `included`.

        The same group included twice gets two headings, told apart by `#2`, `#3`...
        """
        heading_key = (id(info.group), included)
        if heading_key not in self.headings:
            label = info.group.label + (f" under {included!r}" if included else "")
            taken = set(self.headings.values())
            unique, n = label, 1
            while unique in taken:
                n += 1
                unique = f"{label} #{n}"
            self.headings[heading_key] = unique
        return heading_key

    def rows(self) -> list[RouteRow]:
        rows: list[RouteRow] = []
        for heading_key, heading in self.headings.items():
            for entry in self.entries.values():
                if entry.heading_key == heading_key:
                    rows.extend(_nova_rows(heading, entry))
        for code in sorted(self.status_pages):
            name = callable_name(self.status_pages[code])
            rows.append(RouteRow(STATUS_PAGES, str(code), "*", name, "-", "status"))
        return rows + self.other


def _included_prefix(context: RouteContext, path: str) -> str:
    """The prefix `include_router` put before the route's own path ("" for none)."""
    own_path = getattr(context.original_route, "path", "")
    return path[: -len(own_path)] if own_path and path.endswith(own_path) else ""


def _security_name(context: RouteContext, info: NovaRouteInfo) -> str:
    """The group's security function, else the FastAPI schemes the route depends on, or "-"."""
    if info.security is not None:
        return callable_name(info.security)
    return _schemes(context) or "-"


def _nova_rows(heading: str, entry: _NovaEntry) -> Iterator[RouteRow]:
    info = entry.info
    if info.kind == "static":
        target = _local_path(info.target)
    else:
        target = callable_name(info.target)
    if entry.methods >= set(ALL_METHODS):
        shown = ["*"]
    else:
        shown = sorted(entry.methods, key=_method_key)
    for method in shown:
        yield RouteRow(heading, method, entry.path, target, entry.security, info.kind)


def _other_rows(
    context: RouteContext, path: str, methods: set[str], is_ws: bool
) -> Iterator[RouteRow]:
    route = context.original_route
    if isinstance(route, Mount | Host):
        target = callable_name(route.app)
        yield RouteRow(FASTAPI_ROUTES, "*", path, target, _schemes(context) or "-", "mount")
        return
    endpoint = context.endpoint
    target = callable_name(endpoint) if endpoint is not None else type(route).__name__
    security = _schemes(context) or "-"
    for method in sorted(methods, key=_method_key):
        yield RouteRow(FASTAPI_ROUTES, method, path, target, security, "ws" if is_ws else "http")


def _grouped(rows: Sequence[RouteRow]) -> list[tuple[str, list[RouteRow]]]:
    order: dict[str, list[RouteRow]] = {}
    for row in rows:
        order.setdefault(row.group, []).append(row)
    return list(order.items())


def format_tree(rows: Sequence[RouteRow]) -> str:
    """The route tree as text, Nova style (see the module docstring)."""
    lines = ["Host: '_'"]
    groups = _grouped(rows)
    if not groups:
        lines.append("└─ (no routes)")
    method_width = max((len(r.method) for r in rows), default=0)
    path_width = max((len(r.path) for r in rows), default=0)
    target_width = max((len(r.target) for r in rows), default=0)
    for g, (name, members) in enumerate(groups):
        last_group = g == len(groups) - 1
        lines.append(f"{'└─' if last_group else '├─'} {name}")
        stem = "   " if last_group else "│  "
        for i, row in enumerate(members):
            branch = "└─" if i == len(members) - 1 else "├─"
            lines.append(
                f"{stem}{branch} {row.method:<{method_width}}  {row.path:<{path_width}}  "
                f"{row.target:<{target_width}}  security: {row.security}  ({row.protocol})"
            )
    return "\n".join(lines)


def audit(rows: Sequence[RouteRow]) -> list[Finding]:
    """Unsafe methods and WebSockets without security (warnings); public GETs, mounts (info)."""
    findings: list[Finding] = []
    for row in rows:
        if row.protocol == "mount":
            findings.append(
                Finding("info", row.method, row.path, row.target, "mounted app, not audited")
            )
            continue
        if row.security != "-" or row.protocol == "status":
            continue
        if row.protocol == "static":  # public by nature, but an operator should know
            if row.method == "GET":
                message = "public static content"
                findings.append(Finding("info", row.method, row.path, row.target, message))
            continue
        methods = set(ALL_METHODS) if row.method == "*" else {row.method}
        if row.protocol == "ws":
            message = "WebSocket route without security"
            findings.append(Finding("warning", row.method, row.path, row.target, message))
        elif methods & UNSAFE_METHODS:
            unsafe = ", ".join(m for m in ALL_METHODS if m in methods & UNSAFE_METHODS)
            message = f"{unsafe} without security"
            findings.append(Finding("warning", row.method, row.path, row.target, message))
        elif "GET" in methods:
            findings.append(Finding("info", row.method, row.path, row.target, "public GET"))
    return findings


def format_audit(findings: Sequence[Finding]) -> str:
    """The findings as aligned text lines, then a count."""
    method_width = max((len(f.method) for f in findings), default=0)
    path_width = max((len(f.path) for f in findings), default=0)
    lines = [
        f"{f.level:<7}  {f.method:<{method_width}}  {f.path:<{path_width}}  {f.message}"
        f"  ({f.target})"
        for f in findings
    ]
    warnings = sum(f.level == "warning" for f in findings)
    info = len(findings) - warnings
    lines.append(f"{warnings} warning{'' if warnings == 1 else 's'}, {info} info")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fastapi_nova",
        description="Tools for fastapi-nova apps: the route tree and a security audit.",
        epilog="exit codes: 0 ok, 1 audit --strict found warnings, 2 usage or load error",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    routes_cmd = commands.add_parser(
        "routes", help="print the route tree (Nova's rebar3 nova routes)"
    )
    routes_cmd.add_argument("app", metavar="MODULE:APP", help="e.g. example_app.main:app")
    routes_cmd.add_argument("--json", action="store_true", help="print the rows as JSON")
    audit_cmd = commands.add_parser(
        "audit", help="flag unsafe methods and WebSockets without security"
    )
    audit_cmd.add_argument("app", metavar="MODULE:APP", help="e.g. example_app.main:app")
    audit_cmd.add_argument("--strict", action="store_true", help="exit 1 on any warning")
    audit_cmd.add_argument("--json", action="store_true", help="print the findings as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m fastapi_nova`; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        rows = route_rows(load_app(args.app))
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    code = 0
    if args.command == "routes":
        if args.json:
            output = json.dumps([asdict(r) for r in rows], indent=2)
        else:
            output = format_tree(rows)
    else:
        findings = audit(rows)
        if args.json:
            output = json.dumps([asdict(f) for f in findings], indent=2)
        else:
            output = format_audit(findings)
        if args.strict and any(f.level == "warning" for f in findings):
            code = 1
    return _write(output) or code


def _write(text: str) -> int:
    """Print `text`; 0, or the broken-pipe exit code when the reader went away."""
    encoding = getattr(sys.stdout, "encoding", None)  # None: a text buffer takes any str
    if encoding is not None:
        try:
            text.encode(encoding)
        except UnicodeEncodeError:  # e.g. a legacy Windows console: draw the tree in ASCII
            text = text.translate(_ASCII_TREE)
            text = text.encode(encoding, "backslashreplace").decode(encoding)
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader (`| head`) stopped reading: that is not an error to report. Point
        # stdout at devnull so the interpreter's final flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return _EXIT_BROKEN_PIPE
    return 0

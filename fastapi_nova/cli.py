"""``python -m fastapi_nova routes|audit MODULE:APP``: Nova's ``rebar3 nova routes``, and an audit.

``routes`` prints the app's route tree grouped as in the route table: method, path,
controller (or WebSocket handler class), security function and protocol; ``--json`` prints
the same rows for machines. ``audit`` flags routes that change state (POST, PUT, PATCH,
DELETE) or open WebSockets without security, and lists public GETs; ``--strict`` makes any
warning exit 1, for CI.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.security.base import SecurityBase

from fastapi_nova.groups import ALL_METHODS
from fastapi_nova.request import callable_name

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_METHOD_ORDER = {m: i for i, m in enumerate((*ALL_METHODS, "TRACE", "WS"))}


class CliError(Exception):
    """A one-line error for the user (exit code 2)."""


@dataclass(frozen=True)
class RouteRow:
    """One line of the route listing."""

    group: str
    method: str
    path: str
    target: str
    security: str
    protocol: str


def load_app(target: str) -> FastAPI:
    """Import ``module:attribute`` and check it is a FastAPI app."""
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise CliError(f"expected MODULE:APP (e.g. example_app.main:app), got {target!r}")
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")  # like uvicorn: import from the working directory
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CliError(f"cannot import {module_name!r}: {exc}") from exc
    try:
        app = getattr(module, attr)
    except AttributeError as exc:
        raise CliError(f"module {module_name!r} has no attribute {attr!r}") from exc
    if not isinstance(app, FastAPI):
        raise CliError(f"{target} is a {type(app).__name__}, not a FastAPI app")
    return app


def _fastapi_security(route: Any) -> str:
    """Security schemes a plain FastAPI route depends on, or "-"."""
    names: list[str] = []
    stack = list(getattr(getattr(route, "dependant", None), "dependencies", []))
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, SecurityBase):
            names.append(dep.call.scheme_name)
        stack.extend(dep.dependencies)
    return ", ".join(sorted(set(names))) or "-"


def route_rows(app: FastAPI) -> list[RouteRow]:
    """Every route of ``app``, one row per method (WebSocket routes as method ``WS``)."""
    internal = {app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
    rows: list[RouteRow] = []
    collected: dict[tuple[int, str], set[str]] = {}
    infos: dict[tuple[int, str], Any] = {}
    for context in iter_route_contexts(app.routes):
        path = context.path or ""
        if path in internal:
            continue
        endpoint = context.endpoint
        info = getattr(endpoint, "__nova_route__", None)
        route = context.original_route
        is_ws = type(route).__name__.endswith("WebSocketRoute")
        methods = {"WS"} if is_ws else set(context.methods or ())
        if info is not None:
            key = (id(endpoint), path)
            collected.setdefault(key, set()).update(methods)
            infos[key] = info
            continue
        target = callable_name(endpoint) if endpoint is not None else type(route).__name__
        for method in sorted(methods, key=lambda m: _METHOD_ORDER.get(m, 99)):
            rows.append(
                RouteRow(
                    "other routes",
                    method,
                    path,
                    target,
                    _fastapi_security(route),
                    "ws" if is_ws else "http",
                )
            )
    nova_rows: list[RouteRow] = []
    for key, methods in collected.items():
        info = infos[key]
        group = f"group {info.group.index} (prefix {info.group.prefix!r})"
        security = callable_name(info.security) if info.security is not None else "-"
        target = (
            str(info.target) if info.kind == "static" else callable_name(info.target)
        )
        shown = ["*"] if methods >= set(ALL_METHODS) else sorted(
            methods, key=lambda m: _METHOD_ORDER.get(m, 99)
        )
        protocol = {"http": "http", "ws": "ws", "static": "static"}[info.kind]
        for method in shown:
            nova_rows.append(RouteRow(group, method, key[1], target, security, protocol))
    return nova_rows + rows


def _grouped(rows: Sequence[RouteRow]) -> Iterator[tuple[str, list[RouteRow]]]:
    order: dict[str, list[RouteRow]] = {}
    for row in rows:
        order.setdefault(row.group, []).append(row)
    yield from order.items()


def format_tree(rows: Sequence[RouteRow]) -> str:
    """The route tree as text, Nova style."""
    lines = ["Host: '_'"]
    groups = list(_grouped(rows))
    method_width = max((len(r.method) for r in rows), default=4)
    path_width = max((len(r.path) for r in rows), default=1)
    target_width = max((len(r.target) for r in rows), default=1)
    for g, (name, members) in enumerate(groups):
        last_group = g == len(groups) - 1
        lines.append(f"{'└─' if last_group else '├─'} {name}")
        stem = "   " if last_group else "│  "
        for i, row in enumerate(members):
            branch = "└─" if i == len(members) - 1 else "├─"
            lines.append(
                f"{stem}{branch} {row.method:<{method_width}} {row.path:<{path_width}}  "
                f"{row.target:<{target_width}}  security: {row.security}  ({row.protocol})"
            )
    return "\n".join(lines)


@dataclass(frozen=True)
class Finding:
    """One audit finding."""

    level: str  # "warning" | "info"
    method: str
    path: str
    message: str


def audit(rows: Sequence[RouteRow]) -> list[Finding]:
    """Unsafe methods and WebSockets without security (warnings); public GETs (info)."""
    findings: list[Finding] = []
    for row in rows:
        if row.security != "-" or row.protocol == "static" and row.method in ("GET", "HEAD"):
            continue
        methods = set(ALL_METHODS) if row.method == "*" else {row.method}
        if row.protocol == "ws":
            findings.append(Finding("warning", "WS", row.path, "WebSocket route without security"))
        elif methods & UNSAFE_METHODS:
            unsafe = ", ".join(m for m in ALL_METHODS if m in methods & UNSAFE_METHODS)
            findings.append(
                Finding("warning", row.method, row.path, f"{unsafe} without security")
            )
        elif "GET" in methods:
            findings.append(Finding("info", row.method, row.path, "public GET"))
    return findings


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m fastapi_nova``; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m fastapi_nova", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    routes_cmd = commands.add_parser("routes", help="print the route tree")
    routes_cmd.add_argument("app", metavar="MODULE:APP")
    routes_cmd.add_argument("--json", action="store_true", help="print JSON rows")
    audit_cmd = commands.add_parser("audit", help="flag routes without security")
    audit_cmd.add_argument("app", metavar="MODULE:APP")
    audit_cmd.add_argument("--strict", action="store_true", help="exit 1 on any warning")
    audit_cmd.add_argument("--json", action="store_true", help="print JSON findings")
    args = parser.parse_args(argv)
    try:
        rows = route_rows(load_app(args.app))
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command == "routes":
        if args.json:
            print(json.dumps([asdict(r) for r in rows], indent=2))
        else:
            print(format_tree(rows))
        return 0
    findings = audit(rows)
    if args.json:
        print(json.dumps([asdict(f) for f in findings], indent=2))
    else:
        for finding in findings:
            print(f"{finding.level:<7} {finding.method:<6} {finding.path}  {finding.message}")
        warnings = sum(f.level == "warning" for f in findings)
        print(f"{warnings} warning(s), {len(findings) - warnings} info")
    has_warnings = any(f.level == "warning" for f in findings)
    return 1 if args.strict and has_warnings else 0

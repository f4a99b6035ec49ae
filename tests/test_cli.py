"""The ``routes`` and ``audit`` commands (fastapi_nova/cli.py): output pinned on the example
app, error cases, exit codes, and the row model on apps built for it under tests/apps/."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fastapi_nova.cli import (
    _FASTAPI_ROUTES,
    _STATUS_PAGES,
    Finding,
    RouteRow,
    audit,
    format_tree,
    load_app,
    main,
)
from fastapi_nova.cli import route_rows as rows_of

ROOT = Path(__file__).resolve().parent.parent
APP = "tests.apps.cli_mixed_app"
USAGE = "expected MODULE:APP (e.g. example_app.main:app)"

EXAMPLE_ROUTES = """\
Host: '_'
├─ group 0 (prefix '')
│  ├─ GET   /                    example_app.controllers.main_controller.landing      security: -  (http)
│  ├─ GET   /login               example_app.controllers.main_controller.login        security: -  (http)
│  ├─ GET   /heartbeat           example_app.router.routes.<locals>.<lambda>          security: -  (http)
│  ├─ WS    /ws                  example_app.controllers.ws_handlers.EchoHandler      security: -  (ws)
│  ├─ WS    /chat                example_app.controllers.ws_handlers.ChatHandler      security: -  (ws)
│  ├─ GET   /chat/members        example_app.controllers.ws_handlers.chat_members     security: -  (http)
│  ├─ GET   /chat.html           example_app.controllers.main_controller.chat_page    security: -  (http)
│  ├─ GET   /js/nova-socket.js   fastapi_nova/client/nova-socket.js                   security: -  (static)
│  └─ HEAD  /js/nova-socket.js   fastapi_nova/client/nova-socket.js                   security: -  (static)
├─ group 1 (prefix '')
│  └─ POST  /                    example_app.controllers.main_controller.index        security: example_app.auth.username_password  (http)
├─ group 2 (prefix '/api')
│  ├─ GET   /api/users           example_app.controllers.api_controller.index         security: -  (http)
│  ├─ GET   /api/users/{id}      example_app.controllers.api_controller.show          security: -  (http)
│  ├─ POST  /api/users           example_app.controllers.api_controller.create        security: -  (http)
│  ├─ GET   /api/users/{id}/xml  example_app.controllers.api_controller.show_xml      security: -  (http)
│  └─ GET   /api/broken          example_app.controllers.api_controller.broken        security: -  (http)
├─ group 3 (prefix '/admin')
│  └─ GET   /admin/stats         example_app.controllers.admin_controller.stats       security: example_app.auth.admin_basic  (http)
└─ status pages
   └─ 404   *                    example_app.controllers.errors_controller.not_found  security: -  (status)
"""  # noqa: E501

EXAMPLE_AUDIT = """\
info     GET   /                    public GET  (example_app.controllers.main_controller.landing)
info     GET   /login               public GET  (example_app.controllers.main_controller.login)
info     GET   /heartbeat           public GET  (example_app.router.routes.<locals>.<lambda>)
warning  WS    /ws                  WebSocket route without security  (example_app.controllers.ws_handlers.EchoHandler)
warning  WS    /chat                WebSocket route without security  (example_app.controllers.ws_handlers.ChatHandler)
info     GET   /chat/members        public GET  (example_app.controllers.ws_handlers.chat_members)
info     GET   /chat.html           public GET  (example_app.controllers.main_controller.chat_page)
info     GET   /js/nova-socket.js   public static content  (fastapi_nova/client/nova-socket.js)
info     GET   /api/users           public GET  (example_app.controllers.api_controller.index)
info     GET   /api/users/{id}      public GET  (example_app.controllers.api_controller.show)
warning  POST  /api/users           POST without security  (example_app.controllers.api_controller.create)
info     GET   /api/users/{id}/xml  public GET  (example_app.controllers.api_controller.show_xml)
info     GET   /api/broken          public GET  (example_app.controllers.api_controller.broken)
3 warnings, 10 info
"""  # noqa: E501


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m fastapi_nova ARGS`` from the repository root, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "fastapi_nova", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env={**os.environ, "PYTHONIOENCODING": "utf-8", **(env or {})},
        timeout=60,
    )


def rows(target: str) -> list[RouteRow]:
    return rows_of(load_app(target))


# -- routes ------------------------------------------------------------------------------------


def test_routes_prints_the_example_app_tree() -> None:
    result = run_cli("routes", "example_app.main:app")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == EXAMPLE_ROUTES


def test_routes_json_has_the_same_rows_with_stable_keys() -> None:
    result = run_cli("routes", "example_app.main:app", "--json")
    assert (result.returncode, result.stderr) == (0, "")
    data = json.loads(result.stdout)
    assert all(
        list(row) == ["group", "method", "path", "target", "security", "protocol"] for row in data
    )
    # The same rows as the tree, in the same order: they draw exactly that tree.
    assert format_tree([RouteRow(**row) for row in data]) + "\n" == EXAMPLE_ROUTES
    assert {
        "group": "group 0 (prefix '')",
        "method": "WS",
        "path": "/chat",
        "target": "example_app.controllers.ws_handlers.ChatHandler",
        "security": "-",
        "protocol": "ws",
    } in data
    assert {
        "group": "group 1 (prefix '')",
        "method": "POST",
        "path": "/",
        "target": "example_app.controllers.main_controller.index",
        "security": "example_app.auth.username_password",
        "protocol": "http",
    } in data
    assert {
        "group": "group 3 (prefix '/admin')",
        "method": "GET",
        "path": "/admin/stats",
        "target": "example_app.controllers.admin_controller.stats",
        "security": "example_app.auth.admin_basic",
        "protocol": "http",
    } in data
    assert data[-1] == {
        "group": "status pages",
        "method": "404",
        "path": "*",
        "target": "example_app.controllers.errors_controller.not_found",
        "security": "-",
        "protocol": "status",
    }


def test_routes_falls_back_to_an_ascii_tree_on_an_ascii_terminal() -> None:
    result = run_cli("routes", "tests.apps.cli_secure_app:app", env={"PYTHONIOENCODING": "ascii"})
    assert result.returncode == 0
    assert result.stdout.splitlines()[:3] == [
        "Host: '_'",
        "|- group 0 (prefix '')",
        "|  `- GET     /                tests.apps.cli_secure_app.home        security: -  (http)",
    ]


def test_main_in_process_prints_the_same_tree() -> None:
    # A text buffer without an encoding (redirect_stdout(StringIO())) takes the tree as is.
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["routes", "example_app.main:app"]) == 0
    assert out.getvalue() == EXAMPLE_ROUTES


def test_a_closed_output_pipe_is_not_an_error() -> None:
    # ``routes ... | head -1``: the reader goes away; no traceback, the SIGPIPE exit code.
    proc = subprocess.Popen(
        [sys.executable, "-m", "fastapi_nova", "routes", "example_app.main:app"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    stderr = proc.stderr.read()
    proc.stderr.close()
    assert (proc.wait(timeout=60), stderr) == (141, b"")


def test_groups_of_several_routers_prefixes_wildcards_and_static_directories() -> None:
    got = rows("tests.apps.cli_mixed_app:app")
    nova = [r for r in got if r.group not in (_STATUS_PAGES, _FASTAPI_ROUTES)]
    v1 = "group 0 (prefix '') under '/v1'"
    assert [(r.group, r.method, r.path, r.target, r.security, r.protocol) for r in nova] == [
        (v1, "GET", "/v1/files/{pathinfo:path}", "tests.apps.cli_mixed_app.files", "-", "http"),
        # no ``methods``: every method, shown once
        (v1, "*", "/v1/any", "tests.apps.cli_mixed_app.anything", "-", "http"),
        (v1, "GET", "/v1/assets", "tests/apps/alt_templates", "-", "static"),
        (v1, "HEAD", "/v1/assets", "tests/apps/alt_templates", "-", "static"),
        (v1, "GET", "/v1/assets/{pathinfo:path}", "tests/apps/alt_templates", "-", "static"),
        (v1, "HEAD", "/v1/assets/{pathinfo:path}", "tests/apps/alt_templates", "-", "static"),
        # the wildcard's bare path, served too
        (v1, "GET", "/v1/files", "tests.apps.cli_mixed_app.files", "-", "http"),
        # secured by the inclusion's HTTP Bearer scheme
        (
            "group 0 (prefix '')",
            "POST",
            "/hook",
            "tests.apps.cli_mixed_app.anything",
            "HTTPBearer",
            "http",
        ),
        # a third router with the same heading is told apart
        ("group 0 (prefix '') #2", "GET", "/ping", f"{APP}.anything", "-", "http"),
    ]


def test_status_pages_of_every_router_in_code_order() -> None:
    got = [r for r in rows("tests.apps.cli_mixed_app:app") if r.group == _STATUS_PAGES]
    assert got == [
        RouteRow(_STATUS_PAGES, "404", "*", "tests.apps.cli_mixed_app.not_found", "-", "status"),
        RouteRow(_STATUS_PAGES, "500", "*", "tests.apps.cli_mixed_app.server_error", "-", "status"),
    ]


def test_plain_fastapi_routes_have_their_own_heading_with_their_security_schemes() -> None:
    got = [r for r in rows("tests.apps.cli_mixed_app:app") if r.group == _FASTAPI_ROUTES]
    assert [(r.method, r.path, r.target, r.security, r.protocol) for r in got] == [
        ("GET", "/health", "tests.apps.cli_mixed_app.health", "-", "http"),
        ("DELETE", "/items/{item_id}", f"{APP}.delete_item", "APIKeyHeader", "http"),
        ("WS", "/plain-ws", "tests.apps.cli_mixed_app.plain_ws", "-", "ws"),
        ("*", "/media", "starlette.staticfiles.StaticFiles", "-", "mount"),
    ]
    # The app's own docs routes are not listed.
    assert not any(r.path in ("/openapi.json", "/docs", "/redoc") for r in got)


def test_an_app_without_routes() -> None:
    from fastapi import FastAPI

    app = FastAPI(openapi_url=None)
    assert rows_of(app) == []
    assert format_tree([]) == "Host: '_'\n└─ (no routes)"


# -- audit -------------------------------------------------------------------------------------


def test_audit_of_the_example_app_warns_and_exits_0_without_strict() -> None:
    result = run_cli("audit", "example_app.main:app")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == EXAMPLE_AUDIT


def test_audit_strict_exits_1_on_warnings() -> None:
    result = run_cli("audit", "example_app.main:app", "--strict")
    assert result.returncode == 1
    assert result.stdout == EXAMPLE_AUDIT


def test_audit_strict_exits_0_on_an_app_without_warnings() -> None:
    result = run_cli("audit", "tests.apps.cli_secure_app:app", "--strict")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [
        "info     GET  /  public GET  (tests.apps.cli_secure_app.home)",
        "0 warnings, 1 info",
    ]


def test_audit_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "example_app.main:app", "--json", "--strict"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert all(list(f) == ["level", "method", "path", "target", "message"] for f in data)
    assert [f for f in data if f["level"] == "warning"] == [
        {
            "level": "warning",
            "method": "WS",
            "path": "/ws",
            "target": "example_app.controllers.ws_handlers.EchoHandler",
            "message": "WebSocket route without security",
        },
        {
            "level": "warning",
            "method": "WS",
            "path": "/chat",
            "target": "example_app.controllers.ws_handlers.ChatHandler",
            "message": "WebSocket route without security",
        },
        {
            "level": "warning",
            "method": "POST",
            "path": "/api/users",
            "target": "example_app.controllers.api_controller.create",
            "message": "POST without security",
        },
    ]


def test_audit_rules_on_a_mixed_app() -> None:
    ALT = "tests/apps/alt_templates"  # noqa: N806
    findings = audit(rows("tests.apps.cli_mixed_app:app"))
    assert findings == [
        Finding("info", "GET", "/v1/files/{pathinfo:path}", f"{APP}.files", "public GET"),
        Finding(
            "warning",
            "*",
            "/v1/any",
            "tests.apps.cli_mixed_app.anything",
            "POST, PUT, PATCH, DELETE without security",
        ),
        # a static route of an unsecured group: public content, reported once per path
        Finding("info", "GET", "/v1/assets", ALT, "public static content"),
        Finding("info", "GET", "/v1/assets/{pathinfo:path}", ALT, "public static content"),
        Finding("info", "GET", "/v1/files", "tests.apps.cli_mixed_app.files", "public GET"),
        # /hook (POST, secured by the inclusion's scheme) is not reported
        Finding("info", "GET", "/ping", "tests.apps.cli_mixed_app.anything", "public GET"),
        Finding("info", "GET", "/health", "tests.apps.cli_mixed_app.health", "public GET"),
        # DELETE /items/{item_id} depends on APIKeyHeader: not reported
        Finding(
            "warning",
            "WS",
            "/plain-ws",
            "tests.apps.cli_mixed_app.plain_ws",
            "WebSocket route without security",
        ),
        Finding(
            "info", "*", "/media", "starlette.staticfiles.StaticFiles", "mounted app, not audited"
        ),
    ]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_every_unsafe_method_without_security_is_a_warning(method: str) -> None:
    row = RouteRow("g", method, "/x", "t", "-", "http")
    assert audit([row]) == [Finding("warning", method, "/x", "t", f"{method} without security")]
    assert audit([RouteRow("g", method, "/x", "t", "app.auth.check", "http")]) == []


def test_secured_groups_and_schemes_are_not_warnings() -> None:
    findings = audit(rows("tests.apps.cli_secure_app:app"))
    assert findings == [Finding("info", "GET", "/", "tests.apps.cli_secure_app.home", "public GET")]


# -- errors: one line on stderr, exit code 2 ---------------------------------------------------


def test_a_load_error_from_the_command_line() -> None:
    result = run_cli("routes", "example_app.main")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        "error: expected MODULE:APP (e.g. example_app.main:app), got 'example_app.main'\n"
    )


@pytest.mark.parametrize("command", ["routes", "audit"])
@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("example_app.main", f"{USAGE}, got 'example_app.main'"),
        (":app", f"{USAGE}, got ':app'"),
        ("example_app.main:", f"{USAGE}, got 'example_app.main:'"),
        (
            "no_such_module_for_cli_tests:app",
            "no module named 'no_such_module_for_cli_tests' (run from the project directory, "
            "or set PYTHONPATH)",
        ),
        (
            "example_app.no_such_module:app",
            "no module named 'example_app.no_such_module' (run from the project directory, "
            "or set PYTHONPATH)",
        ),
        (
            "tests.apps.cli_missing_dep_app:app",
            "cannot import 'tests.apps.cli_missing_dep_app': "
            "No module named 'no_such_dependency_for_cli_tests'",
        ),
        (
            "tests.apps.cli_broken_app:app",
            "importing 'tests.apps.cli_broken_app' raised RouteConfigError: group 0 (prefix "
            "'/api'), route '/users': methods must be a list of HTTP method names, got 'get'",
        ),
        ("example_app.main:nope", "module 'example_app.main' has no attribute 'nope'"),
        ("example_app.main:app.nope", "module 'example_app.main' has no attribute 'app.nope'"),
        ("example_app.router:routes", "example_app.router:routes is a function, not a FastAPI app"),
        ("example_app.main:app.title", "example_app.main:app.title is a str, not a FastAPI app"),
    ],
)
def test_load_errors_are_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], command: str, target: str, message: str
) -> None:
    assert main([command, target, "--strict"] if command == "audit" else [command, target]) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", f"error: {message}\n")


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["routes"])
    assert exc.value.code == 2
    assert "MODULE:APP" in capsys.readouterr().err

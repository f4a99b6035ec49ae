"""The public API contract: ``fastapi_nova.__all__`` and the modules users import by name.

* ``fastapi_nova.__all__`` is sorted, importable and documented, and nothing users are meant
  to use is left out of it: every public class and function of the package's modules is
  either exported or listed in :data:`INTERNAL` with the reason it is not.
* :data:`NAMESPACES` are modules users import as such (``from fastapi_nova import pubsub``,
  ``fastapi_nova.testing``, ``fastapi_nova.cli``): their own ``__all__`` is their contract,
  held to the same rules.
* ``__version__`` is the version the build (hatch, pyproject's dynamic version) publishes.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from packaging.version import Version

import fastapi_nova

ROOT = Path(__file__).resolve().parent.parent

#: Modules users import by name; each has its own ``__all__``.
NAMESPACES = {
    "fastapi_nova.pubsub": "pub/sub API: pubsub.join(...), pubsub.broadcast(...)",
    "fastapi_nova.testing": "test helpers: nova_request, connect, run_handler, subscribe",
    "fastapi_nova.cli": "python -m fastapi_nova routes|audit, and its functions",
    "fastapi_nova.types": "type aliases for annotating route tables, controllers, security",
}

#: Public (non-underscore) classes and functions that are deliberately not exported from
#: ``fastapi_nova``, per module, with the reason. A new public name in a module fails
#: :func:`test_every_public_class_and_function_is_exported_or_internal` until it is exported
#: or listed here.
INTERNAL: dict[str, tuple[str, set[str]]] = {
    "fastapi_nova.controllers": (
        "the machinery behind @controller and NovaRouter; users get it through those",
        {
            "BoundController",
            "ControllerOptions",
            "Fallback",
            "ResponseModel",
            "call_user",
            "error_response",
            "fastapi_endpoint",
            "is_async_callable",
            "is_streaming",
            "json_error",
            "make_endpoint",
            "nova_endpoint",
            "render_status_page",
            "response_model_of",
            "streaming_endpoint",
        },
    ),
    "fastapi_nova.errors": (
        "control flow between modules, or re-exported where users meet them "
        "(fastapi_nova.testing.WebSocketRefused, fastapi_nova.cli.CliError)",
        {"CliError", "HandlerError", "InvalidReturn", "SecurityDenied", "WebSocketRefused"},
    ),
    "fastapi_nova.groups": (
        "validated forms of a route table, built by NovaRouter (users write dicts/RouteGroup)",
        {
            "GroupInfo",
            "HttpRouteSpec",
            "StaticRouteSpec",
            "StatusPageSpec",
            "WebSocketRouteSpec",
            "convert_path",
            "method_key",
            "parse_groups",
        },
    ),
    "fastapi_nova.handlers": (
        "built-in handler plumbing; custom handlers are fn(status, headers, payload) -> Response",
        {
            "Converter",
            "FileSliceResponse",
            "HandlerContext",
            "redirect_location",
        },
    ),
    "fastapi_nova.hub": (
        "pub/sub internals behind fastapi_nova.pubsub (PubSubMessage is exported)",
        {"Hub", "SupervisedBackend", "check_name", "encode", "fan_out", "split_namespace"},
    ),
    "fastapi_nova.mailbox": (
        "a connection's mailbox; users reach it through send() and self.send_after()",
        {"Mailbox", "Wakeup"},
    ),
    "fastapi_nova.gc_policy": (
        "what NovaRouter's lifespan applies; users turn it off with NovaRouter(gc_policy=False)",
        {"apply_gc_policy", "release_gc_policy"},
    ),
    "fastapi_nova.membership": (
        "pub/sub membership and gossip, behind pubsub.get_members()",
        {"ExitListener", "Gossip", "LocalMembers"},
    ),
    "fastapi_nova.openapi": (
        "what a route documents, derived when NovaRouter builds it (ErrorDetail names the "
        "documented {'detail': ...} body)",
        {"ErrorDetail", "returns_error", "route_openapi"},
    ),
    "fastapi_nova.pid": (
        "connection plumbing; users get pids from self.pid and pub/sub senders",
        {"Inbox", "reset_current", "self_pid", "set_current", "spawn", "whereis"},
    ),
    "fastapi_nova.redis_backend": (
        "chosen by a redis:// pub/sub URL; never built by users",
        {"RedisBackend", "backoff_delay"},
    ),
    "fastapi_nova.request": (
        "how NovaRequest is built and controller styles are told apart",
        {
            "auth_data_of",
            "build_nova_request",
            "callable_name",
            "is_nova_style",
            "path_bindings",
            "resolved_signature",
            "set_auth_data",
            "websocket_nova_request",
        },
    ),
    "fastapi_nova.security": (
        "security callables turned into dependencies; users write the callables",
        {
            "Verdict",
            "run_nova_security",
            "security_dependency",
            "security_passed",
            "verdict",
        },
    ),
    "fastapi_nova.static": (
        "static routes are declared in the route table",
        {"NovaStaticFiles", "static_endpoint"},
    ),
    "fastapi_nova.templates": (
        "template lookup; configured with NovaRouter(templates=...)",
        {"TemplateFinder", "default_view", "finder_for", "module_directory", "template_name"},
    ),
    "fastapi_nova.connection": (
        "the connection runtime NovaRouter runs for ws routes (and fastapi_nova.testing)",
        {"deny_upgrade", "serve_websocket"},
    ),
    "fastapi_nova.origin": (
        "the Origin check of ws routes; configured with the allowed_origins route option",
        {"normalize_origin", "origin_allowed"},
    ),
    "fastapi_nova.websocket_handler": (
        "how the runtime reads a callback's return; users write the returns",
        {"parse_return"},
    ),
}

#: Exported data (not classes or functions) whose ``#:`` doc comment is still missing, with
#: the file to fix. Remove the entry once the comment is there.
DOC_COMMENT_PENDING: dict[str, str] = {}


def package_modules() -> list[ModuleType]:
    """Every public module of the package (``_private`` and ``__main__`` excluded)."""
    return [
        importlib.import_module(f"fastapi_nova.{info.name}")
        for info in pkgutil.iter_modules(fastapi_nova.__path__)
        if not info.name.startswith("_")
    ]


def public_definitions(module: ModuleType) -> set[str]:
    """Public classes and functions defined in ``module`` (not imported into it)."""
    return {
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and obj.__module__ == module.__name__
    }


def has_doc_comment(name: str) -> bool:
    """True when a package module assigns `name` under a `#:` comment or above a docstring.

    Both are attribute docs to griffe (the docs site): a string statement right after the
    assignment natively, a `#:` comment through docs/_griffe while some modules still use it.
    """
    for path in Path(fastapi_nova.__file__).parent.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        body = ast.parse(source).body
        for index, stmt in enumerate(body):
            if not isinstance(stmt, ast.Assign | ast.AnnAssign):
                continue
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if not any(isinstance(t, ast.Name) and t.id == name for t in targets):
                continue
            after = body[index + 1] if index + 1 < len(body) else None
            if isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant):
                return isinstance(after.value.value, str)
            before = source.splitlines()[: stmt.lineno - 1]
            return bool(before) and before[-1].lstrip().startswith("#:")
    return False


def documented(name: str, obj: Any) -> bool:
    """Modules, classes and functions need their own docstring; data an attribute doc."""
    if inspect.ismodule(obj) or inspect.isclass(obj) or inspect.isroutine(obj):
        return bool((obj.__doc__ or "").strip())
    return has_doc_comment(name)


def test_all_is_sorted_without_duplicates() -> None:
    assert fastapi_nova.__all__ == sorted(set(fastapi_nova.__all__))


def test_every_name_in_all_is_importable() -> None:
    namespace: dict[str, Any] = {}
    exec("from fastapi_nova import *", namespace)
    assert sorted(k for k in namespace if k != "__builtins__") == sorted(fastapi_nova.__all__)
    for name in fastapi_nova.__all__:
        exec(f"from fastapi_nova import {name}", {})


def test_pubsub_is_exported_as_a_module_with_its_message_type() -> None:
    assert "pubsub" in fastapi_nova.__all__ and "PubSubMessage" in fastapi_nova.__all__
    assert inspect.ismodule(fastapi_nova.pubsub)
    assert fastapi_nova.PubSubMessage is fastapi_nova.pubsub.PubSubMessage


def test_every_name_in_all_is_documented() -> None:
    undocumented = [
        name
        for name in fastapi_nova.__all__
        if name not in DOC_COMMENT_PENDING and not documented(name, getattr(fastapi_nova, name))
    ]
    assert undocumented == []


def test_every_public_class_and_function_is_exported_or_internal() -> None:
    exported = {id(getattr(fastapi_nova, name)) for name in fastapi_nova.__all__}
    missing: list[str] = []
    for module in package_modules():
        if module.__name__ in NAMESPACES:
            continue  # held to their own __all__ below
        internal = INTERNAL.get(module.__name__, ("", set()))[1]
        for name in sorted(public_definitions(module)):
            if id(getattr(module, name)) not in exported and name not in internal:
                missing.append(f"{module.__name__}.{name}")
    assert missing == [], (
        "export these from fastapi_nova (sorted __all__) or list them in INTERNAL with a reason"
    )


def test_internal_entries_have_reasons_and_name_no_exported_object() -> None:
    for module_name, (reason, names) in INTERNAL.items():
        assert reason.strip(), module_name
        module = importlib.import_module(module_name)
        for name in names:
            obj = getattr(module, name, None)
            assert obj is None or name not in fastapi_nova.__all__, f"{module_name}.{name}"


@pytest.mark.parametrize("module_name", sorted(NAMESPACES))
def test_namespace_modules_export_and_document_their_public_names(module_name: str) -> None:
    module = importlib.import_module(module_name)
    own_all = list(module.__all__)
    assert len(own_all) == len(set(own_all)), "duplicates in __all__"
    assert public_definitions(module) <= set(own_all), "public names missing from __all__"
    for name in own_all:
        obj = getattr(module, name)  # every listed name exists
        if inspect.isclass(obj) or inspect.isroutine(obj):
            assert (obj.__doc__ or "").strip(), f"{module_name}.{name} has no docstring"
    assert (module.__doc__ or "").strip()


@pytest.mark.parametrize("module_name", ["fastapi_nova.cli", "fastapi_nova.testing"])
def test_tool_modules_all_is_sorted(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert module.__all__ == sorted(module.__all__)


def test_version_matches_the_dynamic_version_source() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" in pyproject["project"]["dynamic"]
    source = ROOT / pyproject["tool"]["hatch"]["version"]["path"]
    # hatch's default pattern for a version file
    match = re.search(
        r"""^(__version__|VERSION) *= *(['"])v?(?P<version>.+?)\2""",
        source.read_text(encoding="utf-8"),
        re.MULTILINE,
    )
    assert match is not None, f"no __version__ in {source}"
    assert match["version"] == fastapi_nova.__version__
    assert str(Version(fastapi_nova.__version__)) == fastapi_nova.__version__

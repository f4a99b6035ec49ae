"""The public API contract: ``fastapi_nova.__all__`` and the modules users import by name.

* ``fastapi_nova.__all__`` is sorted, importable and documented in docs/reference.
* :data:`NAMESPACES` are modules users import as such (``from fastapi_nova import pubsub``,
  ``fastapi_nova.testing``, ``fastapi_nova.cli``): their own ``__all__`` is their contract,
  held to the same rules.
* Nothing else is public: every name a package module defines at top level (class,
  function, constant, type alias, logger) without a leading underscore is exported by
  ``fastapi_nova.__all__`` or a namespace's ``__all__``, or documented by name in
  docs/reference (``::: fastapi_nova.hub.PUBLISH_TIMEOUT``). Everything else is private.
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


def top_level_names(module: ModuleType) -> list[str]:
    """Names `module`'s source binds at top level: classes, functions and assignments."""
    body = ast.parse(Path(module.__file__ or "").read_text(encoding="utf-8")).body
    names: list[str] = []
    stack = list(body)
    while stack:  # top level includes `if TYPE_CHECKING:` / `try:` blocks
        stmt = stack.pop(0)
        if isinstance(stmt, ast.If | ast.Try):
            stack[:0] = [*stmt.body, *getattr(stmt, "orelse", []), *getattr(stmt, "finalbody", [])]
            continue
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(stmt.name)
        elif isinstance(stmt, ast.Assign):
            names += [t.id for t in stmt.targets if isinstance(t, ast.Name)]
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            names.append(stmt.target.id)
    return [name for name in dict.fromkeys(names) if not name.startswith("__")]


def reference_names() -> set[str]:
    """Dotted names docs/reference documents: `::: a.b` directives and their `members:`."""
    names: set[str] = set()
    for page in sorted((ROOT / "docs" / "reference").glob("*.md")):
        current = ""
        for line in page.read_text(encoding="utf-8").splitlines():
            if line.startswith("::: "):
                current = line[4:].strip()
                names.add(current)
            elif current and re.fullmatch(r" {8}- \w+", line):
                names.add(f"{current}.{line.strip()[2:]}")
            elif line and not line.startswith(" "):
                current = ""
    return names


def is_public_api(module: ModuleType, name: str, reference: set[str]) -> bool:
    """Exported (the same object) from fastapi_nova or a namespace, or documented by name."""
    obj = getattr(module, name, None)
    exporters = [fastapi_nova, *(importlib.import_module(ns) for ns in NAMESPACES)]
    for exporter in exporters:
        if name in exporter.__all__ and getattr(exporter, name) is obj:
            return True
    return f"{module.__name__}.{name}" in reference


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


def test_every_public_name_of_a_module_is_exported_or_documented() -> None:
    reference = reference_names()
    stray = [
        f"{module.__name__}.{name}"
        for module in package_modules()
        for name in top_level_names(module)
        if not name.startswith("_") and not is_public_api(module, name, reference)
    ]
    assert stray == [], (
        "export these (fastapi_nova.__all__ or a namespace's __all__) and document them in "
        "docs/reference, or give them a leading underscore"
    )


def test_every_exported_name_is_in_the_reference() -> None:
    reference = reference_names()
    pages = {"pubsub"}  # modules with a reference page of their own, linked from index.md
    missing = [
        name
        for name in fastapi_nova.__all__
        if f"fastapi_nova.{name}" not in reference and name not in pages
    ]
    assert missing == []


@pytest.mark.parametrize("module_name", ["fastapi_nova.pubsub", "fastapi_nova.testing"])
def test_namespace_pages_document_their_whole_all(module_name: str) -> None:
    module = importlib.import_module(module_name)
    missing = [name for name in module.__all__ if f"{module_name}.{name}" not in reference_names()]
    assert missing == []


def test_the_rules_catch_a_public_helper() -> None:
    """The check above is not vacuous: an undocumented public name in a module is stray."""
    module = importlib.import_module("fastapi_nova.hub")
    assert not is_public_api(module, "fan_out_helper", reference_names())
    assert is_public_api(module, "PUBLISH_TIMEOUT", reference_names())  # documented by name
    assert is_public_api(module, "PubSubMessage", reference_names())  # exported
    assert "fastapi_nova.hub" in {m.__name__ for m in package_modules()}


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

"""``mypy --strict`` on a user's module catches a misspelled group key and router keyword.

One mypy run checks three small modules: a correct one (no errors) and two with one typo
each; the test reads mypy's report per file.
"""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest
from fastapi import APIRouter

from fastapi_nova import NovaRouter

GOOD = """
from typing import Any

from fastapi import FastAPI

from fastapi_nova import ControllerReturn, NovaRequest, NovaRouter, RouteGroup, RouteGroupDict


def check(req: NovaRequest) -> Any:
    return req.headers.get("x-key") == "k"


def show(req: NovaRequest) -> ControllerReturn:
    return ("json", {"id": req.bindings["id"]})


def routes(environment: str) -> list[RouteGroupDict | RouteGroup]:
    return [
        {"prefix": "/api", "security": check, "routes": [("/users/:id", show, {})]},
        RouteGroup(routes=[("/heartbeat", lambda req: ("status", 200))]),
    ]


app = FastAPI()
app.include_router(NovaRouter(routes, prefix="/v1", tags=["v1"]))
app.include_router(NovaRouter([{"routes": [("/x", show)]}], environment="test"))
"""

BAD_GROUP_KEY = GOOD.replace('"security": check', '"secuirty": check')
BAD_ROUTER_KEYWORD = GOOD.replace('prefix="/v1"', 'prefx="/v1"')


@pytest.fixture(scope="module")
def mypy_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    pytest.importorskip("mypy", reason="mypy is a dev dependency: pip install -e '.[dev]'")
    root = tmp_path_factory.mktemp("typed_user")
    files = {
        "good": GOOD,
        "bad_group_key": BAD_GROUP_KEY,
        "bad_router_keyword": BAD_ROUTER_KEYWORD,
    }
    for name, source in files.items():
        (root / f"{name}.py").write_text(source)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-error-summary",
            "--cache-dir",
            str(root / ".mypy_cache"),
            *(f"{name}.py" for name in files),
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = result.stdout.splitlines()
    return {
        name: "\n".join(line for line in lines if line.startswith(f"{name}.py:")) for name in files
    }


def test_a_correct_module_type_checks(mypy_report: dict[str, str]) -> None:
    assert mypy_report["good"] == ""


def test_a_misspelled_group_key_is_a_type_error(mypy_report: dict[str, str]) -> None:
    line = next(n for n, text in enumerate(BAD_GROUP_KEY.splitlines(), 1) if "secuirty" in text)
    report = mypy_report["bad_group_key"]
    # In a list of either group form mypy names the list item; alone, the extra key.
    assert f"bad_group_key.py:{line}: error:" in report
    assert "RouteGroupDict" in report


def test_a_misspelled_router_keyword_is_a_type_error(mypy_report: dict[str, str]) -> None:
    assert (
        'Unexpected keyword argument "prefx" for "NovaRouter"'
        in (mypy_report["bad_router_keyword"])
    )


def test_novarouter_spells_out_every_apirouter_keyword() -> None:
    """A FastAPI upgrade that adds an APIRouter keyword fails here until NovaRouter has it."""
    theirs = inspect.signature(APIRouter.__init__).parameters
    ours = inspect.signature(NovaRouter.__init__).parameters
    # ``routes`` is ours (the route table); APIRouter's list of routes is built from it.
    missing = sorted(set(theirs) - set(ours) - {"routes"})
    assert missing == []
    for name in set(theirs) & set(ours) - {"self", "routes"}:
        default = theirs[name].default
        mine = ours[name].default
        assert mine == default or getattr(mine, "value", 0) == getattr(default, "value", 1), name

"""What a user installs: the wheel carries the licence, the metadata and the type marker, and
the changelog has a section for the version being released."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import fastapi_nova

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    # The same command a release would run; pip brings hatchling into an isolated build env.
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (path,) = out.glob("fastapi_nova-*.whl")
    return zipfile.ZipFile(path)


@pytest.mark.slow
def test_the_wheel_ships_the_licence_and_the_type_marker(wheel: zipfile.ZipFile) -> None:
    dist_info = f"fastapi_nova-{fastapi_nova.__version__}.dist-info"
    licence = wheel.read(f"{dist_info}/licenses/LICENSE").decode()
    assert licence == (ROOT / "LICENSE").read_text()
    assert licence.startswith("MIT License")
    assert "fastapi_nova/py.typed" in wheel.namelist()


@pytest.mark.slow
def test_the_wheel_metadata_names_licence_and_classifiers(wheel: zipfile.ZipFile) -> None:
    dist_info = f"fastapi_nova-{fastapi_nova.__version__}.dist-info"
    metadata = Parser().parsestr(wheel.read(f"{dist_info}/METADATA").decode())
    assert metadata["License-Expression"] == "MIT"
    assert metadata["License-File"] == "LICENSE"
    classifiers = metadata.get_all("Classifier") or []
    assert "Framework :: FastAPI" in classifiers
    assert "Typing :: Typed" in classifiers
    # The Python versions claimed are within requires-python.
    versions = [c.rsplit(" :: ", 1)[1] for c in classifiers if re.fullmatch(r".*:: 3\.\d+", c)]
    assert versions and all(tuple(map(int, v.split("."))) >= (3, 11) for v in versions)
    assert metadata["Requires-Python"] == ">=3.11"


def test_the_changelog_has_the_current_version_and_an_unreleased_section() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## \[([^\]]+)\]", changelog, flags=re.MULTILINE)
    assert headings[0] == "Unreleased"
    assert fastapi_nova.__version__ in headings

"""A module that imports a package that is not installed (the CLI names the missing one)."""

from __future__ import annotations

import no_such_dependency_for_cli_tests  # noqa: F401

app = None

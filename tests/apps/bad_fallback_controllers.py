"""Controllers whose module's fallback controller has no ``resolve``."""

from __future__ import annotations

from typing import Any

from fastapi_nova import NovaRequest


class NoResolve:
    def __repr__(self) -> str:
        return "<NoResolve>"


fallback_controller = NoResolve()


def unknown_tag(req: NovaRequest) -> Any:
    return ("nope", 2)

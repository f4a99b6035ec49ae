"""A controller module without the ``_controller`` suffix: its default template is its name."""

from __future__ import annotations

from typing import Any

from fastapi_nova import NovaRequest


def show(req: NovaRequest) -> Any:
    return ("ok", {"who": "plain"})

"""Routes defined in this module: their default template directory is ``templates/`` here."""

from __future__ import annotations

from typing import Any

from fastapi_nova import NovaRouter
from tests.apps import main_controller, plain_views


def routes(environment: str) -> list[dict[str, Any]]:
    return [
        {
            "routes": [
                ("/", main_controller.index, {"methods": ["get"]}),
                ("/show/:id", main_controller.show, {"methods": ["get"]}),
                ("/login", main_controller.login, {"methods": ["get"]}),
                ("/missing", main_controller.missing, {"methods": ["get"]}),
                ("/unsafe", main_controller.unsafe, {"methods": ["get"]}),
                ("/text", main_controller.as_text, {"methods": ["get"]}),
                ("/plain", plain_views.show, {"methods": ["get"]}),
            ]
        }
    ]


def list_router(**kwargs: Any) -> NovaRouter:
    """A router built from a list here (the templates default to this module's directory)."""
    return NovaRouter(routes("dev"), **kwargs)

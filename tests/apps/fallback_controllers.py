"""Controllers whose module names a fallback controller."""

from __future__ import annotations

from typing import Any

from fastapi_nova import NovaRequest, controller
from tests.apps import my_fallback

fallback_controller = my_fallback


def unknown_tag(req: NovaRequest) -> Any:
    return ("nope", req.bindings.get("id"))


def non_tuple(req: NovaRequest) -> Any:
    return {"not": "a tuple"}


def wrong_arity(req: NovaRequest) -> Any:
    return ("json", 200, {})


def render(req: NovaRequest) -> Any:
    return ("render", "from fallback")


def invalid_again(req: NovaRequest) -> Any:
    return ("again",)


def fallback_raises(req: NovaRequest) -> Any:
    return ("explode",)


def good(req: NovaRequest) -> Any:
    return ("json", {"good": True})


async def fastapi_style(id: int) -> Any:
    return ("nope", id)


class OwnFallback:
    @staticmethod
    async def resolve(req: NovaRequest, invalid_return: Any) -> Any:
        return ("json", 203, {}, {"own": repr(invalid_return)})


@controller(fallback=OwnFallback)
def decorated(req: NovaRequest) -> Any:
    return ("nope", req.bindings.get("id"))

"""A fallback per function with @controller(fallback=...), and what happens
when it fails.
"""

from typing import Any

from fastapi import FastAPI

from fastapi_nova import NovaRequest, controller


class NotImplementedYet:
    """Any object with resolve(req, invalid_return) is a fallback; async def
    works too.
    """

    async def resolve(self, req: NovaRequest, invalid_return: Any) -> Any:
        body = {"error": "not implemented", "got": repr(invalid_return)}
        return ("json", 501, {}, body)


class RaisingFallback:
    def resolve(self, req: NovaRequest, invalid_return: Any) -> Any:
        raise RuntimeError("the fallback itself is broken")


class InvalidFallback:
    def resolve(self, req: NovaRequest, invalid_return: Any) -> Any:
        return ["still", "not", "a", "tuple"]


app = FastAPI()


@app.get("/draft")
@controller(fallback=NotImplementedYet())
def draft() -> Any:
    return None


@app.get("/raising")
@controller(fallback=RaisingFallback())
def raising() -> Any:
    return None


@app.get("/invalid")
@controller(fallback=InvalidFallback())
def invalid() -> Any:
    return None


@app.get("/no-fallback")
@controller
def no_fallback() -> Any:
    return {"a": "dict is not a tuple"}

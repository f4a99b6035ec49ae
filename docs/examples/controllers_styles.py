"""The two controller styles side by side, and the annotation that changes
the style.
"""

from typing import Any

from fastapi import FastAPI, Query
from pydantic import BaseModel

from fastapi_nova import AuthData, NovaRequest, NovaRouter


# Nova style: exactly one parameter, unannotated or annotated NovaRequest.
def search_nova(req: NovaRequest) -> Any:
    return ("json", {"q": req.parsed_qs.get("q", ""), "style": "nova"})


# FastAPI style: any other signature; FastAPI resolves and documents every
# parameter.
def search_fastapi(q: str = Query("", max_length=50), limit: int = 10) -> Any:
    return ("json", {"q": q, "limit": limit, "style": "fastapi"})


class Comment(BaseModel):
    text: str


async def add_comment(comment: Comment, user: AuthData) -> Any:
    return ("json", {"text": comment.text, "by": user})


def add_comment_nova(req: NovaRequest) -> Any:
    # The body is parsed before a Nova-style controller runs: req.json,
    # req.params. Parsed, not validated: check its shape, so a bad body is a
    # 400, not a 500.
    match req.json:
        case {"text": str(text)}:
            return ("json", {"text": text, "by": req.auth_data})
    return ("status", 400, {}, {"error": 'expected a JSON body {"text": ...}'})


# The trap: one parameter *annotated with something else* is FastAPI style, so
# FastAPI reads "req" as a required query parameter and answers 422 without
# calling this.
def trap(req: Any) -> Any:
    return ("json", {"never": "reached"})


def signed_in(req: NovaRequest) -> Any:
    return (True, "ann")


routes = [
    {"prefix": "", "security": signed_in, "routes": [
        ("/search/nova", search_nova, {"methods": ["get"]}),
        ("/search/fastapi", search_fastapi, {"methods": ["get"]}),
        ("/comments", add_comment, {"methods": ["post"]}),
        ("/comments/nova", add_comment_nova, {"methods": ["post"]}),
        ("/trap", trap, {"methods": ["get"]}),
    ]},
]

app = FastAPI()
app.include_router(NovaRouter(routes))

"""A Nova-style security function that declares the scheme it reads, and raises HTTPException."""

from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.security import HTTPBearer

from fastapi_nova import NovaRequest, NovaRouter, security_scheme

TOKENS = {"token-ann": {"user": "ann"}}


@security_scheme(HTTPBearer(description="A token from the login page"))
def bearer_auth(req: NovaRequest) -> Any:
    header = req.headers.get("authorization", "")
    if not header.startswith("Bearer "):
        return (False, {"www-authenticate": "Bearer"})  # 401: what the function says
    user = TOKENS.get(header.removeprefix("Bearer "))
    if user is None:  # FastAPI's habit works too: the app answers it as FastAPI would
        raise HTTPException(401, "unknown token", headers={"WWW-Authenticate": "Bearer"})
    return (True, user)


def whoami(req: NovaRequest) -> Any:
    return ("json", req.auth_data)


app = FastAPI()
app.include_router(NovaRouter([
    {"prefix": "/api", "security": bearer_auth, "routes": [
        ("/me", whoami, {"methods": ["get"]}),
    ]},
]))

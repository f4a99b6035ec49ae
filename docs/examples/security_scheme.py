"""Nova-style security that declares its scheme and raises HTTPException."""

from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.security import HTTPBearer

from fastapi_nova import NovaRequest, NovaRouter, security_scheme

TOKENS = {"token-ann": {"user": "ann"}}
BEARER = {"WWW-Authenticate": "Bearer"}


@security_scheme(HTTPBearer(description="A token from the login page"))
def bearer_auth(req: NovaRequest) -> Any:
    header = req.headers.get("authorization", "")
    if not header.startswith("Bearer "):
        return (False, BEARER)  # 401: the function's own answer
    user = TOKENS.get(header.removeprefix("Bearer "))
    if user is None:  # FastAPI's habit: answered as FastAPI answers it
        raise HTTPException(401, "unknown token", headers=BEARER)
    return (True, user)


def whoami(req: NovaRequest) -> Any:
    return ("json", req.auth_data)


app = FastAPI()
app.include_router(NovaRouter([
    {"prefix": "/api", "security": bearer_auth, "routes": [
        ("/me", whoami, {"methods": ["get"]}),
    ]},
]))

"""Security functions of the example app (Nova's ``my_first_nova_auth``)."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import Depends
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from fastapi_nova import NovaRequest


def username_password(req: NovaRequest) -> Any:
    """Nova-style security: the login form's password must be ``password``."""
    username = req.params.get("username")
    if isinstance(username, str) and username and req.params.get("password") == "password":
        return (True, {"username": username})
    return False


basic = HTTPBasic(description="admin / admin")


def admin_basic(credentials: Annotated[HTTPBasicCredentials, Depends(basic)]) -> Any:
    """FastAPI-style security: HTTP Basic, which /docs shows with an Authorize button."""
    user_ok = secrets.compare_digest(credentials.username.encode(), b"admin")
    password_ok = secrets.compare_digest(credentials.password.encode(), b"admin")
    if user_ok and password_ok:
        return (True, {"username": credentials.username})
    return (False, 401, {"www-authenticate": 'Basic realm="admin"'})

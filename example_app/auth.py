"""Security functions of the example app (Nova's ``my_first_nova_auth``)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any

import jinja2
from fastapi import Depends
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from fastapi_nova import NovaRequest

_templates = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True
)


def username_password(req: NovaRequest) -> Any:
    """Nova-style security: the login form's password must be ``password``.

    A failed login answers 401 with the form again and a message (not an empty body).
    """
    username = req.params.get("username")
    if isinstance(username, str) and username and req.params.get("password") == "password":
        return (True, {"username": username})
    form = _templates.get_template("login.html").render(
        message="Wrong username or password: any username, and the password is 'password'.",
        username=username if isinstance(username, str) else "",
    )
    return (False, 401, {"content-type": "text/html; charset=utf-8"}, form)


basic = HTTPBasic(description="admin / admin")


def admin_basic(credentials: Annotated[HTTPBasicCredentials, Depends(basic)]) -> Any:
    """FastAPI-style security: HTTP Basic, which /docs shows with an Authorize button."""
    user_ok = secrets.compare_digest(credentials.username.encode(), b"admin")
    password_ok = secrets.compare_digest(credentials.password.encode(), b"admin")
    if user_ok and password_ok:
        return (True, {"username": credentials.username})
    return (False, 401, {"www-authenticate": 'Basic realm="admin"'})

"""Nova-style security functions: one parameter, the request; the return value
decides.
"""

from typing import Any

from fastapi import FastAPI

from fastapi_nova import NovaRequest, NovaRouter

TOKENS = {
    "secret-ann": {"user": "ann", "admin": True},
    "secret-bob": {"user": "bob"},
}


def token_auth(req: NovaRequest) -> Any:
    token = req.headers.get("x-token")
    if token is None:
        # 401 with this header:
        return (False, {"www-authenticate": 'Token realm="api"'})
    user = TOKENS.get(token)
    if user is None:
        # 403 with a JSON body:
        return (False, 403, {}, {"error": "unknown token"})
    return (True, user)  # go on; the controller reads req.auth_data


def admins_only(req: NovaRequest) -> Any:
    user = TOKENS.get(req.headers.get("x-token", ""))
    return user is not None and user.get("admin", False)  # True, or False (401)


def browser_login(req: NovaRequest) -> Any:
    if "session" in req.request.cookies:
        return True
    return ("redirect", "/login")  # 302 to the login page


def whoami(req: NovaRequest) -> Any:
    return ("json", {"user": req.auth_data["user"]})


def stats(req: NovaRequest) -> Any:
    return ("json", {"users": len(TOKENS)})


def dashboard(req: NovaRequest) -> Any:
    return ("status", 200, {}, "<h1>Dashboard</h1>")


routes = [
    {"prefix": "/api", "security": token_auth, "routes": [
        ("/whoami", whoami, {"methods": ["get"]}),
    ]},
    {"prefix": "/admin", "security": admins_only, "routes": [
        ("/stats", stats, {"methods": ["get"]}),
    ]},
    {"prefix": "", "security": browser_login, "routes": [
        ("/dashboard", dashboard, {"methods": ["get"]}),
    ]},
]

app = FastAPI()
app.include_router(NovaRouter(routes))

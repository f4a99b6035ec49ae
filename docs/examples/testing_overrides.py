"""Tests replacing a group's security with dependency_overrides, both styles."""

from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi.security import APIKeyHeader
from fastapi.testclient import TestClient

from fastapi_nova import AuthData, NovaRequest, NovaRouter

api_key = APIKeyHeader(name="x-api-key")
REAL = (True, {"user": "real"})


def nova_auth(req: NovaRequest) -> Any:  # the real check: a token service...
    return REAL if req.headers.get("x-token") == "real" else False


def fastapi_auth(key: Annotated[str, Depends(api_key)]) -> Any:
    return REAL if key == "real" else False


def whoami(req: NovaRequest) -> Any:
    return ("json", req.auth_data)


async def quota(user: AuthData) -> Any:
    return ("json", {"user": user["user"], "quota": 10})


app = FastAPI()
app.include_router(NovaRouter([
    {"prefix": "/nova", "security": nova_auth, "routes": [
        ("/me", whoami, {"methods": ["get"]}),
    ]},
    {"prefix": "/api", "security": fastapi_auth, "routes": [
        ("/quota", quota),
    ]},
]))


def test_nova_style_security_overridden() -> None:
    app.dependency_overrides[nova_auth] = lambda req: (True, {"user": "test"})
    try:
        response = TestClient(app).get("/nova/me")  # no token needed now
        assert response.json() == {"user": "test"}
    finally:
        app.dependency_overrides.clear()


def test_fastapi_style_security_overridden() -> None:
    app.dependency_overrides[fastapi_auth] = lambda: (True, {"user": "test"})
    try:
        response = TestClient(app).get("/api/quota")  # no x-api-key needed
        assert response.json() == {"user": "test", "quota": 10}
    finally:
        app.dependency_overrides.clear()


def test_without_override_the_real_security_answers() -> None:
    client = TestClient(app)
    assert client.get("/nova/me").status_code == 401
    assert client.get("/api/quota").status_code == 401  # APIKeyHeader's

"""FastAPI-style security: its schemes show in /docs (the Authorize button)."""

from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi.security import APIKeyHeader

from fastapi_nova import AuthData, NovaRequest, NovaRouter

api_key = APIKeyHeader(name="x-api-key", description="try 'demo-key'")
KEYS = {"demo-key": {"client": "demo"}}


def key_auth(key: Annotated[str, Depends(api_key)]) -> Any:
    client = KEYS.get(key)
    if client is None:
        return (False, 403, {}, {"error": "unknown key"})
    return (True, client)


def usage(req: NovaRequest) -> Any:
    # A Nova-style controller reads what security returned in req.auth_data ...
    return ("json", {"client": req.auth_data["client"], "calls": 42})


def quota(client: AuthData, period: str = "day") -> Any:
    # ... a FastAPI-style one asks for it with the AuthData dependency.
    usage = {"client": client["client"], "period": period, "limit": 1000}
    return ("json", usage)


routes = [
    {"prefix": "/v1", "security": key_auth, "routes": [
        ("/usage", usage, {"methods": ["get"]}),
        ("/quota", quota, {"methods": ["get"]}),
    ]},
]

app = FastAPI()
app.include_router(NovaRouter(routes))

"""The route table (Nova's ``my_first_nova_router:routes/1``)."""

from __future__ import annotations

from example_app import auth
from example_app.controllers import (
    admin_controller,
    api_controller,
    errors_controller,
    main_controller,
    ws_handlers,
)
from fastapi_nova import RouteGroupDict, browser_client_path


def routes(environment: str) -> list[RouteGroupDict]:
    """Nova's route groups: public pages and sockets, the login-protected index, the API, admin."""
    return [
        {
            "prefix": "",
            "security": False,
            "routes": [
                ("/", main_controller.landing, {"methods": ["get"]}),
                ("/login", main_controller.login, {"methods": ["get"]}),
                # A lambda has no return annotation: "returns" tells OpenAPI (200, no body).
                (
                    "/heartbeat",
                    lambda req: ("status", 200),
                    {"methods": ["get"], "returns": ("status", 200)},
                ),
                ("/ws", ws_handlers.EchoHandler, {"protocol": "ws"}),
                (
                    "/chat",
                    ws_handlers.ChatHandler,
                    {
                        "protocol": "ws",
                        # The page's NovaSocket sends this a few times per idle_timeout.
                        "heartbeat": ws_handlers.CHAT_HEARTBEAT,
                        "idle_timeout": ws_handlers.CHAT_IDLE_TIMEOUT,
                    },
                ),
                ("/chat/members", ws_handlers.chat_members, {"methods": ["get"]}),
                ("/chat.html", main_controller.chat_page, {"methods": ["get"]}),
                # The browser client shipped with fastapi-nova, which chat.html loads.
                ("/js/nova-socket.js", browser_client_path()),
                (404, errors_controller.not_found, {}),
            ],
        },
        {
            "prefix": "",
            "security": auth.username_password,
            "routes": [("/", main_controller.index, {"methods": ["post"]})],
        },
        {
            "prefix": "/api",
            "security": False,
            "tags": ["users"],
            "routes": [
                ("/users", api_controller.index, {"methods": ["get"]}),
                ("/users/:id", api_controller.show, {"methods": ["get"]}),
                ("/users", api_controller.create, {"methods": ["post"], "status_code": 201}),
                ("/users/:id/xml", api_controller.show_xml, {"methods": ["get"]}),
                ("/broken", api_controller.broken, {"methods": ["get"]}),
            ],
        },
        {
            "prefix": "/admin",
            "security": auth.admin_basic,
            "tags": ["admin"],
            "routes": [("/stats", admin_controller.stats, {"methods": ["get"]})],
        },
    ]

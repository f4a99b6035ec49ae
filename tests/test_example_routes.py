"""The example app's controllers, fallback and security functions, unit-tested as plain
functions with ``fastapi_nova.testing.nova_request`` (no server, no router).

These test the example app (its answers for each input), not the testing helpers; the
helpers' own tests are in tests/test_testing.py.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fastapi.security import HTTPBasicCredentials

from example_app import auth
from example_app.controllers import (
    api_controller,
    errors_controller,
    fallback,
    main_controller,
)
from fastapi_nova.testing import nova_request


def test_unit_testing_the_example_api_controller() -> None:
    alice = {"id": 1, "name": "Alice", "email": "alice@example.com"}
    assert api_controller.show(nova_request("GET", "/api/users/1", bindings={"id": "1"})) == (
        "json",
        alice,
    )
    for missing in ("999999", "abc"):
        req = nova_request("GET", f"/api/users/{missing}", bindings={"id": missing})
        assert api_controller.show(req) == ("status", 404)
    assert api_controller.show_xml(nova_request(bindings={"id": "1"})) == ("xml", alice)
    tag, users = api_controller.index(nova_request("GET", "/api/users"))
    assert tag == "json" and alice in users
    assert api_controller.broken(nova_request()) == "something_unexpected"


def test_unit_testing_the_example_main_and_error_controllers() -> None:
    assert main_controller.login(nova_request("GET", "/login")) == ("ok", {}, {"view": "login"})
    req = nova_request("POST", "/", auth_data={"username": "ada"})
    assert main_controller.index(req) == ("ok", {"username": "ada"})
    page = errors_controller.not_found(nova_request("GET", "/nope", status_code=404))
    assert page == ("json", {"message": "Resource not found", "path": "/nope"})


def test_unit_testing_the_example_fallback(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="example_app.fallback"):
        answer = fallback.resolve(nova_request("GET", "/api/broken"), "something_unexpected")
    assert answer == ("status", 500, {}, {"error": "internal server error"})
    assert "'something_unexpected'" in caplog.text


DENIED = (False, 401, {"content-type": "text/html; charset=utf-8"})


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"username": "ada", "password": "password"}, (True, {"username": "ada"})),
        ({"username": "ada", "password": "wrong"}, DENIED),
        ({"username": "ada"}, DENIED),
        ({"password": "password"}, DENIED),
        ({"username": "", "password": "password"}, DENIED),
        ({"username": ["ada"], "password": "password"}, DENIED),
        ({}, DENIED),
    ],
)
def test_unit_testing_the_example_security_function(params: dict[str, Any], expected: Any) -> None:
    req = nova_request("POST", "/", params=params)
    answer = auth.username_password(req)
    if expected is DENIED:  # a 401 that shows the login form again, with a message
        assert answer[:3] == DENIED and "Wrong username or password" in answer[3]
    else:
        assert answer == expected


def test_fastapi_style_security_is_a_plain_function_too() -> None:
    # No NovaRequest needed: a FastAPI-style security function takes what its schemes give.
    ok = auth.admin_basic(HTTPBasicCredentials(username="admin", password="admin"))
    assert ok == (True, {"username": "admin"})
    denied = auth.admin_basic(HTTPBasicCredentials(username="admin", password="nope"))
    assert denied == (False, 401, {"www-authenticate": 'Basic realm="admin"'})

"""Templates: default view names, ``view`` options, directories, missing templates, escaping."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from fastapi_nova import NovaRouter, TemplateNotFoundError, controller
from fastapi_nova.templates import _default_view, _finder_for, _template_name, _TemplateFinder
from tests.apps import main_controller, plain_views, view_app

APPS = Path(view_app.__file__).parent


def make_client(router: NovaRouter) -> TestClient:
    app = FastAPI()
    app.include_router(router)
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def client() -> TestClient:
    return make_client(NovaRouter(view_app.routes))


def test_default_template_of_a_main_controller_is_main_html(client: TestClient) -> None:
    response = client.get("/?title=Hello")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text == "<h1>Hello</h1>"


def test_view_tag_renders_the_default_template_too(client: TestClient) -> None:
    assert client.get("/show/42").text == "<h1>42</h1>"


def test_module_without_controller_suffix_uses_its_whole_name(client: TestClient) -> None:
    assert client.get("/plain").text == "<p>plain</p>"


def test_view_option_names_the_template(client: TestClient) -> None:
    assert client.get("/login?user=ann").text == "<form>ann</form>"


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("app.controllers.main_controller", "main.html"),
        ("main_controller", "main.html"),
        ("app.plain_views", "plain_views.html"),
        ("app.controller", "controller.html"),  # only a "_controller" suffix is dropped
        ("app.my_controller_x", "my_controller_x.html"),
    ],
)
def test_default_view_names(module: str, expected: str) -> None:
    def ctrl(req: Any) -> Any:
        return req

    ctrl.__module__ = module
    assert _default_view(ctrl) == expected


def test_default_view_of_the_real_modules() -> None:
    assert _default_view(main_controller.index) == "main.html"
    assert _default_view(plain_views.show) == "plain_views.html"


@pytest.mark.parametrize(
    ("view", "expected"), [("login", "login.html"), ("mail.txt", "mail.txt"), ("a/b", "a/b.html")]
)
def test_template_name(view: str, expected: str) -> None:
    assert _template_name(view) == expected


def test_templates_default_to_the_directory_of_the_routes_function() -> None:
    router = NovaRouter(view_app.routes)

    assert router.nova_options.templates.directories == ((APPS / "templates").resolve(),)


def test_templates_default_to_the_directory_of_the_module_building_a_list() -> None:
    client = make_client(view_app.list_router())

    assert client.get("/?title=L").text == "<h1>L</h1>"


def test_relative_templates_option_is_relative_to_the_routes_module() -> None:
    client = make_client(NovaRouter(view_app.routes, templates="alt_templates"))

    assert client.get("/?title=x").text == "<h2>alt x</h2>"


def test_several_template_directories_are_searched_in_order(tmp_path: Path) -> None:
    (tmp_path / "main.html").write_text("first {{ title }}")
    client = make_client(NovaRouter(view_app.routes, templates=[tmp_path, APPS / "templates"]))

    assert client.get("/?title=x").text == "first x"
    assert client.get("/login?user=u").text == "<form>u</form>"  # only in the second


def test_missing_template_is_500_and_logs_template_and_directories(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="fastapi_nova"):
        response = client.get("/missing")

    assert response.status_code == 500
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors, "no ERROR was logged"
    message = errors[-1].getMessage()
    assert "'nowhere.html' not found" in message
    assert str((APPS / "templates").resolve()) in message
    assert "main_controller.missing" in message


def test_missing_default_template_names_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(NovaRouter(view_app.routes, templates=tmp_path))

    with caplog.at_level(logging.ERROR, logger="fastapi_nova"):
        assert client.get("/").status_code == 500

    assert "'main.html' not found" in caplog.text
    assert str(tmp_path.resolve()) in caplog.text


def test_html_templates_autoescape(client: TestClient) -> None:
    response = client.get("/unsafe", params={"title": "<script>alert(1)</script>"})

    assert response.text == "<h1>&lt;script&gt;alert(1)&lt;/script&gt;</h1>"


def test_non_html_templates_do_not_escape(client: TestClient) -> None:
    assert client.get("/text", params={"title": "<b>"}).text == "raw <b>"


def test_finder_raises_template_not_found_with_directories(tmp_path: Path) -> None:
    finder = _TemplateFinder([tmp_path, tmp_path / "b"])

    with pytest.raises(
        TemplateNotFoundError,
        match=f"^template 'x.html' not found; searched: {tmp_path.resolve()}, "
        f"{(tmp_path / 'b').resolve()}$",
    ):
        finder.render("x.html", {})


def test_finder_without_directories_says_so() -> None:
    with pytest.raises(TemplateNotFoundError, match=r"searched: \(no directories\)$"):
        _TemplateFinder([]).render("x.html", {})


def test_finder_for_defaults_to_templates_beside_the_module() -> None:
    assert _finder_for(None, "tests.apps.view_app").directories == ((APPS / "templates").resolve(),)


def test_decorator_defaults_to_templates_beside_the_function_module() -> None:
    app = FastAPI()
    app.get("/")(controller(main_controller.index))

    assert TestClient(app).get("/?title=d").text == "<h1>d</h1>"

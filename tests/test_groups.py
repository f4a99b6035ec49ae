"""Route groups: every malformed table is a RouteConfigError naming group, route and expectation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from starlette.testclient import TestClient

from fastapi_nova import NovaRouter, RouteConfigError, RouteGroup
from fastapi_nova.groups import _HttpRouteSpec, _parse_groups, _StaticRouteSpec, _StatusPageSpec

HERE = Path(__file__).parent


def ctrl(req):
    return ("json", "ctrl")


def other(req):
    return ("json", "other")


def fastapi_ctrl(id: int) -> Any:
    return ("json", id)


def ws_function(req):
    return ("ok", {})


def group(*routes: Any, **keys: Any) -> dict[str, Any]:
    return {"routes": list(routes), **keys}


def raises(groups: Any, message: str) -> None:
    with pytest.raises(RouteConfigError, match="^" + re.escape(message) + "$"):
        NovaRouter(groups)


def raises_start(groups: Any, message: str) -> None:
    with pytest.raises(RouteConfigError, match="^" + re.escape(message)):
        NovaRouter(groups)


# --------------------------------------------------------------------------- the design example


def test_the_design_message_for_a_str_methods() -> None:
    groups = [
        group(("/a", ctrl)),
        group(("/b", ctrl), prefix="/b"),
        group(("/users/:id", ctrl, {"methods": "get"}), prefix="/api"),
    ]
    raises(
        groups,
        "group 2 (prefix '/api'), route '/users/:id': methods must be a list of HTTP method "
        "names, got 'get'",
    )


def test_route_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        NovaRouter("nope")


# --------------------------------------------------------------------------- groups


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ("nope", "routes must be a list of groups, got 'nope'"),
        ({"routes": []}, "routes must be a list of groups, got {'routes': []}"),
        ([3], "group 0: expected a dict or RouteGroup, got 3"),
        (
            [group(), {"routes": [], "secure": False}],
            "group 1 (prefix ''): unknown key 'secure'; a group takes prefix, security, routes, "
            "tags, plugins, dependencies",
        ),
        ([{"prefix": "/a"}], "group 0 (prefix '/a'): routes is required (a list of route tuples)"),
        (
            [{"routes": "x"}],
            "group 0 (prefix ''): routes must be a list of route tuples, got 'x'",
        ),
        ([group(prefix=3)], "group 0 (prefix 3): prefix must be a str, got 3"),
        ([group(prefix="api")], "group 0 (prefix 'api'): prefix must be empty or start with '/'"),
        (
            [group(security=True)],
            "group 0 (prefix ''): security must be False or a callable, got True",
        ),
        (
            [group(security="auth.check")],
            "group 0 (prefix ''): security must be False or a callable, got 'auth.check'",
        ),
        (
            [group(security=None)],
            "group 0 (prefix ''): security must be False or a callable, got None",
        ),
        ([group(tags="a")], "group 0 (prefix ''): tags must be a list of str, got 'a'"),
        ([group(tags=[1])], "group 0 (prefix ''): tags must be a list of str, got [1]"),
        (
            [group(plugins=[3])],
            "group 0 (prefix ''): plugins must hold callables or Depends(...), got 3",
        ),
        (
            [group(dependencies="x")],
            "group 0 (prefix ''): dependencies must be a list of dependencies, got 'x'",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 30 else None,
)
def test_bad_groups(groups: Any, message: str) -> None:
    raises(groups, message)


@pytest.mark.parametrize(
    "raw",
    [
        RouteGroup(prefix="/api", routes=[("/users/:id", ctrl, {"methods": "get"})]),
        {"prefix": "/api", "routes": [("/users/:id", ctrl, {"methods": "get"})]},
    ],
    ids=["typed", "dict"],
)
def test_typed_groups_are_validated_like_dicts(raw: Any) -> None:
    raises(
        [group(), raw],
        "group 1 (prefix '/api'), route '/users/:id': methods must be a list of HTTP method "
        "names, got 'get'",
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"security": True}, "group 0 (prefix ''): security must be False or a callable, got True"),
        ({"prefix": "x"}, "group 0 (prefix 'x'): prefix must be empty or start with '/'"),
        ({"tags": "t"}, "group 0 (prefix ''): tags must be a list of str, got 't'"),
        (
            {"plugins": [1]},
            "group 0 (prefix ''): plugins must hold callables or Depends(...), got 1",
        ),
    ],
)
def test_typed_group_faults(kwargs: dict[str, Any], message: str) -> None:
    raises([RouteGroup(routes=[], **kwargs)], message)


def test_typed_and_dict_groups_build_the_same_routes() -> None:
    def sec(req):
        return True

    def plugin() -> None:
        return None

    typed = RouteGroup(
        prefix="/api",
        security=sec,
        tags=["t"],
        plugins=[plugin],
        routes=[("/u/:id", ctrl, {"methods": ["get"]})],
    )
    as_dict = {
        "prefix": "/api",
        "security": sec,
        "tags": ["t"],
        "plugins": [plugin],
        "routes": [("/u/:id", ctrl, {"methods": ["get"]})],
    }

    def openapi(raw: Any) -> Any:
        app = FastAPI()
        app.include_router(NovaRouter([raw]))
        return app.openapi()["paths"]

    assert openapi(typed) == openapi(as_dict)
    assert openapi(typed)["/api/u/{id}"]["get"]["tags"] == ["t"]


# --------------------------------------------------------------------------- route shapes


@pytest.mark.parametrize(
    ("route", "message"),
    [
        (
            "/x",
            "group 0 (prefix ''), route 0: expected a tuple (path, controller[, options]), "
            "got '/x'",
        ),
        (
            ("/x",),
            "group 0 (prefix ''), route 0: expected a tuple (path, controller[, options]), "
            "got ('/x',)",
        ),
        (
            ("/x", ctrl, {}, 1),
            "group 0 (prefix ''), route 0: expected a tuple (path, controller[, options]), got "
            f"('/x', {ctrl!r}, {{}}, 1)",
        ),
        (
            (b"/x", ctrl),
            "group 0 (prefix ''), route b'/x': path must be a str (or a status code), got b'/x'",
        ),
        (
            (True, ctrl),
            "group 0 (prefix ''), route True: path must be a str (or a status code), got True",
        ),
        (("x", ctrl), "group 0 (prefix ''), route 'x': path must start with '/'"),
        (("", ctrl), "group 0 (prefix ''), route '': path must start with '/'"),
        (
            ("/x", ctrl, ["get"]),
            "group 0 (prefix ''), route '/x': options must be a dict, got ['get']",
        ),
        (("/x", 3), "group 0 (prefix ''), route '/x': controller must be callable, got 3"),
    ],
)
def test_bad_route_shapes(route: Any, message: str) -> None:
    raises([group(route)], message)


def test_a_list_is_accepted_as_a_route() -> None:
    router = NovaRouter([group(["/x", ctrl, {"methods": ["get"]}])])
    assert [r.path for r in router.routes] == ["/x"]


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/u/:1d", "bad path segment ':1d'"),
        ("/u/:", "bad path segment ':'"),
        ("/u/:my-id", "bad path segment ':my-id'"),
        ("/u/{id", "bad path segment '{id'"),
        ("/u/[x]", "bad path segment '[x]'"),
    ],
)
def test_bad_bindings(path: str, detail: str) -> None:
    raises(
        [group((path, ctrl))],
        f"group 0 (prefix ''), route {path!r}: {detail}: a binding is ':name' with name a Python "
        "identifier, a wildcard is a last segment '[...]'",
    )


def test_a_binding_twice() -> None:
    raises(
        [group(("/u/:id/:id", ctrl))],
        "group 0 (prefix ''), route '/u/:id/:id': binding 'id' appears twice (or is reserved)",
    )


def test_a_binding_in_the_prefix_and_the_route() -> None:
    raises(
        [group(("/x/:id", ctrl), prefix="/u/:id")],
        "group 0 (prefix '/u/:id'), route '/x/:id': binding 'id' appears twice (or is reserved)",
    )


def test_the_wildcard_name_is_reserved() -> None:
    raises(
        [group(("/u/:pathinfo", ctrl))],
        "group 0 (prefix ''), route '/u/:pathinfo': binding 'pathinfo' appears twice "
        "(or is reserved)",
    )


def test_wildcard_not_last() -> None:
    raises(
        [group(("/u/[...]/x", ctrl))],
        "group 0 (prefix ''), route '/u/[...]/x': a [...] wildcard is only allowed as the last "
        "segment",
    )


# --------------------------------------------------------------------------- methods and options


def test_unknown_method_name_like_the_guides_update() -> None:
    raises(
        [group(("/x", ctrl, {"methods": ["get", "update"]}))],
        "group 0 (prefix ''), route '/x': unknown HTTP method 'update'; expected one of delete, "
        "get, head, options, patch, post, put, trace",
    )


@pytest.mark.parametrize("methods", ["get", ("get", 1), {"get": True}, None])
def test_methods_must_be_a_list_of_names(methods: Any) -> None:
    raises(
        [group(("/x", ctrl, {"methods": methods}))],
        f"group 0 (prefix ''), route '/x': methods must be a list of HTTP method names, "
        f"got {methods!r}",
    )


def test_empty_methods() -> None:
    raises(
        [group(("/x", ctrl, {"methods": []}))],
        "group 0 (prefix ''), route '/x': methods must not be empty (leave it out to answer "
        "every method)",
    )


def test_methods_are_case_insensitive_and_deduplicated() -> None:
    specs = _parse_groups([group(("/x", ctrl, {"methods": ["GET", "get", "Post"]}))], base_dir=HERE)
    assert isinstance(specs[0], _HttpRouteSpec) and specs[0].methods == ("GET", "POST")


def test_unknown_option() -> None:
    raises_start(
        [group(("/x", ctrl, {"method": ["get"]}))],
        "group 0 (prefix ''), route '/x': unknown option 'method'; expected methods, protocol, "
        "returns or a FastAPI route option (callbacks, dependencies, deprecated, description,",
    )


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("summary", 3, "str"),
        ("description", b"x", "str"),
        ("name", None, "str"),
        ("status_code", "201", "int"),
        ("status_code", True, "int"),
        ("deprecated", "yes", "bool"),
        ("include_in_schema", 0, "bool"),
        ("tags", "a", "list or tuple"),
        ("responses", [404], "dict"),
        ("dependencies", "dep", "list or tuple"),
    ],
)
def test_wrong_option_types(option: str, value: Any, expected: str) -> None:
    raises(
        [group(("/x", ctrl, {option: value}))],
        f"group 0 (prefix ''), route '/x': option {option} must be {expected}, got {value!r}",
    )


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("status_code", 999, "option status_code must be an HTTP status (100..599), got 999"),
        ("status_code", 0, "option status_code must be an HTTP status (100..599), got 0"),
        ("tags", ["users", 1], "option tags must be a list of str, got ['users', 1]"),
    ],
)
def test_wrong_option_values(option: str, value: Any, message: str) -> None:
    raises([group(("/x", ctrl, {option: value}))], f"group 0 (prefix ''), route '/x': {message}")


class NotAModel:
    """Neither a pydantic model nor a type FastAPI can read a parameter as."""


def unreadable(thing: NotAModel) -> Any:
    return ("json", "never")  # pragma: no cover - the route is refused


def unreadable_security(thing: NotAModel) -> Any:
    return True  # pragma: no cover - the route is refused


@pytest.mark.parametrize(
    ("groups", "route"),
    [
        ([group(("/x", unreadable), prefix="/p")], "'/x'"),
        ([group(("/x", ctrl, {"response_model": NotAModel}), prefix="/p")], "'/x'"),
        ([group(("/x", ctrl, {"responses": {404: "gone"}}), prefix="/p")], "'/x'"),
        ([group(("/x", ctrl), prefix="/p", security=unreadable_security)], "'/x'"),
        ([group(("/x", HERE), prefix="/p", plugins=[unreadable])], "'/x'"),
    ],
    ids=["controller", "response_model", "responses", "security", "static plugin"],
)
def test_what_fastapi_refuses_names_the_group_and_route(groups: Any, route: str) -> None:
    raises_start(groups, f"group 0 (prefix '/p'), route {route}: FastAPI rejected it: ")


def test_operation_id_needs_exactly_one_documented_method() -> None:
    raises(
        [group(("/x", ctrl, {"operation_id": "get_x"}))],
        "group 0 (prefix ''), route '/x': operation_id names one operation, but this route "
        "documents 5 (GET, POST, PUT, PATCH, DELETE); give it exactly one method",
    )
    raises(
        [group(("/x", ctrl, {"methods": ["get", "head"], "operation_id": "get_x"}))],
        "group 0 (prefix ''), route '/x': operation_id names one operation, but this route "
        "documents 2 (GET, HEAD); give it exactly one method",
    )


def test_operation_id_with_one_method() -> None:
    app = FastAPI()
    app.include_router(
        NovaRouter([group(("/x", ctrl, {"methods": ["get"], "operation_id": "gx"}))])
    )

    assert app.openapi()["paths"]["/x"]["get"]["operationId"] == "gx"


def test_route_dependencies_must_be_callables() -> None:
    raises(
        [group(("/x", ctrl, {"dependencies": [1]}))],
        "group 0 (prefix ''), route '/x': dependencies must hold callables or Depends(...), got 1",
    )


def test_route_dependencies_accept_depends_and_callables() -> None:
    def dep() -> None:
        return None

    router = NovaRouter([group(("/x", ctrl, {"dependencies": [Depends(dep), dep]}))])
    assert router.routes  # built


def test_bad_protocol() -> None:
    raises(
        [group(("/ws", ctrl, {"protocol": "wss"}))],
        "group 0 (prefix ''), route '/ws': protocol must be 'http' or 'ws', got 'wss'",
    )


def test_a_websocket_route_needs_a_handler_class_not_a_function() -> None:
    raises(
        [group(("/ws", ws_function, {"protocol": "ws"}))],
        f"group 0 (prefix ''), route '/ws': a 'ws' route takes a NovaWebSocket subclass, "
        f"got {ws_function!r}",
    )


# --------------------------------------------------------------------------- duplicates


def test_duplicate_path_and_method() -> None:
    raises(
        [group(("/x", ctrl, {"methods": ["get"]}), ("/x", other, {"methods": ["post", "get"]}))],
        "group 0 (prefix ''), route '/x': GET /x is already routed by group 0 (prefix ''), "
        "route '/x'",
    )


def test_duplicate_with_differently_named_bindings() -> None:
    raises(
        [
            group(("/u/:id", ctrl, {"methods": ["get"]})),
            group(("/:uid", other, {"methods": ["get"]}), prefix="/u"),
        ],
        "group 1 (prefix '/u'), route '/:uid': GET /u/{uid} is already routed by group 0 "
        "(prefix ''), route '/u/:id'",
    )


def test_duplicate_across_prefixes_and_slashes() -> None:
    raises(
        [
            group(("/api/users/", ctrl, {"methods": ["put"]})),
            group(("//users", other, {"methods": ["put"]}), prefix="/api"),
        ],
        "group 1 (prefix '/api'), route '//users': PUT /api/users is already routed by group 0 "
        "(prefix ''), route '/api/users/'",
    )


def test_two_default_routes_on_one_path() -> None:
    raises(
        [group(("/x", ctrl), ("/x", other))],
        "group 0 (prefix ''), route '/x': every method of /x is already routed by group 0 "
        "(prefix ''), route '/x'",
    )


def test_a_binding_and_a_wildcard_are_not_duplicates() -> None:
    router = NovaRouter(
        [group(("/f/:id", ctrl, {"methods": ["get"]}), ("/f/[...]", other, {"methods": ["get"]}))]
    )
    app = FastAPI()
    app.include_router(router)
    client = TestClient(app)

    assert client.get("/f/1").json() == "ctrl"
    assert client.get("/f/1/2").json() == "other"


def test_a_static_route_and_a_get_route_on_one_path_are_duplicates(tmp_path: Path) -> None:
    raises(
        [group(("/s", str(tmp_path)), ("/s", ctrl, {"methods": ["get"]}))],
        "group 0 (prefix ''), route '/s': GET /s is already routed by group 0 (prefix ''), "
        "route '/s'",
    )


def test_a_post_route_beside_a_static_route_is_fine(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("index")
    app = FastAPI()
    app.include_router(
        NovaRouter([group(("/s", str(tmp_path)), ("/s", ctrl, {"methods": ["post"]}))])
    )
    client = TestClient(app)

    assert client.get("/s/").text == "index"
    assert client.post("/s").json() == "ctrl"


def test_duplicate_status_page() -> None:
    raises(
        [group((404, ctrl, {})), group((404, other, {}), prefix="/b")],
        "group 1 (prefix '/b'), route 404: status page 404 is already defined by group 0 "
        "(prefix '')",
    )


def test_duplicate_static_route(tmp_path: Path) -> None:
    raises_start(
        [group(("/s", str(tmp_path)), ("/s/", str(tmp_path)))],
        "group 0 (prefix ''), route '/s/': GET /s is already routed by group 0 (prefix ''), "
        "route '/s'",
    )


# --------------------------------------------------------------------------- explicit beats default


def test_explicit_methods_beat_a_default_route() -> None:
    app = FastAPI()
    app.include_router(NovaRouter([group(("/x", ctrl), ("/x", other, {"methods": ["get"]}))]))
    client = TestClient(app)

    assert client.get("/x").json() == "other"  # GET is claimed explicitly
    assert client.post("/x").json() == "ctrl"
    assert client.delete("/x").json() == "ctrl"


def test_explicit_methods_beat_a_default_route_declared_later() -> None:
    specs = _parse_groups(
        [group(("/x", other, {"methods": ["get", "post"]})), group(("/x", ctrl))], base_dir=HERE
    )
    by_controller = {s.controller: s.methods for s in specs if isinstance(s, _HttpRouteSpec)}
    assert by_controller[other] == ("GET", "POST")
    assert by_controller[ctrl] == ("PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


def test_a_default_route_whose_methods_are_all_claimed_disappears() -> None:
    every = ["get", "post", "put", "patch", "delete", "head", "options"]
    specs = _parse_groups([group(("/x", ctrl), ("/x", other, {"methods": every}))], base_dir=HERE)
    assert [s.controller for s in specs if isinstance(s, _HttpRouteSpec)] == [other]


# --------------------------------------------------------------------------- status pages


@pytest.mark.parametrize("code", [200, 302, 399, 600, 1000])
def test_status_page_code_out_of_range(code: int) -> None:
    raises(
        [group((code, ctrl, {}))],
        f"group 0 (prefix ''), route {code}: a status page code must be 400..599, got {code}",
    )


def test_status_page_controller_must_be_nova_style() -> None:
    raises(
        [group((404, fastapi_ctrl, {}))],
        "group 0 (prefix ''), route 404: a status page controller must be Nova-style (one "
        f"parameter, the request), got {fastapi_ctrl!r}",
    )


def test_status_page_takes_no_options() -> None:
    raises(
        [group((404, ctrl, {"methods": ["get"]}))],
        "group 0 (prefix ''), route 404: status page routes take no options, "
        "got {'methods': ['get']}",
    )


def test_status_page_spec() -> None:
    specs = _parse_groups([group((404, ctrl, {}), (500, other))], base_dir=HERE)
    assert [(s.code, s.controller) for s in specs if isinstance(s, _StatusPageSpec)] == [
        (404, ctrl),
        (500, other),
    ]


# --------------------------------------------------------------------------- static routes


def test_missing_static_path() -> None:
    raises(
        [group(("/s", "no/such/dir"))],
        f"group 0 (prefix ''), route '/s': static path 'no/such/dir' does not exist "
        f"(also tried {HERE})",
    )


def test_static_path_relative_to_the_routes_module(tmp_path: Path) -> None:
    specs = _parse_groups([group(("/s", "apps/templates"))], base_dir=HERE)
    assert isinstance(specs[0], _StaticRouteSpec)
    assert specs[0].local == (HERE / "apps" / "templates").resolve()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"listdir": True},
            "unknown static option 'listdir'; "
            "expected hide_dotfiles, index_files, list_dir, mimetype",
        ),
        (
            {"methods": ["get"]},
            "unknown static option 'methods'; "
            "expected hide_dotfiles, index_files, list_dir, mimetype",
        ),
        ({"list_dir": "yes"}, "list_dir must be a bool, got 'yes'"),
        ({"hide_dotfiles": 1}, "hide_dotfiles must be a bool, got 1"),
        (
            {"index_files": "index.html"},
            "index_files must be a list of file names, got 'index.html'",
        ),
        ({"index_files": [1]}, "index_files must be a list of file names, got [1]"),
        ({"mimetype": "text/plain"}, "mimetype is a str, for a static file (not a directory)"),
    ],
)
def test_static_option_errors(tmp_path: Path, options: dict[str, Any], message: str) -> None:
    raises([group(("/s", str(tmp_path), options))], f"group 0 (prefix ''), route '/s': {message}")


def test_static_hide_dotfiles_is_for_a_directory(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("f")
    raises(
        [group(("/f", str(tmp_path / "f.txt"), {"hide_dotfiles": True}))],
        "group 0 (prefix ''), route '/f': hide_dotfiles is for a static directory (not a file)",
    )


def test_static_mimetype_must_be_a_str(tmp_path: Path) -> None:
    file = tmp_path / "f.txt"
    file.write_text("x")
    raises(
        [group(("/f", str(file), {"mimetype": 3}))],
        "group 0 (prefix ''), route '/f': mimetype is a str, for a static file (not a directory)",
    )


def test_static_path_cannot_have_bindings(tmp_path: Path) -> None:
    raises(
        [group(("/s/:x", str(tmp_path)))],
        "group 0 (prefix ''), route '/s/:x': a static path cannot have bindings",
    )


def test_every_fault_is_found_at_build_time_not_on_request() -> None:
    # A table whose last route is bad: nothing is built.
    with pytest.raises(RouteConfigError):
        NovaRouter([group(("/ok", ctrl)), group(("/bad", ctrl, {"methods": ["nope"]}))])

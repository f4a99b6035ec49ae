"""The compiled route index answers exactly as a linear scan of the table would.

The oracle is Starlette's own matching (``compile_path`` regexes tried in table order: the
first route whose methods include the request's wins, else the path's routes answer 405);
hypothesis draws route tables and requests, including overlapping paths and convertors.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.routing import compile_path

from fastapi_nova._route_index import Found, IndexedRoute, RouteIndex

METHODS = ("GET", "POST", "DELETE")


def route(path: str, methods: tuple[str, ...], target: Any = None) -> IndexedRoute[Any]:
    regex, path_format, convertors = compile_path(path)
    answered = {*methods, *(("HEAD",) if "GET" in methods else ())}
    return IndexedRoute(
        path_format=path_format,
        path_regex=regex,
        convertors=convertors,
        methods=frozenset(answered),
        allow=frozenset(methods),
        target=path if target is None else target,
    )


def linear(routes: list[IndexedRoute[Any]], path: str, method: str) -> Found[Any] | None:
    """What a linear scan of the table answers (Starlette's semantics)."""
    allow: set[str] = set()
    full: tuple[IndexedRoute[Any], dict[str, Any]] | None = None
    for candidate in routes:
        found = candidate.path_regex.match(path)
        if found is None:
            continue
        allow |= candidate.allow
        if full is None and method in candidate.methods:
            params = {k: candidate.convertors[k].convert(v) for k, v in found.groupdict().items()}
            full = (candidate, params)
    if full is not None:
        return Found(full[0], full[1], frozenset(allow))
    return Found(None, {}, frozenset(allow)) if allow else None


SEGMENTS = st.sampled_from(["users", "me", "1", "a", "{id}", "{id:int}", "{n}", "x.txt"])


@st.composite
def route_paths(draw: st.DrawFn) -> str:
    segments = draw(st.lists(SEGMENTS, min_size=0, max_size=3))
    names: list[str] = []
    out: list[str] = []
    for segment in segments:
        if segment.startswith("{"):
            name = f"p{len(names)}"
            names.append(name)
            segment = segment.replace("id", name).replace("{n}", "{" + name + "}")
        out.append(segment)
    if draw(st.booleans()) and draw(st.booleans()):
        out.append("{rest:path}")
    return "/" + "/".join(out)


REQUEST_PATHS = st.lists(
    st.sampled_from(["users", "me", "1", "42", "a", "x.txt", "", "b/c"]), max_size=4
).map(lambda segments: "/" + "/".join(segments))


@settings(max_examples=200, deadline=2000)
@given(
    table=st.lists(
        st.tuples(route_paths(), st.lists(st.sampled_from(METHODS), min_size=1, max_size=2)),
        max_size=8,
    ),
    path=REQUEST_PATHS,
    method=st.sampled_from((*METHODS, "HEAD", "PUT")),
)
def test_index_answers_as_a_linear_scan(
    table: list[tuple[str, list[str]]], path: str, method: str
) -> None:
    routes = [route(p, tuple(dict.fromkeys(m)), target=i) for i, (p, m) in enumerate(table)]
    got = RouteIndex(routes).lookup(path, method)
    expected = linear(routes, path, method)
    assert (got is None) == (expected is None)
    if got is not None and expected is not None:
        assert got.route is expected.route
        assert got.path_params == expected.path_params
        assert got.allow == expected.allow


def test_table_order_decides_between_overlapping_paths() -> None:
    me_first = RouteIndex([route("/users/me", ("GET",)), route("/users/{id}", ("GET",))])
    id_first = RouteIndex([route("/users/{id}", ("GET",)), route("/users/me", ("GET",))])

    found = me_first.lookup("/users/me", "GET")
    assert found is not None and found.route is not None
    assert found.route.target == "/users/me"
    found = id_first.lookup("/users/me", "GET")
    assert found is not None and found.route is not None
    assert (found.route.target, found.path_params) == ("/users/{id}", {"id": "me"})


def test_a_405_lists_the_methods_of_every_route_matching_the_path() -> None:
    index = RouteIndex([route("/users/me", ("GET",)), route("/users/{id}", ("DELETE",))])

    found = index.lookup("/users/me", "PUT")

    assert found is not None and found.route is None
    assert found.allow == {"GET", "DELETE"}


def test_convertors_convert_and_a_trailing_path_takes_the_rest() -> None:
    index = RouteIndex([route("/n/{id:int}", ("GET",)), route("/f/{rest:path}", ("GET",))])

    number = index.lookup("/n/42", "GET")
    rest = index.lookup("/f/a/b/", "GET")

    assert number is not None and number.path_params == {"id": 42}
    assert rest is not None and rest.path_params == {"rest": "a/b/"}
    assert index.lookup("/n/x", "GET") is None
    assert index.lookup("/f", "GET") is None


@pytest.mark.parametrize("path", ["/a/{p:path}/b", "/file-{name}.txt"])
def test_paths_the_trie_cannot_hold_still_match_in_table_order(path: str) -> None:
    index = RouteIndex([route(path, ("GET",)), route("/{x}/{y}/b", ("GET",))])
    request = "/a/q/b" if path.startswith("/a") else "/file-x.txt"

    found = index.lookup(request, "GET")

    assert found is not None and found.route is not None and found.route.target == path


def test_size_does_not_change_the_answer_for_the_last_route() -> None:
    table = [route(f"/r{k}/users/{{id}}", ("GET",)) for k in range(1000)]
    table.append(route("/api/users/{id}", ("GET",)))

    found = RouteIndex(table).lookup("/api/users/7", "GET")

    assert found is not None and found.route is table[-1] and found.path_params == {"id": "7"}

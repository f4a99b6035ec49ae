"""The compiled route index: one lookup per request, whatever the size of the route table.

A NovaRouter's HTTP routes are compiled once into a segment trie: static segments are dict
keys, a binding (`{id}`, `{id:int}`) is a child tried against its convertor, a trailing
`{name:path}` takes the rest of the path. A lookup walks the request path once and collects
every route whose path matches; which one answers is then decided exactly as a linear scan of
the table would decide it (the first route of the table whose methods include the request's),
so table order, the documented precedence of overlapping paths (`/users/me` before
`/users/:id`) and "explicit methods win" are unchanged. The 405 `Allow` header is the union
of the methods of every route matching the path.

A path the trie cannot represent (a `:path` convertor before the last segment, a segment that
mixes text and a binding) is kept aside and matched by its regular expression, still in table
order. The index knows nothing of FastAPI: a route is an `IndexedRoute`, its `target`
whatever the router wants back.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from starlette.convertors import Convertor, PathConvertor, StringConvertor

T = TypeVar("T")

_PARAM_SEGMENT = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")


@dataclass(frozen=True)
class IndexedRoute(Generic[T]):
    """One route as the index sees it (Starlette's compiled form of its path)."""

    path_format: str  # "/users/{id}": Starlette's `path_format`, convertors left out
    path_regex: re.Pattern[str]
    convertors: Mapping[str, Convertor[Any]]
    methods: frozenset[str]  # what it answers (HEAD included with GET, as Starlette does)
    allow: frozenset[str]  # what it lists in a 405 `Allow` header
    target: T


@dataclass(slots=True)  # not frozen: one is built per request, and frozen fields cost
class Found(Generic[T]):
    """The outcome of a lookup: a route to run, or the methods of the path (a 405)."""

    route: IndexedRoute[T] | None  # None: the path matched, the method did not
    path_params: dict[str, Any]
    allow: frozenset[str]


@dataclass(frozen=True)
class _Leaf(Generic[T]):
    order: int
    names: tuple[str, ...]  # binding names, in path order
    route: IndexedRoute[T]
    #: Every binding is a plain string: the matched segments are the values as they are.
    plain: bool


@dataclass
class _Node(Generic[T]):
    static: dict[str, _Node[T]] = field(default_factory=dict)
    #: One child per distinct convertor (`{id}` and `{id:int}` are different children).
    params: list[tuple[Convertor[Any], Callable[[str], bool], _Node[T]]] = field(
        default_factory=list
    )
    #: Routes whose last segment is `{name:path}`: they take the rest of the path.
    rest: list[tuple[Convertor[Any], _Leaf[T]]] = field(default_factory=list)
    leaves: list[_Leaf[T]] = field(default_factory=list)
    #: What the leaves list in a 405 `Allow` header, together.
    allow: frozenset[str] = frozenset()


def _leaf(order: int, names: list[str], route: IndexedRoute[T]) -> _Leaf[T]:
    plain = all(type(route.convertors[name]) is StringConvertor for name in names)
    return _Leaf(order, tuple(names), route, plain)


def _fits(convertor: Convertor[Any]) -> Callable[[str], bool]:
    if type(convertor) is StringConvertor:
        return bool  # any non-empty segment (a segment never holds a "/")
    return re.compile(convertor.regex).fullmatch  # type: ignore[return-value]


class RouteIndex(Generic[T]):
    """Routes compiled for lookup; build it with the routes in table order."""

    def __init__(self, routes: Iterable[IndexedRoute[T]]) -> None:
        self._root: _Node[T] = _Node()
        #: Routes the trie cannot hold, matched by regex: (table order, route).
        self._aside: list[tuple[int, IndexedRoute[T]]] = []
        self.size = 0
        for order, route in enumerate(routes):
            self.size += 1
            if not self._insert(order, route):
                self._aside.append((order, route))

    def _insert(self, order: int, route: IndexedRoute[T]) -> bool:
        if not route.path_format.startswith("/"):
            return False
        segments = route.path_format[1:].split("/")
        node, names = self._root, []
        for position, segment in enumerate(segments):
            param = _PARAM_SEGMENT.match(segment)
            if param is None:
                if "{" in segment:
                    return False  # text and a binding in one segment: regex only
                node = node.static.setdefault(segment, _Node())
                continue
            name = param.group(1)
            convertor = route.convertors.get(name)
            if convertor is None:
                return False
            names.append(name)
            if isinstance(convertor, PathConvertor):
                if position != len(segments) - 1:
                    return False
                node.rest.append((convertor, _leaf(order, names, route)))
                return True
            node = self._param_child(node, convertor)
        node.leaves.append(_leaf(order, names, route))
        node.allow |= route.allow
        return True

    @staticmethod
    def _param_child(node: _Node[T], convertor: Convertor[Any]) -> _Node[T]:
        for known, _, child in node.params:
            if type(known) is type(convertor) and known.regex == convertor.regex:
                return child
        child = _Node[T]()
        node.params.append((convertor, _fits(convertor), child))
        return child

    def lookup(self, route_path: str, method: str) -> Found[T] | None:
        """The route answering `method` on `route_path`, a 405, or None (no such path)."""
        matched: list[tuple[_Leaf[T], list[str]]] = []
        if route_path[:1] != "/":
            return self._choose(matched, route_path, method)
        segments = route_path[1:].split("/")
        single = None if self._aside else self._single(segments, method)
        if single is not None:  # the usual case: the path reaches one node of the trie
            return single
        self._walk(self._root, segments, 0, [], matched)
        return self._choose(matched, route_path, method)

    def _single(self, segments: list[str], method: str) -> Found[T] | None:
        """The answer when the path can reach one node only (every node on its way offers
        one way on); None when there is a choice or no route (the full walk decides).

        Most tables never branch on a request's path, and this is on every request: no
        recursion, no list of candidates.
        """
        node, values = self._root, []
        for segment in segments:
            static = node.static.get(segment)
            if node.rest or (static is not None and node.params):
                return None
            if static is not None:
                node = static
                continue
            if len(node.params) != 1 or not segment:
                return None
            _, fits, node = node.params[0]
            if not fits(segment):
                return None
            values.append(segment)
        if not node.leaves:
            return None
        for leaf in node.leaves:  # one path, in table order (one route per method, often)
            if method in leaf.route.methods:
                return Found(leaf.route, _convert(leaf, values), node.allow)
        return Found(None, {}, node.allow)

    def _choose(
        self, matched: list[tuple[_Leaf[T], list[str]]], route_path: str, method: str
    ) -> Found[T] | None:
        """The first route in table order that answers `method`, among the trie's matches
        and the routes kept aside; else the methods of the path, for a 405."""
        best: tuple[int, IndexedRoute[T], dict[str, Any]] | None = None
        allow: set[str] = set()
        for leaf, values in matched:
            allow |= leaf.route.allow
            if method in leaf.route.methods and (best is None or leaf.order < best[0]):
                best = (leaf.order, leaf.route, _convert(leaf, values))
        for order, route in self._aside:
            if best is not None and order > best[0]:
                break
            found = route.path_regex.match(route_path)
            if found is None:
                continue
            allow |= route.allow
            if method in route.methods:
                params = {k: route.convertors[k].convert(v) for k, v in found.groupdict().items()}
                best = (order, route, params)
                break
        if best is not None:
            return Found(best[1], best[2], frozenset(allow))
        if allow or matched:
            return Found(None, {}, frozenset(allow))
        return None

    def _walk(
        self,
        node: _Node[T],
        segments: list[str],
        i: int,
        values: list[str],
        out: list[tuple[_Leaf[T], list[str]]],
    ) -> None:
        # Down static segments without recursing while there is only one way on: most of
        # a path is prefixes, and the walk is on every request.
        last = len(segments)
        while i < last:
            segment = segments[i]
            child = node.static.get(segment)
            if node.params or node.rest:
                break
            if child is None:
                return
            node, i = child, i + 1
        else:
            for leaf in node.leaves:
                out.append((leaf, values))
            return
        if child is not None:
            self._walk(child, segments, i + 1, values, out)
        for _, fits, param_child in node.params:
            if segment and fits(segment):
                self._walk(param_child, segments, i + 1, [*values, segment], out)
        for _, leaf in node.rest:
            out.append((leaf, [*values, "/".join(segments[i:])]))


def _convert(leaf: _Leaf[Any], values: list[str]) -> dict[str, Any]:
    if leaf.plain:  # one value per name by construction: the walk adds one per binding
        names = leaf.names
        if len(names) == 1:  # the commonest route (`/users/:id`): no zip to build
            return {names[0]: values[0]}
        return dict(zip(names, values))  # noqa: B905 (strict= costs on every request)
    pairs = zip(leaf.names, values, strict=True)
    convertors = leaf.route.convertors
    return {name: convertors[name].convert(value) for name, value in pairs}

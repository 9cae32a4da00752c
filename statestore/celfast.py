"""A fast path for the common subset of CEL that admission policies and claim mappings use.

cel-python interprets its parse tree with its own value types: ~0.5 ms for a short policy
expression, 5 ms of CPU per create with ten policies. This module turns the same parse tree
(cel-python's, so parsing and compile errors stay cel-python's) into nested Python closures
over plain JSON values (dict, list, str, int, float, bool, None), at compile time, once.

Semantics are never guessed: the fast path handles only the cases whose CEL result is
unambiguous (operands of the same type, present fields, in-range integers). Anything else
(an error, a heterogeneous comparison, int64 overflow, a missing field, a budget running out)
raises :class:`Fallback` and the caller evaluates the whole expression again with cel-python,
which then gives kube's result: error absorption by ``&&``/``||`` and by ``all``/``exists``,
no_such_field and no-such-overload errors, overflow errors, the cost limit. CEL expressions
have no side effects (an ``authorizer`` check is a read, and the plugin asks each one once per
request), so evaluating again is safe. In the subset: field selections, ``has``, comparisons,
arithmetic, ``in``, the five macros, list and map literals, ``variables.name``, the
Kubernetes string functions, ``matches``, ``int``/``string`` and the ``authorizer`` library's
plain forms. Expressions that use anything else (other functions, message literals, bytes,
uint) are not compiled here at all (:class:`Unsupported`) and always run on cel-python.

Size (~700 lines): one translator, :class:`_Builder`, with one method per rule of CEL's
grammar, and the value operations it calls; split in two, the grammar would be read in two
places.

Run-time bound: each evaluation counts the parse-tree nodes cel-python would visit (the whole
tree once, plus a comprehension's body per element) against ``cel.PER_CALL_VISITS``; past it,
cel-python runs the expression and reports the limit as before.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

import lark
import re2
from celpy.evaluation import celstr

from statestore import cel, celregex

Env = dict[str, Any]
Fn = Callable[[Env], Any]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
_COST = "\0cost"  # not an identifier: cannot clash with a CEL name
_DECIMAL = re.compile(r"[+-]?[0-9]+")
_MACROS = ("all", "exists", "exists_one", "map", "filter")
#: Names the fast path gives a meaning to; an environment that redefines one is not compiled.
BUILTINS = frozenset(
    {"has", "size", "int", "string", "startsWith", "endsWith", "contains", "matches", *_MACROS}
)


class Fallback(Exception):
    """The fast path cannot decide this evaluation: run cel-python."""


class Unsupported(Exception):
    """The expression uses something outside the subset: always run cel-python."""


def _int(value: int) -> int:
    if INT64_MIN <= value <= INT64_MAX:
        return value
    raise Fallback  # cel-python reports the overflow


def _tree_size(tree: Any) -> int:
    if not isinstance(tree, lark.Tree):
        return 0
    return 1 + sum(_tree_size(child) for child in tree.children)


_PATTERNS: dict[str, Callable[[str], bool]] = {}


def _searcher(pattern: str) -> Callable[[str], bool]:
    try:
        return celregex.searcher(pattern)
    except re2.error:
        raise Fallback from None


def _search(pattern: str, text: str) -> bool:
    search = _PATTERNS.get(pattern)
    if search is None:
        search = _searcher(pattern)
        if len(_PATTERNS) < 512:  # patterns may come from data: keep the cache bounded
            _PATTERNS[pattern] = search
    return search(text)


# ------------------------------------------------------------------ operators


def _eq(a: Any, b: Any) -> bool:
    kind = type(a)
    if kind is not type(b):
        raise Fallback
    if kind in (str, int, float, bool, type(None)):
        return bool(a == b)
    if kind is list:
        # NB: every pair is compared (no early False): a mixed pair anywhere is cel-python's
        # to judge, whatever the other pairs say.
        if len(a) != len(b):
            return False
        return all([_eq(x, y) for x, y in zip(a, b, strict=True)])
    if kind is dict:
        if a.keys() != b.keys():
            return False
        return all([_eq(a[key], b[key]) for key in a])
    raise Fallback


def _in(a: Any, b: Any) -> bool:
    kind = type(a)
    if type(b) is list and kind in (str, int) and all(type(x) is kind for x in b):
        return a in b
    if type(b) is dict and kind is str:
        return a in b
    raise Fallback


def _add(a: Any, b: Any) -> Any:
    kind = type(a)
    if kind is not type(b):
        raise Fallback
    if kind is int:
        return _int(a + b)
    if kind in (float, str, list):
        return a + b
    raise Fallback


def _sub(a: Any, b: Any) -> Any:
    kind = type(a)
    if kind is int and type(b) is int:
        return _int(a - b)
    if kind is float and type(b) is float:
        return a - b
    raise Fallback


def _mul(a: Any, b: Any) -> Any:
    kind = type(a)
    if kind is int and type(b) is int:
        return _int(a * b)
    if kind is float and type(b) is float:
        return a * b
    raise Fallback


def _div(a: Any, b: Any) -> Any:
    kind = type(a)
    if kind is int and type(b) is int and b != 0:
        quotient = abs(a) // abs(b)  # CEL truncates toward zero
        return _int(quotient if (a < 0) == (b < 0) else -quotient)
    if kind is float and type(b) is float and b != 0.0:
        return a / b
    raise Fallback


def _mod(a: Any, b: Any) -> Any:
    if type(a) is int and type(b) is int and b != 0:
        remainder = abs(a) % abs(b)  # the sign of the dividend, as Go's %
        return remainder if a >= 0 else -remainder
    raise Fallback


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "relation_eq": _eq,
    "relation_ne": lambda a, b: not _eq(a, b),
    "relation_in": _in,
    "addition_add": _add,
    "addition_sub": _sub,
    "multiplication_mul": _mul,
    "multiplication_div": _div,
    "multiplication_mod": _mod,
}
_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "relation_lt": operator.lt,
    "relation_le": operator.le,
    "relation_gt": operator.gt,
    "relation_ge": operator.ge,
}


# ------------------------------------------------------------------ functions


def _size(value: Any) -> int:
    if type(value) in (str, list, dict):
        return len(value)
    raise Fallback


def _to_int(value: Any) -> int:
    if type(value) is int:
        return value
    if type(value) is str and _DECIMAL.fullmatch(value):
        return _int(int(value))
    raise Fallback


def _strings(method: Callable[[str, str], bool]) -> Callable[[Any, Any], bool]:
    def call(text: Any, other: Any) -> bool:
        if type(text) is str and type(other) is str:
            return method(text, other)
        raise Fallback

    return call


_METHODS: dict[str, Callable[..., Any]] = {
    "size": _size,
    "startsWith": _strings(str.startswith),
    "endsWith": _strings(str.endswith),
    "contains": _strings(str.__contains__),
    "matches": _strings(lambda text, pattern: _search(pattern, text)),
}


def _to_string(value: Any) -> str:
    if type(value) is str:
        return value
    if type(value) is int:
        return str(value)
    raise Fallback  # doubles, bools, bytes...: cel-python's formatting


_GLOBALS: dict[str, Callable[..., Any]] = {
    "size": _size,
    "int": _to_int,
    "string": _to_string,
    "matches": _METHODS["matches"],
}


# ------------------------------------------------------------------ the translation


class _Builder:
    def __init__(self, names: frozenset[str], methods: Mapping[str, Callable[..., Any]]) -> None:
        self.names = names
        self.methods = {**methods, **_METHODS}

    def build(self, tree: Any, bound: frozenset[str]) -> Fn:
        if not isinstance(tree, lark.Tree):
            raise Unsupported(str(tree))
        children = [c for c in tree.children if c is not None]
        if len(children) == 1 and tree.data in _PASSTHROUGH:
            return self.build(children[0], bound)
        method = getattr(self, f"_{tree.data}", None)
        if method is None:
            raise Unsupported(str(tree.data))
        fn: Fn = method(children, bound)
        return fn

    def _expr(self, children: list[Any], bound: frozenset[str]) -> Fn:
        condition, then, otherwise = (self.build(c, bound) for c in children)

        def ternary(env: Env) -> Any:
            chosen = condition(env)
            if chosen is True:
                return then(env)
            if chosen is False:
                return otherwise(env)
            raise Fallback

        return ternary

    def _conditionalor(self, children: list[Any], bound: frozenset[str]) -> Fn:
        left, right = (self.build(c, bound) for c in children)

        def either(env: Env) -> bool:
            first = left(env)
            if first is True:
                return True
            if first is not False:
                raise Fallback
            second = right(env)
            if type(second) is bool:
                return second
            raise Fallback

        return either

    def _conditionaland(self, children: list[Any], bound: frozenset[str]) -> Fn:
        left, right = (self.build(c, bound) for c in children)

        def both(env: Env) -> bool:
            first = left(env)
            if first is False:
                return False
            if first is not True:
                raise Fallback
            second = right(env)
            if type(second) is bool:
                return second
            raise Fallback

        return both

    def _binary(self, children: list[Any], bound: frozenset[str]) -> Fn:
        operator, right_tree = children
        left = self.build(operator.children[0], bound)
        right = self.build(right_tree, bound)
        op = _BINARY.get(operator.data)
        if op is not None:
            binary = op

            def apply(env: Env) -> Any:
                return binary(left(env), right(env))

            return apply
        order = _ORDER.get(operator.data)
        if order is None:
            raise Unsupported(str(operator.data))
        compare = order

        def ordered(env: Env) -> bool:
            a, b = left(env), right(env)
            kind = type(a)
            if kind is type(b) and (kind is int or kind is str or kind is float):
                return compare(a, b)
            raise Fallback

        return ordered

    _relation = _addition = _multiplication = _binary

    def _unary(self, children: list[Any], bound: frozenset[str]) -> Fn:
        operator, operand_tree = children
        operand = self.build(operand_tree, bound)
        if operator.data == "unary_not":

            def negate(env: Env) -> bool:
                value = operand(env)
                if type(value) is bool:
                    return not value
                raise Fallback

            return negate

        def minus(env: Env) -> Any:
            value = operand(env)
            if type(value) is int:
                return _int(-value)
            if type(value) is float:
                return -value
            raise Fallback

        return minus

    def _member_dot(self, children: list[Any], bound: frozenset[str]) -> Fn:
        path = self._path(children)
        if path is not None:
            return self._select_path(path[0], path[1], bound)
        target = self.build(children[0], bound)
        name = str(children[1])

        def select(env: Env) -> Any:
            value = target(env)
            if type(value) is dict and name in value:
                return value[name]
            raise Fallback  # no such key, or not a map: cel-python's error

        return select

    def _path(self, children: list[Any]) -> tuple[str, tuple[str, ...]] | None:
        """``a.b.c`` as ("a", ("b", "c")): one closure for the chain instead of one a step."""
        names = [str(children[1])]
        node = children[0]
        while isinstance(node, lark.Tree):
            if node.data in _PASSTHROUGH and len(node.children) == 1:
                node = node.children[0]
            elif node.data == "member_dot":
                names.append(str(node.children[1]))
                node = node.children[0]
            elif node.data == "ident":
                return str(node.children[0]), tuple(reversed(names))
            else:
                return None
        return None

    def _select_path(self, root: str, names: tuple[str, ...], bound: frozenset[str]) -> Fn:
        if root == VARIABLES and root not in bound and root in self.names:
            return self._variable(names[0], names[1:])
        if root not in bound and root not in self.names:
            raise Unsupported(root)

        def select_path(env: Env) -> Any:
            try:
                value = env[root]
            except KeyError:
                raise Fallback from None
            for name in names:
                if type(value) is dict and name in value:
                    value = value[name]
                else:
                    raise Fallback  # no such key, or not a map: cel-python's error
            return value

        return select_path

    def _variable(self, name: str, rest: tuple[str, ...]) -> Fn:
        def variable(env: Env) -> Any:
            variables = env.get(VARIABLES)
            if not isinstance(variables, Variables):
                raise Fallback
            value = variables.get(name)
            for field in rest:
                if type(value) is dict and field in value:
                    value = value[field]
                else:
                    raise Fallback
            return value

        return variable

    def _member_index(self, children: list[Any], bound: frozenset[str]) -> Fn:
        target, key = (self.build(c, bound) for c in children)

        def index(env: Env) -> Any:
            value, at = target(env), key(env)
            if type(value) is list and type(at) is int and 0 <= at < len(value):
                return value[at]
            if type(value) is dict and type(at) is str and at in value:
                return value[at]
            raise Fallback

        return index

    def _args(self, children: list[Any], start: int) -> list[Any]:
        if len(children) <= start:
            return []
        exprlist = children[start]
        if not isinstance(exprlist, lark.Tree) or exprlist.data != "exprlist":
            raise Unsupported("arguments")
        return [c for c in exprlist.children if c is not None]

    def _member_dot_arg(self, children: list[Any], bound: frozenset[str]) -> Fn:
        name = str(children[1])
        args = self._args(children, 2)
        if name in _MACROS:
            return self._macro(name, children[0], args, bound)
        method = self.methods.get(name)
        if method is None:
            raise Unsupported(name)
        function = method
        target = self.build(children[0], bound)
        built = [self.build(arg, bound) for arg in args]
        if len(built) == 0:

            def call0(env: Env) -> Any:
                return function(target(env))

            return call0
        if len(built) == 1:
            (argument,) = built

            def call1(env: Env) -> Any:
                return function(target(env), argument(env))

            return call1

        def call(env: Env) -> Any:
            return function(target(env), *(argument(env) for argument in built))

        return call

    def _ident_arg(self, children: list[Any], bound: frozenset[str]) -> Fn:
        name = str(children[0])
        args = self._args(children, 1)
        if name == "has":
            return self._has(args, bound)
        function = _GLOBALS.get(name)
        if function is None:
            raise Unsupported(name)
        built = [self.build(arg, bound) for arg in args]
        if len(built) == 1:
            (argument,) = built

            def call1(env: Env) -> Any:
                return function(argument(env))

            return call1
        if len(built) == 2:
            first, second = built

            def call2(env: Env) -> Any:
                return function(first(env), second(env))

            return call2
        raise Unsupported(name)

    def _has(self, args: list[Any], bound: frozenset[str]) -> Fn:
        node = args[0] if len(args) == 1 else None
        # has() takes exactly one field selection: expr > ... > member > member_dot
        while isinstance(node, lark.Tree) and node.data in _PASSTHROUGH and len(node.children) == 1:
            node = node.children[0]
        if not isinstance(node, lark.Tree) or node.data != "member_dot":
            raise Unsupported("has")
        target = self.build(node.children[0], bound)
        name = str(node.children[1])

        def present(env: Env) -> bool:
            value = target(env)
            if type(value) is dict:
                return name in value
            raise Fallback

        return present

    def _macro(self, name: str, target_tree: Any, args: list[Any], bound: frozenset[str]) -> Fn:
        if len(args) != 2:
            raise Unsupported(name)
        variable = self._bare_ident(args[0])
        target = self.build(target_tree, bound)
        body = self.build(args[1], bound | {variable})
        weight = _tree_size(args[1]) + 1

        def items(env: Env) -> list[Any]:
            value = target(env)
            if type(value) is list or type(value) is dict:
                return list(value)
            raise Fallback

        def each(env: Env, element: Any) -> Any:
            budget = env[_COST]
            budget[0] -= weight
            if budget[0] < 0:
                raise Fallback  # cel-python reports the cost limit
            scope = dict(env)
            scope[variable] = element
            return body(scope)

        def predicate(env: Env, element: Any) -> bool:
            value = each(env, element)
            if type(value) is bool:
                return value
            raise Fallback

        if name == "all":
            return lambda env: all(predicate(env, e) for e in items(env))
        if name == "exists":
            return lambda env: any(predicate(env, e) for e in items(env))
        if name == "exists_one":
            return lambda env: [predicate(env, e) for e in items(env)].count(True) == 1
        if name == "map":
            return lambda env: [each(env, e) for e in items(env)]
        return lambda env: [e for e in items(env) if predicate(env, e)]

    def _bare_ident(self, tree: Any) -> str:
        node = tree
        while isinstance(node, lark.Tree) and node.data in _PASSTHROUGH and len(node.children) == 1:
            node = node.children[0]
        if isinstance(node, lark.Tree) and node.data == "ident":
            return str(node.children[0])
        raise Unsupported("macro variable")

    def _ident(self, children: list[Any], bound: frozenset[str]) -> Fn:
        name = str(children[0])
        if name not in bound and (name not in self.names or name == VARIABLES):
            raise Unsupported(name)  # ``variables`` only as ``variables.name``

        def lookup(env: Env) -> Any:
            try:
                return env[name]
            except KeyError:
                raise Fallback from None

        return lookup

    def _literal(self, children: list[Any], bound: frozenset[str]) -> Fn:
        token = children[0]
        kind = getattr(token, "type", "")
        value: Any
        if kind == "INT_LIT":
            value = _int(int(str(token), 0))
        elif kind == "FLOAT_LIT":
            value = float(str(token))
        elif kind == "BOOL_LIT":
            value = str(token) == "true"
        elif kind == "NULL_LIT":
            value = None
        elif kind in ("STRING_LIT", "MLSTRING_LIT"):
            value = str(celstr(token))  # cel-python's unescaping: both paths read it alike
        else:
            raise Unsupported(kind)
        return lambda env: value

    def _list_lit(self, children: list[Any], bound: frozenset[str]) -> Fn:
        built = [self.build(arg, bound) for arg in self._args(children, 0)]
        return lambda env: [element(env) for element in built]

    def _map_lit(self, children: list[Any], bound: frozenset[str]) -> Fn:
        if not children:
            return lambda env: {}
        inits = children[0]
        if not isinstance(inits, lark.Tree) or inits.data != "mapinits":
            raise Unsupported("map literal")
        parts = [self.build(c, bound) for c in inits.children if c is not None]
        pairs = list(zip(parts[0::2], parts[1::2], strict=True))

        def make(env: Env) -> dict[str, Any]:
            made: dict[str, Any] = {}
            for key_fn, value_fn in pairs:
                key = key_fn(env)
                if type(key) is not str or key in made:
                    raise Fallback  # other key types, duplicate keys: cel-python's
                made[key] = value_fn(env)
            return made

        return make

    def _paren_expr(self, children: list[Any], bound: frozenset[str]) -> Fn:
        return self.build(children[0], bound)


#: Nodes that are only a level of the grammar when they have one child.
_PASSTHROUGH = frozenset(
    {
        "expr",
        "conditionalor",
        "conditionaland",
        "relation",
        "addition",
        "multiplication",
        "unary",
        "member",
        "primary",
    }
)


VARIABLES = "variables"


class Variables:
    """``variables`` of an admission policy for the fast path: each computed when first
    used, once; ``compute`` raises :class:`Fallback` for a variable that fails (cel-python
    then decides what that error means to the expression)."""

    def __init__(self, compute: Callable[[str], Any]) -> None:
        self._compute = compute
        self._values: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        if name not in self._values:
            self._values[name] = self._compute(name)
        return self._values[name]


class FastProgram:
    """One expression as closures; ``evaluate`` takes plain JSON values by name."""

    def __init__(
        self,
        tree: lark.Tree[Any],
        names: frozenset[str],
        methods: Mapping[str, Callable[..., Any]] | None = None,
    ) -> None:
        self._fn = _Builder(names, methods or {}).build(tree, frozenset())
        self._size = _tree_size(tree)

    def evaluate(self, values: Mapping[str, Any]) -> Any:
        return self.evaluate_in(dict(values))

    def evaluate_in(self, env: Env) -> Any:
        """``evaluate`` on ``env`` itself: a scratch dict of plain values that the caller owns
        and reuses across expressions (this resets a private cost slot in it)."""
        env[_COST] = [cel.PER_CALL_VISITS - self._size]
        try:
            return self._fn(env)
        except Fallback:
            raise
        except (RecursionError, TypeError, ValueError, OverflowError) as error:
            raise Fallback from error  # never a result the fast path is unsure of


def compile_fast(
    tree: lark.Tree[Any],
    names: frozenset[str],
    methods: Mapping[str, Callable[..., Any]] | None = None,
) -> FastProgram | None:
    """The fast form of a parsed expression, or ``None`` when it is outside the subset.
    ``methods``: more receiver-style functions over plain values (raising Fallback when a
    value is not theirs)."""
    try:
        return FastProgram(tree, names, methods)
    except (Unsupported, Fallback, ValueError):
        return None

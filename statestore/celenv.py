"""CEL as the access-control parts of kube-apiserver use it (authentication claim mappings,
admission policies): one ``cel-python`` environment, the few functions of Kubernetes' CEL
libraries that WWS's expressions need, and plain-Python results.

cel-python implements the CEL standard; Kubernetes adds string functions (``lowerAscii``,
``split``, ``join``, ...) which are registered here so expressions written for a real cluster
compile and run unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import celpy
import celpy.adapter
import celpy.celtypes as ct

from statestore import cel, celfast


class _Runner(cel.CostedRunner):
    """celpy's interpreter with the base activation (annotations and functions) built once per
    program rather than once per evaluation; each evaluation clones it (``set_activation``),
    so it is never changed. About 15 % off each evaluation of a short expression.

    NB: bounded as the store's own rules are (``cel.PER_CALL_VISITS``): an expression over a
    large list in a request must not hold the event loop; past the budget it is an evaluation
    error, which the policy's failurePolicy decides on, as in kube-apiserver."""

    def __init__(self, environment: Any, ast: Any, functions: Any = None) -> None:
        super().__init__(environment, ast, functions)
        self._base = super().new_activation()

    def new_activation(self) -> Any:
        return self._base


_ENVIRONMENT = celpy.Environment(runner_class=_Runner)


def _string_list(values: list[str]) -> ct.ListType:
    return ct.ListType([ct.StringType(value) for value in values])


def _join(items: Any, separator: Any = "") -> ct.StringType:
    return ct.StringType(str(separator).join(str(item) for item in items))


def _index_of(text: Any, sub: Any) -> ct.IntType:
    return ct.IntType(str(text).find(str(sub)))


#: Kubernetes' CEL string library (k8s.io/apiserver/pkg/cel/library, cel-go ext/strings),
#: as far as WWS uses it.
K8S_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "lowerAscii": lambda s: ct.StringType(str(s).lower()),
    "upperAscii": lambda s: ct.StringType(str(s).upper()),
    "trim": lambda s: ct.StringType(str(s).strip()),
    "split": lambda s, sep: _string_list(str(s).split(str(sep))),
    "join": _join,
    "replace": lambda s, old, new: ct.StringType(str(s).replace(str(old), str(new))),
    "indexOf": _index_of,
}


def _on_strings(function: Callable[..., Any]) -> Callable[..., Any]:
    """A string function of K8S_FUNCTIONS for the fast path: the same function, on strings
    only (anything else is left to cel-python), with a plain result."""

    def call(*args: Any) -> Any:
        if not all(type(arg) is str for arg in args):
            raise celfast.Fallback
        return to_python(function(*args))

    return call


_PLAIN_METHODS = {
    name: _on_strings(K8S_FUNCTIONS[name])
    for name in ("lowerAscii", "upperAscii", "trim", "split", "replace", "indexOf")
}


class CompileError(ValueError):
    """An expression that does not parse; ``column`` is 1-based where known."""

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.column = column


def short_error(error: BaseException) -> str:
    """cel-python's messages carry the whole activation; keep the first clause."""
    text = str(error.args[0]) if error.args else str(error)
    return text.split(" (in activation", 1)[0]


@dataclass(frozen=True)
class Program:
    expression: str
    _program: Any
    _fast: celfast.FastProgram | None = None

    @property
    def fast(self) -> bool:
        """Whether the expression is in celfast's subset."""
        return self._fast is not None

    def run(
        self,
        values: Mapping[str, Any],
        cel_activation: Callable[[], Mapping[str, Any]],
        *,
        scratch: bool = False,
    ) -> Any:
        """The result in plain Python, from plain JSON ``values`` by name: on the fast path
        when it can decide, else with cel-python on ``cel_activation()`` (made only then).
        ``scratch``: ``values`` is a dict the caller reuses (see FastProgram.evaluate_in)."""
        if self._fast is not None:
            try:
                if scratch and isinstance(values, dict):
                    return self._fast.evaluate_in(values)
                return self._fast.evaluate(values)
            except celfast.Fallback:
                pass
        return self.evaluate(cel_activation())

    def evaluate(self, activation: Mapping[str, Any]) -> Any:
        """The result in plain Python; raises ``EvaluationError`` when CEL cannot evaluate."""
        try:
            result = self._program.evaluate(dict(activation))
        except Exception as error:
            raise EvaluationError(short_error(error)) from error
        if isinstance(result, Exception):
            raise EvaluationError(short_error(result))
        return to_python(result)


class EvaluationError(RuntimeError):
    pass


def compile_expression(
    expression: str,
    *,
    functions: Mapping[str, Callable[..., Any]] | None = None,
    plain: frozenset[str] = frozenset(),
    plain_methods: Mapping[str, Callable[..., Any]] | None = None,
) -> Program:
    """``plain``: the variables :meth:`Program.run` gets as plain JSON (the fast path's);
    ``plain_methods``: fast-path forms of ``functions`` (see celfast.compile_fast)."""
    try:
        ast = _ENVIRONMENT.compile(expression)
    except Exception as error:  # celpy raises its own parser errors
        column = getattr(error, "column", None)
        first = str(error).splitlines()[0] if str(error) else "syntax error"
        raise CompileError(
            f"compilation failed: ERROR: <input>:1:{column or 1}: {first}", column
        ) from error
    library = dict(K8S_FUNCTIONS)
    if functions:
        library.update(functions)
    fast = None
    if plain and not (celfast.BUILTINS & set(functions or {})):
        methods = {name: m for name, m in _PLAIN_METHODS.items() if name not in (functions or {})}
        methods.update(plain_methods or {})  # the fast forms of ``functions``
        fast = celfast.compile_fast(ast, plain, methods)
    return Program(expression, _ENVIRONMENT.program(ast, functions=library), fast)


def to_cel(value: Any) -> Any:
    """A JSON value as CEL sees it (``None`` stays ``null``)."""
    if value is None:
        return None
    return celpy.adapter.json_to_cel(value)


def to_python(value: Any) -> Any:
    if isinstance(value, ct.BoolType | bool):
        return bool(value)
    if isinstance(value, ct.StringType | str):
        return str(value)
    if isinstance(value, ct.IntType | ct.UintType):
        return int(value)
    if isinstance(value, ct.DoubleType | float):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): to_python(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_python(v) for v in value]
    return value

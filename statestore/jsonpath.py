"""The Kubernetes JSONPath subset (``k8s.io/client-go/util/jsonpath``) over decoded JSON.

CRD ``additionalPrinterColumns[].jsonPath`` and ``selectableFields`` use it: ``.a.b``,
``.a[0]``, ``.a[-1]``, ``.a[1:3]``, ``.a[*].b``, ``.a[0,2]``, ``..name``,
``.a[?(@.type=="Ready")].status``, ``.metadata.labels['x.y/z']`` and ``.metadata.labels.x\\.y``.
An optional surrounding ``{...}`` and a leading ``$`` are accepted as kubectl accepts them.

Evaluation follows client-go with ``AllowMissingKeys(true)`` (what kube-apiserver's table
convertor uses): a missing key yields no result, and what client-go reports as an error (an
index out of range, indexing a non-list) yields no result either, since the convertor turns
that error into an empty cell. Compiled expressions are cached.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

__all__ = ["JSONPath", "JSONPathError", "compile_path", "evaluate"]


class JSONPathError(ValueError):
    """The expression is not valid JSONPath."""


class _EvalError(Exception):
    """What client-go reports as an evaluation error; the whole evaluation yields nothing."""


@dataclass(frozen=True)
class _Field:
    name: str


@dataclass(frozen=True)
class _Wildcard:
    pass


@dataclass(frozen=True)
class _Recursive:
    pass


@dataclass(frozen=True)
class _Slice:
    start: int | None
    stop: int | None
    step: int | None
    #: ``[i]``: the stop is derived (i + 1), which changes how ``[-1]`` resolves.
    single: bool


@dataclass(frozen=True)
class _Union:
    branches: tuple[JSONPath, ...]


@dataclass(frozen=True)
class _Literal:
    value: Any


@dataclass(frozen=True)
class _Filter:
    left: JSONPath
    operator: str  # "exists" or a comparison
    right: JSONPath | _Literal | None


_Step: TypeAlias = _Field | _Wildcard | _Recursive | _Slice | _Union | _Filter

_TERMINATORS: Final = frozenset(" \t\r\n.,[]$@{}")
_SLICE_RE: Final = re.compile(r"^(-?\d*)(:-?\d*)?(:-?\d*)?$")
_FILTER_RE: Final = re.compile(r"^([^!<>=]+)([!<>=]+)(.+?)$")
_NUMBER_RE: Final = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_OPERATORS: Final = frozenset({"==", "!=", "<", ">", "<=", ">="})


@dataclass(frozen=True)
class JSONPath:
    """A compiled expression; :meth:`find` returns every value it selects, in order."""

    source: str
    steps: tuple[_Step, ...]

    def find(self, obj: Any) -> list[Any]:
        try:
            return self._run([obj])
        except _EvalError:
            return []

    def _run(self, values: list[Any]) -> list[Any]:
        for step in self.steps:
            if not values:
                return values
            values = _apply(step, values)
        return values


def _apply(step: _Step, values: list[Any]) -> list[Any]:
    if isinstance(step, _Field):
        return [v[step.name] for v in values if isinstance(v, dict) and step.name in v]
    if isinstance(step, _Wildcard):
        return [child for v in values for child in _children(v)]
    if isinstance(step, _Recursive):
        return _descend(values)
    if isinstance(step, _Slice):
        return [item for v in values for item in _slice(step, v)]
    if isinstance(step, _Union):
        return [found for branch in step.branches for found in branch._run(values)]
    return [item for v in values for item in _filter(step, v)]


def _children(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        yield from value.values()
    elif isinstance(value, list):
        yield from value


def _descend(values: list[Any]) -> list[Any]:
    """``..``: every value that has children, followed by its descendants (client-go order)."""
    out: list[Any] = []
    for value in values:
        children = list(_children(value))
        if children:
            out.append(value)
            out.extend(_descend(children))
    return out


def _slice(step: _Slice, value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _EvalError(f"{type(value).__name__} is not array or slice")
    length = len(value)
    start = step.start or 0
    if start < 0:
        start += length
    if step.single:
        stop = (step.start or 0) + 1
        if stop <= 0:  # [-1] → stop 0 (derived) means "to the end", as client-go computes it
            stop += length
    else:
        stop = length if step.stop is None else step.stop
        if stop < 0:
            stop += length
    if stop == start:
        return []
    if not 0 <= start < length or not 0 <= stop <= length or start > stop:
        raise _EvalError("array index out of bounds")
    stride = 1 if step.step is None else step.step
    if stride <= 0:
        raise _EvalError("step must be > 0")
    return value[start:stop:stride]


def _filter(step: _Filter, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise _EvalError("not array or slice and cannot be filtered")
    selected = []
    for item in value:
        lefts = step.left._run([item])
        if step.operator == "exists":
            if lefts:
                selected.append(item)
            continue
        rights = _operand(step.right, item)
        if not lefts or not rights:
            continue
        if len(lefts) > 1 or len(rights) > 1:
            raise _EvalError("can only compare one element at a time")
        if _compare(lefts[0], step.operator, rights[0]):
            selected.append(item)
    return selected


def _operand(right: JSONPath | _Literal | None, item: Any) -> list[Any]:
    if isinstance(right, _Literal):
        return [right.value]
    if right is None:
        return []
    return right._run([item])


def _compare(left: Any, operator: str, right: Any) -> bool:
    """Comparison like Go templates, but values of different kinds are simply unequal."""
    numbers = (int, float)
    if isinstance(left, bool) or isinstance(right, bool):
        if not (isinstance(left, bool) and isinstance(right, bool)):
            return operator == "!="
    elif isinstance(left, numbers) and isinstance(right, numbers):
        pass
    elif not (isinstance(left, str) and isinstance(right, str)):
        return operator == "!="
    if operator == "==":
        return bool(left == right)
    if operator == "!=":
        return bool(left != right)
    if isinstance(left, bool):
        raise _EvalError("invalid type for comparison")
    if operator == "<":
        return bool(left < right)
    if operator == ">":
        return bool(left > right)
    if operator == "<=":
        return bool(left <= right)
    return bool(left >= right)


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def parse(self) -> tuple[_Step, ...]:
        steps: list[_Step] = []
        text = self.text
        while self.pos < len(text):
            char = text[self.pos]
            if text.startswith("..", self.pos):
                if steps and isinstance(steps[-1], _Recursive):
                    raise JSONPathError("invalid multiple recursive descent")
                self.pos += 2
                steps.append(_Recursive())
                if self.pos < len(text) and (text[self.pos].isalnum() or text[self.pos] == "_"):
                    steps.extend(self.field())
            elif char == ".":
                self.pos += 1
                steps.extend(self.field())
            elif text.startswith("[?(", self.pos):
                steps.append(self.filter())
            elif char == "[":
                steps.append(self.bracket())
            elif (char in "$@" and self.pos == 0) or char in " \t":
                self.pos += 1  # the root/current object marker and blanks select nothing
            elif char.isalnum() or char == "_":
                steps.extend(self.field())  # "metadata.name" without the leading dot
            else:
                raise JSONPathError(f"unrecognized character in action: {char!r}")
        return tuple(steps)

    def field(self) -> list[_Step]:
        """A field name up to the next terminator; a backslash escapes the next character."""
        text = self.text
        name: list[str] = []
        while self.pos < len(text):
            char = text[self.pos]
            if char == "\\" and self.pos + 1 < len(text):
                name.append(text[self.pos + 1])
                self.pos += 2
                continue
            if char in _TERMINATORS:
                break
            name.append(char)
            self.pos += 1
        value = "".join(name)
        if value == "*":
            return [_Wildcard()]
        if not value:
            return []  # "." alone selects the current value
        return [_Field(value)]

    def closing(self, start: int, closer: str) -> int:
        """Index of ``closer`` after ``start``, skipping quoted text."""
        quote = ""
        i = start
        text = self.text
        while i < len(text):
            char = text[i]
            if quote:
                if char == "\\":
                    i += 2
                    continue
                if char == quote:
                    quote = ""
            elif char in "'\"":
                quote = char
            elif text.startswith(closer, i):
                return i
            i += 1
        raise JSONPathError(f"unterminated {'filter' if closer == ')]' else 'array'}")

    def bracket(self) -> _Step:
        end = self.closing(self.pos + 1, "]")
        inner = self.text[self.pos + 1 : end].strip()
        self.pos = end + 1
        return _bracket_step(inner)

    def filter(self) -> _Filter:
        end = self.closing(self.pos + 3, ")]")
        inner = self.text[self.pos + 3 : end].strip()
        self.pos = end + 2
        match = _FILTER_RE.match(inner)
        if match is None:
            return _Filter(_compile_uncached(inner), "exists", None)
        operator = match[2]
        if operator not in _OPERATORS:
            raise JSONPathError(f"unrecognized filter operator {operator}")
        return _Filter(_compile_uncached(match[1].strip()), operator, _operand_of(match[3].strip()))


def _split_union(inner: str) -> list[str]:
    parts: list[str] = []
    quote = ""
    current: list[str] = []
    for char in inner:
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == ",":
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    parts.append("".join(current).strip())
    return parts


def _unquote(text: str) -> str | None:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        body = text[1:-1]
        return re.sub(r"\\(.)", r"\1", body)
    return None


def _bracket_step(inner: str) -> _Step:
    if inner == "*":
        return _Slice(None, None, None, single=False)
    parts = _split_union(inner)
    if len(parts) > 1:
        return _Union(tuple(JSONPath(f"[{p}]", (_bracket_step(p),)) for p in parts))
    key = _unquote(inner)
    if key is not None:
        return _Field(key)
    match = _SLICE_RE.match(inner)
    if match is None or not inner:
        raise JSONPathError(f"invalid array index {inner}")
    start_text, stop_text, step_text = match[1], match[2], match[3]
    start = int(start_text) if start_text not in ("", "-") else None
    if stop_text is None and step_text is None:
        if start is None:
            raise JSONPathError(f"invalid array index {inner}")
        return _Slice(start, None, None, single=True)
    stop = _slice_part(stop_text)
    step = _slice_part(step_text)
    return _Slice(start, stop, step, single=False)


def _slice_part(text: str | None) -> int | None:
    if text is None or len(text) <= 1:
        return None
    try:
        return int(text[1:])
    except ValueError:
        raise JSONPathError(f"array index {text[1:]} is not a number") from None


def _operand_of(text: str) -> JSONPath | _Literal:
    quoted = _unquote(text)
    if quoted is not None:
        return _Literal(quoted)
    if text in ("true", "false"):
        return _Literal(text == "true")
    if _NUMBER_RE.match(text):
        return _Literal(float(text) if "." in text else int(text))
    return _compile_uncached(text)


def _compile_uncached(expr: str) -> JSONPath:
    text = expr.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    if not text:
        raise JSONPathError("empty expression")
    return JSONPath(expr, _Parser(text).parse())


@functools.lru_cache(maxsize=1024)
def compile_path(expr: str) -> JSONPath:
    """Parse ``expr`` once; raises :class:`JSONPathError` when it is not valid."""
    return _compile_uncached(expr)


def evaluate(expr: str, obj: Any) -> list[Any]:
    """Every value ``expr`` selects in ``obj`` (empty when nothing matches)."""
    return compile_path(expr).find(obj)

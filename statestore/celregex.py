"""CEL's ``matches()`` for the fast path: RE2's answer, without RE2's cost in the store.

google-re2's Python binding releases the GIL around every match. In the store, where other
threads (the SQLite writer, uvicorn) hold the GIL, getting it back takes up to the switch
interval: ~0.3 ms per ``matches()`` instead of 1 µs, the biggest part of ten policies' cost.

So a pattern of the plain kind policies use (literals, classes, ``.``, quantifiers, groups
with alternatives, ``^`` and ``$``) runs on Python's ``re``, which gives the same yes/no as
RE2 for that syntax (``$`` is translated to ``\\Z``: Python's ``$`` also matches before a
final newline, RE2's does not; ``\\d`` and ``\\w`` are ASCII in both). Python's ``re``
backtracks, RE2 does not: each pattern carries a bound on the paths it may try for a text
of length n (the product of its quantifiers' counts), and a text past the bound goes to RE2
(linear, just slower). Anything else (classes like ``\\pL``, flags, lazy quantifiers,
backreferences) always goes to RE2.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import re2

#: Paths Python's re may try for one text before RE2 takes over.
MAX_PATHS = 50_000
_LITERAL = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-:/@,=!%&~'\"#<>;`"
)
_ESCAPABLE = frozenset(".^$*+?()[]{}|\\-/")
_CLASS_ESCAPES = {"d": "0-9", "w": "A-Za-z0-9_"}


class _Unsafe(Exception):
    pass


@dataclass(frozen=True)
class _Cost:
    """At most ``factor * (n + 1) ** power`` paths for a text of length n."""

    factor: int = 1
    power: int = 0

    def times(self, other: _Cost) -> _Cost:
        return _Cost(self.factor * other.factor, self.power + other.power)

    def paths(self, length: int) -> int:
        return int(self.factor * (length + 1) ** self.power)


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.text = pattern
        self.at = 0
        self.out: list[str] = []

    def peek(self) -> str:
        return self.text[self.at] if self.at < len(self.text) else ""

    def take(self) -> str:
        char = self.peek()
        self.at += 1
        return char

    def alternatives(self, depth: int) -> _Cost:
        if depth > 8:
            raise _Unsafe
        costs = [self.sequence(depth)]
        while self.peek() == "|":
            self.out.append(self.take())
            costs.append(self.sequence(depth))
        return _Cost(sum(c.factor for c in costs), max(c.power for c in costs))

    def sequence(self, depth: int) -> _Cost:
        cost = _Cost()
        while self.peek() not in ("", "|", ")"):
            cost = cost.times(self.piece(depth))
        return cost

    def piece(self, depth: int) -> _Cost:
        char = self.peek()
        if char == "$":
            self.take()
            if self.peek() not in ("", ")", "|"):
                raise _Unsafe
            self.out.append(r"\Z")
            return _Cost()
        if char == "^":
            self.take()
            if self.at != 1:
                raise _Unsafe  # only as the pattern's anchor
            self.out.append("^")
            return _Cost()
        group = char == "("
        inner = self.atom(depth)
        quantifier = self.quantifier()
        if group and quantifier not in (_Cost(), _Cost(2, 0)):
            raise _Unsafe  # a group may only be optional: (...)* is the exponential kind
        return inner.times(quantifier)

    def atom(self, depth: int) -> _Cost:
        char = self.take()
        if char == "(":
            if self.text.startswith("?:", self.at):
                self.at += 2
            self.out.append("(?:")
            cost = self.alternatives(depth + 1)
            if self.take() != ")":
                raise _Unsafe
            self.out.append(")")
            return cost
        if char == "[":
            self.char_class()
            return _Cost()
        if char == "\\":
            escaped = self.take()
            if escaped in _ESCAPABLE:
                self.out.append("\\" + escaped)
            elif escaped in _CLASS_ESCAPES:
                self.out.append(f"[{_CLASS_ESCAPES[escaped]}]")
            else:
                raise _Unsafe
            return _Cost()
        if char == "." or char in _LITERAL:
            self.out.append(char)
            return _Cost()
        raise _Unsafe

    def char_class(self) -> None:
        # NB: '-' means the same in both (a range between two members, else itself).
        self.out.append("[")
        if self.peek() == "^":
            self.out.append(self.take())
        first = True
        while True:
            char = self.take()
            if char == "]" and not first:
                self.out.append("]")
                return
            first = False
            if char == "\\":
                escaped = self.take()
                if escaped in _ESCAPABLE:
                    self.out.append("\\" + escaped)
                elif escaped in _CLASS_ESCAPES and self.out[-1] != "-":
                    self.out.append(_CLASS_ESCAPES[escaped])
                else:
                    raise _Unsafe
            elif char in _LITERAL or char in ".$*+?(){}|/":
                if char in "-&~|" and self.out[-1] == char:
                    raise _Unsafe  # '--', '&&', ...: set operations to come in Python
                self.out.append(char)
            else:
                raise _Unsafe  # '[', end of pattern, anything else

    def quantifier(self) -> _Cost:
        char = self.peek()
        if char in ("*", "+", "?"):
            self.out.append(self.take())
            cost = _Cost(2, 0) if char == "?" else _Cost(1, 1)
        elif char == "{":
            match = re.match(r"\{(\d{1,4})(,(\d{0,4}))?\}", self.text[self.at :])
            if match is None:
                raise _Unsafe  # RE2 and Python differ on a literal '{'
            self.at += match.end()
            self.out.append(match.group(0))
            low, comma, high = match.group(1), match.group(2), match.group(3)
            cost = _Cost(1, 1) if comma and not high else _Cost(int(high or low) + 1, 0)
        else:
            return _Cost()
        if self.peek() in ("?", "+", "*", "{"):
            raise _Unsafe  # lazy, possessive or stacked quantifiers
        return cost


def _translate(pattern: str) -> tuple[re.Pattern[str], _Cost]:
    parser = _Parser(pattern)
    cost = parser.alternatives(0)
    if parser.at != len(pattern):
        raise _Unsafe  # an unmatched ')'
    anchored = pattern.startswith("^") and "|" not in pattern
    if not anchored:
        cost = cost.times(_Cost(1, 1))  # search tries every start
    return re.compile("".join(parser.out)), cost


def searcher(pattern: str) -> Callable[[str], bool]:
    """``text -> bool``: whether RE2 finds ``pattern`` in ``text``. Raises ``re2.error``
    for a pattern RE2 refuses."""
    compiled = re2.compile(pattern)  # RE2 decides what is a valid pattern
    try:
        python, cost = _translate(pattern)
    except (_Unsafe, re.error, RecursionError):
        return lambda text: compiled.search(text) is not None

    def search(text: str) -> bool:
        if cost.paths(len(text)) > MAX_PATHS:
            return compiled.search(text) is not None
        return python.search(text) is not None

    return search

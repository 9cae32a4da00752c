"""CEL ``matches()`` on the fast path (statestore/celregex.py): the same yes/no as RE2 on a
table of patterns and texts, and no backtracking blow-up on hostile input."""

from __future__ import annotations

import time

import pytest
import re2

from statestore import celregex

PATTERNS = [
    "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
    "^[a-z0-9-]{1,63}$",
    "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$",
    "^github:[a-z0-9-]+$",
    "^(dev|prod|staging)$",
    "^team-(a|b)",
    "\\d+",
    "^\\w+$",
    "^[^/]+/[a-z]+$",
    "a.c",
    "^$",
    "x$",
    "[.]",
    "^[a-z]{2,}$",
    "^\\$[0-9]+\\.[0-9]{2}$",
    "(?:ab)?c",
    "\\pL+",
    "(?i)^ABC$",
    "^(a+)+$",
]
TEXTS = [
    "",
    "web-1",
    "web-",
    "-web",
    "a" * 63,
    "a" * 64,
    "example.com",
    "Web",
    "github:alice",
    "github:Alice",
    "dev",
    "dev\n",
    "prod\nx",
    "team-a1",
    "x\n",
    "abc",
    "a\nc",
    "ab",
    "étoile",
    "٣",  # an Arabic-Indic digit: \d is ASCII in RE2
    "$12.50",
    "owner/repo",
    "c",
    "abc\n",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_the_answer_is_re2s(pattern: str) -> None:
    search = celregex.searcher(pattern)
    compiled = re2.compile(pattern)
    for text in TEXTS:
        assert search(text) == (compiled.search(text) is not None), (pattern, text)


def test_the_common_patterns_run_on_python_re() -> None:
    # (not the DNS subdomain pattern: its starred group goes to RE2, correct but slower)
    for pattern in PATTERNS[:2] + PATTERNS[3:15]:
        celregex._translate(pattern)  # no _Unsafe


@pytest.mark.parametrize("pattern", ["^(a+)+$", "^(a|aa)*$", "(a*)*b", "a*?", "\\1", "a{,3}"])
def test_exponential_or_differing_syntax_stays_on_re2(pattern: str) -> None:
    with pytest.raises((celregex._Unsafe, re2.error)):
        celregex._translate(pattern)


def test_a_long_hostile_text_goes_to_re2() -> None:
    search = celregex.searcher("a*a*a*a*b")
    started = time.perf_counter()
    assert search("a" * 100_000) is False
    assert time.perf_counter() - started < 1.0  # Python's re would take hours


def test_a_pattern_re2_refuses_is_an_error() -> None:
    with pytest.raises(re2.error):
        celregex.searcher("(")

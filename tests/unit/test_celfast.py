"""The CEL fast path (statestore/celfast.py) against cel-python, on a table of expressions:
the same result or the same error, and the common expressions really take the fast path."""

from __future__ import annotations

from typing import Any

import pytest

from statestore import cel, celenv, celfast
from statestore.admission import plugin

NAMES = frozenset({"object", "oldObject", "request", "params"})
OBJECT = {
    "metadata": {"name": "web-1", "namespace": "team-a", "labels": {"tier": "web", "n": "3"}},
    "spec": {
        "owner": "alice",
        "size": 3,
        "ratio": 0.5,
        "tags": ["a", "bb", "ccc"],
        "sizes": [1, 2, 3],
        "mixed": [1, "a"],
        "empty": [],
        "nothing": None,
        "big": 2**62,
        "flag": True,
    },
}
VALUES: dict[str, Any] = {
    "object": OBJECT,
    "oldObject": None,
    "request": {
        "operation": "CREATE",
        "userInfo": {"username": "github:alice", "groups": ["system:authenticated", "devs"]},
    },
    "params": {"maxSize": 5, "data": {"limit": "4", "bad": " 4", "hex": "0x4"}},
}

# Expressions the fast path decides on its own (no fallback): the common policy shapes.
FAST = [
    "object.spec.size <= params.maxSize",
    "object.spec.size >= 0 && object.spec.size < 10",
    "object.spec.size <= int(params.data.limit)",
    "request.userInfo.username.startsWith('github:')",
    "'devs' in request.userInfo.groups",
    "'system:masters' in request.userInfo.groups",
    "has(object.metadata.labels) && 'tier' in object.metadata.labels",
    "has(object.spec.missing)",
    "!has(object.spec.tags) || object.spec.tags.all(t, size(t) < 64)",
    "object.spec.tags.exists(t, t == 'bb')",
    "object.spec.tags.exists_one(t, t.startsWith('c'))",
    "object.spec.tags.map(t, t + '!')",
    "object.spec.tags.filter(t, size(t) > 1)",
    "object.spec.sizes.map(x, x * 2)",
    "object.metadata.labels.all(k, k.matches('^[a-z]+$'))",
    "object.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",
    "size(object.metadata.name) <= 63",
    "object.metadata.name.size() <= 63",
    "object.spec.owner != ''",
    "object.spec.owner.endsWith('ce') && object.spec.owner.contains('lic')",
    "request.operation == 'CREATE' || oldObject.spec.owner == object.spec.owner",
    "object.spec.nothing == null",
    "object.spec.ratio * 2.0 == 1.0",
    "object.spec.ratio < 1.0",
    "object.spec.size / 2 == 1 && object.spec.size % 2 == 1",
    "-7 / 2 == -3 && -7 % 2 == -1 && 7 % -2 == 1",
    "object.spec.size - 4 < 0 ? 'small' : 'large'",
    "object.spec.tags[1] == 'bb' && object.metadata.labels['tier'] == 'web'",
    "size([1, 2, 3] + [4]) == 4",
    "(object.spec.size + 1) * 2 == 8",
    "object.spec.flag && !false",
    "'a' < 'b' && object.spec.owner >= 'alice'",
    'object.metadata.name + "-" + object.metadata.namespace',
    "object.spec.big - 1 + object.spec.big > 0",  # INT64_MAX exactly
    "true || object.spec.missing == 1",  # short-circuit: the error is never reached
    "object.spec.mixed.exists(x, x == 1)",  # the first element decides
    "object.spec.empty.all(x, x > 0) && !object.spec.empty.exists(x, x > 0)",
    "object.spec.owner.upperAscii() == 'ALICE' && ' a '.trim() == 'a'",
    "object.metadata.name.split('-')[0] + object.metadata.name.replace('-', '_')",
    "object.metadata.name.indexOf('-') == 3 && 'Web'.lowerAscii() == 'web'",
    "'size ' + string(object.spec.size) + ' of ' + string(params.data.limit)",
    "object.spec.tags == ['a', 'bb', 'ccc'] && object.spec.tags != ['a']",
    "object.metadata.labels == {'tier': 'web', 'n': '3'}",
    "object.metadata.labels != {'tier': 'web'} && {} == {}",
    "(has(object.metadata.annotations) ? object.metadata.annotations : {}) == {}",
    "object.spec.sizes == [1, 2, 3] && object.spec.sizes != [1, 2, 4]",
    "{'a': object.spec.owner}.a == 'alice'",
    "[object.spec.tags, []] == [['a', 'bb', 'ccc'], []]",
]

# Expressions where CEL's result depends on an error or a mixed type: the fast path gives up
# and cel-python decides (the result must be cel-python's either way).
FALLBACK = [
    "object.spec.missing == 1",
    "object.spec.missing == 1 || true",  # || absorbs the error
    "object.spec.missing == 1 && false",  # && absorbs the error
    "object.spec.missing == 1 && true",
    "object.spec.size == 3.0",  # int vs double
    "object.spec.size < 3.5",
    "object.spec.size == 'a'",
    "object.spec.big * 4 > 0",  # int64 overflow
    "object.spec.big + object.spec.big > 0",
    "object.spec.size / 0 == 1",
    "object.spec.size % 0 == 1",
    "object.spec.tags[7] == 'x'",
    "object.metadata.labels['nope'] == 'x'",
    "object.spec.tags.all(t, t.size() < object.spec.missing)",
    "object.spec.mixed.exists(x, x == 'a')",  # the 1 element errors, exists is still true
    "'a' in object.spec.mixed",
    "oldObject.spec.owner == 'alice'",  # oldObject is null on CREATE
    "object.spec.owner ? true : false",
    "!object.spec.size",
    "object.spec.size && true",
    "int(params.data.bad) == 4",
    "int(params.data.hex) == 4",
    "object.metadata.name.matches('(')",
    "object.spec.flag == 1",
    "object.spec.nothing.x == 1",
    "has(object.spec.nothing.x)",
    "object.spec.sizes == [1.0, 2.0, 3.0]",
    "object.spec.mixed == [1, 2]",
    "object.spec.mixed == ['a', 1]",
    "{'a': 1} == {'a': 'x'}",
    "{'a': 1, 'a': 2}.a == 1",
    "{1: 'a'}[1] == 'a'",
    "size(object.spec.size) == 1",
    "unknownName == 1",
    "string(object.spec.ratio) == '0.5'",
    "string(object.spec.flag) == 'true'",
    "object.spec.size.lowerAscii() == '3'",
]

# Outside the subset: never compiled for the fast path.
UNSUPPORTED = [
    "object.spec.tags.join(',') == 'a,bb,ccc'",
    "1u == 1u",
    "b'abc' == b'abc'",
    "object.spec.tags.map(t, t != 'a', t)",
    "duration('1s') > duration('0s')",
]


def _cel_python(program: celenv.Program) -> Any:
    try:
        return ("value", program.evaluate({k: celenv.to_cel(v) for k, v in VALUES.items()}))
    except celenv.EvaluationError as error:
        return ("error", str(error))


def _run(program: celenv.Program) -> Any:
    try:
        result = program.run(VALUES, lambda: {k: celenv.to_cel(v) for k, v in VALUES.items()})
    except celenv.EvaluationError as error:
        return ("error", str(error))
    return ("value", result)


def _typed(outcome: Any) -> Any:
    kind, value = outcome
    if kind == "value":
        return kind, type(value).__name__, value
    return outcome


@pytest.mark.parametrize("expression", FAST + FALLBACK)
def test_the_result_is_cel_pythons(expression: str) -> None:
    program = celenv.compile_expression(expression, plain=NAMES)
    assert _typed(_run(program)) == _typed(_cel_python(program))


@pytest.mark.parametrize("expression", FAST)
def test_common_expressions_take_the_fast_path(expression: str) -> None:
    program = celenv.compile_expression(expression, plain=NAMES)
    assert program._fast is not None
    program._fast.evaluate(VALUES)  # no Fallback


@pytest.mark.parametrize("expression", FALLBACK)
def test_errors_and_mixed_types_fall_back(expression: str) -> None:
    program = celenv.compile_expression(expression, plain=NAMES)
    if program._fast is not None:
        with pytest.raises(celfast.Fallback):
            program._fast.evaluate(VALUES)


@pytest.mark.parametrize("expression", UNSUPPORTED)
def test_outside_the_subset_is_left_to_cel_python(expression: str) -> None:
    try:
        program = celenv.compile_expression(expression, plain=NAMES)
    except celenv.CompileError:
        return  # cel-python does not parse it either
    assert not program.fast


VARIABLE_PROGRAMS = {
    "owner": "object.spec.owner",
    "limit": "int(params.data.limit)",
    "broken": "object.spec.missing",
    "spec": "object.spec",
}


@pytest.mark.parametrize(
    "expression",
    [
        "variables.owner == 'alice' && object.spec.size < variables.limit",
        "variables.spec.tags[0] == 'a'",
        "variables.broken == 1 || true",  # the error is absorbed: cel-python decides
        "variables.broken == 1",
        "variables.nothing == 1",
    ],
)
def test_variables_are_computed_once_and_errors_fall_back(expression: str) -> None:
    names = NAMES | {"variables"}
    programs = {n: celenv.compile_expression(e, plain=names) for n, e in VARIABLE_PROGRAMS.items()}
    computed: list[str] = []

    def compute(name: str) -> Any:
        computed.append(name)
        if name not in programs:
            raise celfast.Fallback
        try:
            return programs[name].run(values, celpy_activation)
        except celenv.EvaluationError:
            raise celfast.Fallback from None

    def celpy_activation() -> dict[str, Any]:
        activation = {k: celenv.to_cel(v) for k, v in VALUES.items()}
        activation["variables"] = plugin._Variables(tuple(programs.items()), activation)
        return activation

    values = dict(VALUES) | {"variables": celfast.Variables(compute)}
    program = celenv.compile_expression(expression, plain=names)
    assert program.fast
    try:
        fast: Any = ("value", program.run(values, celpy_activation))
    except celenv.EvaluationError:
        fast = ("error",)
    try:
        reference: Any = ("value", celenv.to_python(program._program.evaluate(celpy_activation())))
        if isinstance(reference[1], Exception):
            reference = ("error",)
    except Exception:
        reference = ("error",)
    assert fast == reference
    assert len(computed) == len(set(computed))  # each at most once


def test_a_redefined_builtin_keeps_cel_python() -> None:
    program = celenv.compile_expression(
        "size(object.spec.tags) == 3", functions={"size": lambda x: 0}, plain=NAMES
    )
    assert not program.fast


def test_the_run_time_budget_still_stops_a_large_comprehension() -> None:
    values = {"object": {"items": list(range(3_000))}}
    expression = "object.items.all(x, object.items.all(y, x >= 0))"
    program = celenv.compile_expression(expression, plain=frozenset(values))
    assert program.fast
    with pytest.raises(celfast.Fallback):
        program._fast.evaluate(values)  # type: ignore[union-attr]
    with pytest.raises(celenv.EvaluationError, match="cost limit"):
        program.run(values, lambda: {k: celenv.to_cel(v) for k, v in values.items()})
    # ... and a small one within it stays fast
    small = {"object": {"items": list(range(10))}}
    assert program._fast.evaluate(small) is True  # type: ignore[union-attr]
    assert cel.PER_CALL_VISITS < 3_000 * 3_000

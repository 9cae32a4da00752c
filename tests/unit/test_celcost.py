"""The static cost estimate of CEL validation rules (statestore/celcost.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from statestore import cel, celcost
from statestore.errors import Cause

STRINGS = {"type": "array", "items": {"type": "string"}}


def test_sizes_come_from_the_schema_or_the_request_limit() -> None:
    bounded = {"type": "array", "maxItems": 10, "items": {"type": "string", "maxLength": 5}}
    assert celcost.estimate("self.all(x, x == 'a')", bounded) < 200
    # Unbounded: as many 2-byte strings as 3 MiB holds, about a million.
    assert celcost.estimate("self.all(x, x == 'a')", STRINGS) > 1_000_000
    assert celcost.estimate("self.all(x, self.all(y, x == y))", STRINGS) > 1e11
    # Fields of fixed objects are one value each; maps without maxProperties are large.
    obj = {
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 63}},
    }
    assert celcost.estimate("self.name.startsWith('a')", obj) < 20
    labels = {"type": "object", "additionalProperties": {"type": "string"}}
    assert celcost.estimate("self.exists(k, k == 'a')", labels) > 500_000
    assert celcost.estimate("self.exists(k, k == 'a')", {**labels, "maxProperties": 8}) < 100


def _crd(schema: Any) -> dict[str, Any]:
    return {"spec": {"versions": [{"name": "v1", "schema": {"openAPIV3Schema": schema}}]}}


def test_each_rule_over_budget_is_named_by_its_path() -> None:
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "tags": {
                        **STRINGS,
                        "x-kubernetes-validations": [
                            {"rule": "size(self) < 5"},
                            {"rule": "self.all(x, self.all(y, x == y))"},
                        ],
                    }
                },
            }
        },
    }
    causes = celcost.crd_causes(_crd(schema))
    assert causes == [
        Cause(
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[tags]"
            ".x-kubernetes-validations[1].rule",
            "Forbidden: estimated rule cost exceeds budget by factor of more than 100x "
            "(try simplifying the rule(s), or adding maxItems, maxProperties, and maxLength "
            "where arrays, maps, and strings are declared)",
            "FieldValueForbidden",
        )
    ]


def test_the_total_counts_each_rule_times_the_values_it_runs_on() -> None:
    """A cheap rule on each item of an unbounded list of unbounded lists."""
    inner = {
        "type": "array",
        "maxItems": 1000,
        "items": {"type": "string", "maxLength": 10},
        "x-kubernetes-validations": [{"rule": "self.all(x, x != 'a')"}],
    }
    schema = {"type": "object", "properties": {"lists": {"type": "array", "items": inner}}}
    [cause] = celcost.crd_causes(_crd(schema))
    assert cause.field == "spec.versions[0].schema.openAPIV3Schema"
    assert "estimated rule cost total for entire OpenAPIv3 schema" in cause.message


def test_the_wws_crds_fit_the_budget() -> None:
    for path in sorted(Path("crds").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if isinstance(document, dict) and document.get("kind") == "CustomResourceDefinition":
                assert celcost.crd_causes(document) == [], path


def test_a_run_time_budget_stops_one_rule_and_then_the_request() -> None:
    check = cel.rule_check({"rule": "self.all(x, self.all(y, x == y))"})
    assert check is not None
    causes: list[Cause] = []
    with cel.request_budget():
        check(["a"] * 3, "spec.tags", causes)
        assert causes == []
        check(["a"] * 500, "spec.tags", causes)
        assert [c.message for c in causes] == [
            "Invalid value: call cost exceeds limit for rule: self.all(x, self.all(y, x == y))"
        ]
        for _ in range(5):
            check(["a"] * 500, "spec.tags", causes)
    assert causes[-1].message.startswith(
        "Forbidden: validation failed due to running out of cost budget"
    )
    assert len(causes) <= 5


def test_admission_expressions_are_bounded_too() -> None:
    from statestore import celenv

    program = celenv.compile_expression("object.all(x, object.all(y, x == y))")
    assert program.evaluate({"object": celenv.to_cel(["a"] * 3)}) is True
    try:
        program.evaluate({"object": celenv.to_cel(["a"] * 500)})
    except celenv.EvaluationError as error:
        assert "actual cost limit exceeded" in str(error)
    else:
        raise AssertionError("an evaluation of 250,000 steps was not cut off")

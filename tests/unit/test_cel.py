"""CRD validation rules (CEL) are enforced by the embedded store, as by kube-apiserver."""

from __future__ import annotations

from typing import Any

from statestore import schema

RULES = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "languages": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}, "version": {"type": "string"}},
                        "x-kubernetes-validations": [
                            {
                                "rule": "!has(self.version) || (self.name == 'python' && "
                                "self.version in ['3.11'])",
                                "message": "unknown version; known: python (3.11)",
                            }
                        ],
                    },
                },
                "min": {"type": "integer"},
                "max": {"type": "integer"},
            },
            "x-kubernetes-validations": [
                {
                    "rule": "self.min <= self.max",
                    "fieldPath": ".max",
                    "reason": "FieldValueForbidden",
                }
            ],
        }
    },
}


def _causes(spec: dict[str, Any]) -> list[tuple[str, str, str]]:
    result = schema.process({"apiVersion": "x/v1", "kind": "X", "spec": spec}, RULES)
    return [(c.field, c.reason, c.message) for c in result.causes]


def test_a_rule_that_holds_gives_no_cause() -> None:
    assert _causes({"languages": [{"name": "python", "version": "3.11"}], "min": 1, "max": 2}) == []
    assert _causes({"languages": [{"name": "python"}], "min": 1, "max": 1}) == []


def test_a_failing_rule_names_the_field_and_says_the_rules_message() -> None:
    assert _causes({"languages": [{"name": "python", "version": "2.7"}], "min": 1, "max": 2}) == [
        (
            "spec.languages[0]",
            "FieldValueInvalid",
            "Invalid value: unknown version; known: python (3.11)",
        )
    ]
    assert _causes({"min": 3, "max": 2}) == [
        ("spec.max", "FieldValueForbidden", "Invalid value: failed rule: self.min <= self.max")
    ]


def test_a_rule_that_cannot_evaluate_fails_with_the_reason() -> None:
    ((field, _, message),) = _causes({"min": 3})  # no max: the rule cannot be evaluated
    assert field == "spec.max"
    assert "evaluation error" in message


def test_a_crd_with_a_rule_that_does_not_compile_is_invalid() -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "things.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"plural": "things", "kind": "Thing"},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": True, "storage": True,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "x-kubernetes-validations": [{"rule": "self.a ==="}],
                    "properties": {"a": {"type": "string"}},
                }},
            }],
        },
    }  # fmt: skip
    causes = schema.validate_crd(schema.crd_defaults(crd))
    assert [c.field for c in causes] == [
        "spec.versions[0].schema.openAPIV3Schema.x-kubernetes-validations[0].rule"
    ]

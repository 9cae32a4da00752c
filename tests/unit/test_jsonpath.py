"""The Kubernetes JSONPath subset used by printer columns."""

from __future__ import annotations

from typing import Any

import pytest

from statestore.jsonpath import JSONPathError, compile_path, evaluate

OBJ: dict[str, Any] = {
    "metadata": {
        "name": "ws",
        "labels": {"app.kubernetes.io/name": "editor", "tier": "dev"},
        "annotations": {"note": None},
    },
    "spec": {
        "replicas": 2,
        "ports": [{"name": "http", "port": 80}, {"name": "ssh", "port": 22}],
        "tags": ["a", "b", "c", "d"],
    },
    "status": {
        "conditions": [
            {"type": "Scheduled", "status": "True"},
            {"type": "Ready", "status": "False", "reason": "Booting"},
        ]
    },
}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (".metadata.name", ["ws"]),
        (".spec.replicas", [2]),
        (".spec.ports[0].port", [80]),
        (".spec.ports[-1].name", ["ssh"]),
        (".spec.ports[*].name", ["http", "ssh"]),
        (".spec.tags[1:3]", ["b", "c"]),
        (".spec.tags[::2]", ["a", "c"]),
        (".spec.tags[0,2]", ["a", "c"]),
        ('.status.conditions[?(@.type=="Ready")].status', ["False"]),
        (".status.conditions[?(@.type=='Ready')].reason", ["Booting"]),
        ('.status.conditions[?(@.type!="Ready")].type', ["Scheduled"]),
        (".status.conditions[?(@.reason)].type", ["Ready"]),
        (".spec.ports[?(@.port > 50)].name", ["http"]),
        (".spec.ports[?(@.port<=22)].name", ["ssh"]),
        (".metadata.labels['app.kubernetes.io/name']", ["editor"]),
        ('.metadata.labels["app.kubernetes.io/name"]', ["editor"]),
        (".metadata.labels.app\\.kubernetes\\.io/name", ["editor"]),
        (".metadata.labels.tier", ["dev"]),
        (".metadata.annotations.note", [None]),
        ("{.metadata.name}", ["ws"]),
        ("$.metadata.name", ["ws"]),
        ("metadata.name", ["ws"]),
        ("..port", [80, 22]),
        # A union evaluates each branch over all inputs, as client-go does.
        (".spec.ports[*]['name','port']", ["http", "ssh", 80, 22]),
    ],
)
def test_selects(expr: str, expected: list[Any]) -> None:
    assert evaluate(expr, OBJ) == expected


@pytest.mark.parametrize(
    "expr",
    [
        ".metadata.missing",
        ".missing.deeper[0]",
        ".spec.ports[5].name",  # out of range: client-go errors, the table cell is empty
        ".metadata.name[0]",  # indexing a string
        ".metadata[?(@.x)]",  # filtering a map
        '.status.conditions[?(@.type=="Gone")].status',
    ],
)
def test_missing_or_inapplicable_selects_nothing(expr: str) -> None:
    assert evaluate(expr, OBJ) == []


def test_wildcard_on_a_map_returns_its_values() -> None:
    assert evaluate(".metadata.labels.*", OBJ) == ["editor", "dev"]


def test_dot_alone_is_the_whole_object() -> None:
    assert evaluate(".", OBJ) == [OBJ]


@pytest.mark.parametrize(
    "expr",
    [".spec.ports[", ".a[?(@.x==1)", ".a[x]", ".a[1:b]", ".a]", "", ".a[?(@.x=~1)]"],
)
def test_invalid_expressions_raise(expr: str) -> None:
    with pytest.raises(JSONPathError):
        compile_path(expr)


def test_compiled_expressions_are_cached() -> None:
    assert compile_path(".spec.replicas") is compile_path(".spec.replicas")

"""Table responses for ``kubectl get``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from statestore.resources import CONFIGMAPS, CRDS, NAMESPACES, SECRETS, ResourceInfo, VersionInfo
from statestore.tables import build_table, human_duration, render_age, table_for_watch

NOW = dt.datetime(2025, 1, 10, 12, 0, 0, tzinfo=dt.UTC)

COLUMNS = (
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {
        "name": "Ready",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
        "description": "Whether it serves",
    },
    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
    {"name": "CPU", "type": "number", "jsonPath": ".spec.cpu", "priority": 1},
    {"name": "Paused", "type": "boolean", "jsonPath": ".spec.paused"},
    {"name": "Ports", "type": "string", "jsonPath": ".spec.ports"},
    {"name": "Started", "type": "date", "jsonPath": ".status.startedAt"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
)

WORKSPACES = ResourceInfo(
    group="wws.dev",
    plural="workspaces",
    singular="workspace",
    kind="Workspace",
    namespaced=True,
    versions=(VersionInfo(name="v1alpha1", printer_columns=COLUMNS),),
)
PLAIN = ResourceInfo(
    group="wws.dev",
    plural="templates",
    singular="template",
    kind="Template",
    namespaced=True,
    versions=(VersionInfo(name="v1"),),
)


def workspace(name: str = "ws", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "wws.dev/v1alpha1",
        "kind": "Workspace",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": "u-1",
            "resourceVersion": "42",
            "creationTimestamp": "2025-01-10T11:56:58Z",
        },
        "spec": {"replicas": 2, "cpu": 1, "paused": False, "ports": [80, 22], **spec},
        "status": {
            "phase": "Running",
            "startedAt": "2025-01-08T09:00:00Z",
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (5, "5s"),
        (119, "119s"),
        (182, "3m2s"),
        (300, "5m"),
        (60 * 42, "42m"),
        (3600 * 3 + 60 * 5, "3h5m"),
        (3600 * 4, "4h"),
        (3600 * 20, "20h"),
        (3600 * 51, "2d3h"),
        (86400 * 7, "7d"),
        (86400 * 30, "30d"),
        (86400 * 365 * 3 + 86400 * 10, "3y10d"),
        (86400 * 365 * 9, "9y"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_render_age() -> None:
    assert render_age("2025-01-10T11:59:55Z", NOW) == "5s"
    assert render_age("2025-01-10T13:59:55+02:00", NOW) == "5s"
    assert render_age("2025-01-10T11:59:55.250Z", NOW) == "4s"
    assert render_age("", NOW) == "<unknown>"
    assert render_age("yesterday", NOW) == "<invalid>"


def test_printer_columns_and_cells() -> None:
    table = build_table(WORKSPACES, "v1alpha1", [workspace()], resource_version="77", now=NOW)
    assert table["kind"] == "Table"
    assert table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "77"}
    names = [c["name"] for c in table["columnDefinitions"]]
    assert names == [
        "Name",
        "Phase",
        "Ready",
        "Replicas",
        "CPU",
        "Paused",
        "Ports",
        "Started",
        "Age",
    ]
    first = table["columnDefinitions"][0]
    assert first["type"] == "string" and first["format"] == "name"
    phase = table["columnDefinitions"][1]
    assert phase == {
        "name": "Phase",
        "type": "string",
        "format": "",
        "description": "Custom resource definition column (in JSONPath format): .status.phase",
        "priority": 0,
    }
    assert table["columnDefinitions"][2]["description"] == "Whether it serves"
    assert table["columnDefinitions"][4]["priority"] == 1
    (row,) = table["rows"]
    assert row["cells"] == ["ws", "Running", "True", 2, 1.0, False, "[80,22]", "2d3h", "3m2s"]


def test_missing_and_mistyped_values_are_null_cells() -> None:
    obj = workspace(replicas="two", paused="no")
    del obj["status"]
    (row,) = build_table(WORKSPACES, "v1alpha1", [obj], now=NOW)["rows"]
    assert row["cells"] == ["ws", None, None, None, 1.0, None, "[80,22]", None, "3m2s"]


def test_integer_cells_truncate_floats_and_strings_print_scalars() -> None:
    info = ResourceInfo(
        group="g.dev",
        plural="things",
        singular="thing",
        kind="Thing",
        namespaced=False,
        versions=(
            VersionInfo(
                name="v1",
                printer_columns=(
                    {"name": "N", "type": "integer", "jsonPath": ".n"},
                    {"name": "S", "type": "string", "jsonPath": ".s"},
                    {"name": "B", "type": "string", "jsonPath": ".b"},
                ),
            ),
        ),
    )
    obj = {"metadata": {"name": "t"}, "n": 2.9, "s": 1e6, "b": True}
    (row,) = build_table(info, "v1", [obj], now=NOW)["rows"]
    assert row["cells"] == ["t", 2, "1e+06", "true"]


def test_default_age_column_when_no_printer_columns() -> None:
    obj = {"metadata": {"name": "t", "creationTimestamp": "2025-01-10T08:00:00Z"}}
    table = build_table(PLAIN, "v1", [obj], now=NOW)
    assert [(c["name"], c["type"]) for c in table["columnDefinitions"]] == [
        ("Name", "string"),
        ("Age", "date"),
    ]
    assert table["rows"][0]["cells"] == ["t", "4h"]
    assert table["metadata"] == {}


def test_row_objects_follow_include_object() -> None:
    obj = workspace()
    metadata_row = build_table(WORKSPACES, "v1alpha1", [obj], now=NOW)["rows"][0]
    assert metadata_row["object"] == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj["metadata"],
    }
    full = build_table(WORKSPACES, "v1alpha1", [obj], include_object="Object", now=NOW)
    assert full["rows"][0]["object"] == obj
    bare = build_table(WORKSPACES, "v1alpha1", [obj], include_object="None", now=NOW)
    assert "object" not in bare["rows"][0]


def test_several_rows_keep_order() -> None:
    table = build_table(WORKSPACES, "v1alpha1", [workspace("a"), workspace("b")], now=NOW)
    assert [r["cells"][0] for r in table["rows"]] == ["a", "b"]


def test_table_for_watch_has_one_row_and_the_object_resource_version() -> None:
    table = table_for_watch(WORKSPACES, "v1alpha1", workspace(), now=NOW)
    assert len(table["rows"]) == 1
    assert table["metadata"] == {"resourceVersion": "42"}
    assert table["columnDefinitions"][0]["name"] == "Name"
    headless = table_for_watch(WORKSPACES, "v1alpha1", workspace(), include_columns=False)
    assert headless["columnDefinitions"] == []


def test_builtin_columns() -> None:
    created = "2025-01-10T11:00:00Z"
    namespace = {
        "metadata": {"name": "default", "creationTimestamp": created},
        "status": {"phase": "Active"},
    }
    secret = {
        "metadata": {"name": "s", "creationTimestamp": created},
        "type": "Opaque",
        "data": {"a": "YQ==", "b": "Yg=="},
    }
    configmap = {"metadata": {"name": "c", "creationTimestamp": created}, "data": {"x": "1"}}
    assert build_table(NAMESPACES, "v1", [namespace], now=NOW)["rows"][0]["cells"] == [
        "default",
        "Active",
        "60m",
    ]
    secrets = build_table(SECRETS, "v1", [secret], now=NOW)
    assert [c["name"] for c in secrets["columnDefinitions"]] == ["Name", "Type", "Data", "Age"]
    assert secrets["rows"][0]["cells"] == ["s", "Opaque", 2, "60m"]
    assert build_table(CONFIGMAPS, "v1", [configmap], now=NOW)["rows"][0]["cells"] == [
        "c",
        1,
        "60m",
    ]


def test_crd_table() -> None:
    crd = {
        "metadata": {"name": "workspaces.wws.dev", "creationTimestamp": "2025-01-01T00:00:00Z"},
        "spec": {
            "group": "wws.dev",
            "scope": "Namespaced",
            "names": {"kind": "Workspace", "shortNames": ["ws"]},
            "versions": [
                {"name": "v1alpha1", "served": True, "storage": True},
                {"name": "v0", "served": False},
            ],
        },
        "status": {"conditions": [{"type": "Established", "status": "True"}]},
    }
    table = build_table(CRDS, "v1", [crd], now=NOW)
    assert table["rows"][0]["cells"] == [
        "workspaces.wws.dev",
        "Namespaced",
        "v1alpha1(storage)",
        "2025-01-01T00:00:00Z",
        "wws.dev",
        "Workspace",
        "ws",
        True,
    ]

"""crds/ and docs/api.md are what api/ generates; the CRD schemas are structural; examples fit.

``jsonschema`` stands in for the API server's validation here; the store's own tests check
the real thing.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from api import meta, resources
from wws import crdgen

ROOT = Path(__file__).resolve().parents[2]
CRDS_DIR = ROOT / "crds"
DOCS = ROOT / "docs" / "api.md"
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))

ALLOWED = {
    "description",
    "type",
    "format",
    "enum",
    "default",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "required",
    "properties",
    "items",
    "additionalProperties",
    "nullable",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-validations",
}


def _crds() -> dict[str, dict[str, Any]]:
    return crdgen.generate()


def _root_schema(crd: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def _nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from _nodes(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _nodes(node["additionalProperties"], f"{path}.*")


def _by_kind() -> dict[str, dict[str, Any]]:
    return {crd["spec"]["names"]["kind"]: crd for crd in _crds().values()}


# -- drift ---------------------------------------------------------------------------------------


def test_crds_dir_is_what_the_models_generate() -> None:
    generated = _crds()
    on_disk = {path.name for path in CRDS_DIR.glob("*.yaml")}
    assert on_disk == set(generated), "run `wws crds generate`"
    for name, document in generated.items():
        text = (CRDS_DIR / name).read_text(encoding="utf-8")
        assert text == crdgen.to_yaml(document), f"crds/{name} drifted: run `wws crds generate`"
        assert text.startswith(crdgen.HEADER)
        assert yaml.safe_load(text) == document


def test_docs_api_md_is_what_the_crds_generate() -> None:
    assert DOCS.read_text(encoding="utf-8") == crdgen.render_docs(_crds()), (
        "docs/api.md drifted: run `wws crds generate`"
    )


def test_check_passes_on_the_repository() -> None:
    assert crdgen.main(out_dir=CRDS_DIR, check=True, docs_path=DOCS) == 0


def test_generate_writes_and_check_lists_differing_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, docs = tmp_path / "crds", tmp_path / "docs" / "api.md"
    assert crdgen.main(out_dir=out, check=True, docs_path=docs) == 1
    assert crdgen.main(out_dir=out, check=False, docs_path=docs) == 0
    assert sorted(path.name for path in out.iterdir()) == sorted(_crds())
    assert crdgen.main(out_dir=out, check=True, docs_path=docs) == 0
    capsys.readouterr()
    workspaces = out / "workspaces.wws.dev.yaml"
    workspaces.write_text(workspaces.read_text() + "# hand edit\n")
    (out / "gadgets.wws.dev.yaml").write_text("{}\n")
    assert crdgen.main(out_dir=out, check=True, docs_path=docs) == 1
    err = capsys.readouterr().err
    assert "workspaces.wws.dev.yaml" in err
    assert "gadgets.wws.dev.yaml" in err
    assert "organizations.wws.dev.yaml" not in err
    assert crdgen.main(out_dir=out, check=False, docs_path=docs) == 0
    assert not (out / "gadgets.wws.dev.yaml").exists()
    assert crdgen.main(out_dir=out, check=True, docs_path=docs) == 0


def test_generation_is_deterministic() -> None:
    first = {name: crdgen.to_yaml(doc) for name, doc in crdgen.generate().items()}
    second = {name: crdgen.to_yaml(doc) for name, doc in crdgen.generate().items()}
    assert first == second


# -- structural schemas ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(crdgen.generate()))
def test_schema_is_structural(name: str) -> None:
    root = _root_schema(_crds()[name])
    for path, node in _nodes(root):
        if node.get("x-kubernetes-int-or-string"):
            # The one union a structural schema allows (resource quantities).
            assert node["anyOf"] == [{"type": "integer"}, {"type": "string"}], f"{name}{path}"
            continue
        assert "type" in node, f"{name}{path}: no type"
        unknown = set(node) - ALLOWED
        assert not unknown, f"{name}{path}: {unknown}"
        if node["type"] == "object" and path != ".metadata":
            assert "properties" in node or "additionalProperties" in node, f"{name}{path}"
        if node["type"] == "array":
            assert isinstance(node["items"], dict), f"{name}{path}"
        if node.get("x-kubernetes-list-type") == "map":
            keys = node["x-kubernetes-list-map-keys"]
            item = node["items"]
            for key in keys:
                assert key in item.get("required", []) or "default" in item["properties"][key]
        if node.get("x-kubernetes-list-type") == "set":
            assert node["items"]["type"] in ("string", "integer", "number", "boolean")
    text = yaml.safe_dump(root)
    for forbidden in ("$ref", "$defs", "allOf", "oneOf", "title:", "const:"):
        assert forbidden not in text, f"{name}: {forbidden}"
    assert root["properties"]["metadata"] == {"type": "object"}
    assert root["properties"]["apiVersion"]["type"] == "string"
    assert root["properties"]["kind"]["type"] == "string"
    assert "default" not in root["properties"]["status"]


@pytest.mark.parametrize("name", sorted(crdgen.generate()))
def test_patterns_compile_and_are_re2_compatible(name: str) -> None:
    for path, node in _nodes(_root_schema(_crds()[name])):
        pattern = node.get("pattern")
        if pattern is None:
            continue
        re.compile(pattern)
        assert pattern.startswith("^") and pattern.endswith("$"), f"{name}{path}"
        assert not re.search(r"\(\?[=!<]|\\[1-9]", pattern), f"{name}{path}: not RE2: {pattern}"


@pytest.mark.parametrize("name", sorted(crdgen.generate()))
def test_defaults_are_valid_against_their_own_schema(name: str) -> None:
    for _path, node in _nodes(_root_schema(_crds()[name])):
        if "default" in node:
            jsonschema.Draft7Validator(node).validate(node["default"])


def test_names_columns_and_subresources() -> None:
    crds = _by_kind()
    assert set(crds) == {"Organization", "Team", "Workspace", "Invitation"}
    for kind, crd in crds.items():
        spec = crd["spec"]
        assert crd["metadata"]["name"] == f"{spec['names']['plural']}.wws.dev"
        assert spec["group"] == meta.GROUP
        assert spec["names"]["categories"] == ["wws"]
        version = spec["versions"][0]
        assert version["name"] == meta.VERSION
        assert version["served"] is True and version["storage"] is True
        assert version["subresources"] == {"status": {}}
        names = [column["name"] for column in version["additionalPrinterColumns"]]
        assert "Ready" in names and "Age" in names, kind
    assert crds["Organization"]["spec"]["scope"] == "Cluster"
    assert crds["Team"]["spec"]["scope"] == "Namespaced"
    assert crds["Workspace"]["spec"]["scope"] == "Namespaced"
    assert crds["Workspace"]["spec"]["names"]["shortNames"] == ["ws"]
    assert "org" in crds["Organization"]["spec"]["names"]["shortNames"]
    assert "team" in crds["Team"]["spec"]["names"]["shortNames"]
    columns = {
        column["name"]: column
        for column in crds["Workspace"]["spec"]["versions"][0]["additionalPrinterColumns"]
    }
    assert [name for name, column in columns.items() if not column.get("priority")] == [
        "Owner",
        "Provider",
        "Phase",
        "Ready",
        "Age",
    ]
    assert columns["Owner"]["jsonPath"] == ".spec.owner"
    assert columns["Phase"]["jsonPath"] == ".status.phase"
    assert columns["Ready"]["jsonPath"] == '.status.conditions[?(@.type=="Ready")].status'
    assert columns["Editor"]["jsonPath"] == ".status.endpoints.codeServer"
    assert columns["Editor"]["priority"] == 1


def test_workspace_schema_carries_enums_defaults_and_descriptions() -> None:
    spec = _root_schema(_by_kind()["Workspace"])["properties"]["spec"]
    props = spec["properties"]
    assert spec["required"] == ["owner"]
    assert props["provider"]["enum"] == ["podman", "kvm"]
    assert props["provider"]["default"] == "podman"
    assert props["shell"]["enum"] == ["zsh", "bash", "fish"]
    assert props["image"]["default"] == "localhost/wws/workspace:bookworm"
    assert props["resources"]["default"] == {}
    assert props["resources"]["properties"]["memory"]["default"] == "4Gi"
    assert props["home"]["properties"]["size"]["default"] == "10Gi"
    assert set(props["languages"]["items"]["properties"]["name"]["enum"]) >= {
        "python",
        "node",
        "go",
        "rust",
    }
    assert props["languages"]["items"]["x-kubernetes-validations"]
    for path, node in _nodes(spec):
        if not (path.endswith("[]") and node["type"] != "object"):
            assert node.get("description"), f"spec{path} has no description"
    status = _root_schema(_by_kind()["Workspace"])["properties"]["status"]
    assert status["properties"]["phase"]["enum"] == [
        "Pending",
        "Provisioning",
        "Starting",
        "Running",
        "Stopping",
        "Stopped",
        "Failed",
        "Deleting",
    ]
    conditions = status["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]


# -- examples ------------------------------------------------------------------------------------


def _apply_defaults(node: dict[str, Any], value: Any) -> Any:
    """The API server's defaulting, for the tests: defaults of missing properties, recursively."""
    if isinstance(value, dict) and "properties" in node:
        value = dict(value)
        for name, child in node["properties"].items():
            if name not in value and "default" in child:
                value[name] = copy.deepcopy(child["default"])
            if name in value:
                value[name] = _apply_defaults(child, value[name])
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        value = [_apply_defaults(node["items"], item) for item in value]
    return value


def _without_empty_lists(value: Any) -> Any:
    """``value`` without ``[]`` fields: the API server adds no empty lists, the models do."""
    if isinstance(value, dict):
        return {k: _without_empty_lists(v) for k, v in value.items() if v != []}
    if isinstance(value, list):
        return [_without_empty_lists(item) for item in value]
    return value


def _unknown_fields(node: dict[str, Any], value: Any, path: str = "") -> list[str]:
    """Fields the API server would prune (silently drop) from ``value``."""
    found: list[str] = []
    if isinstance(value, dict) and "properties" in node:
        for key, child_value in value.items():
            if key not in node["properties"]:
                found.append(f"{path}.{key}")
            else:
                found.extend(_unknown_fields(node["properties"][key], child_value, f"{path}.{key}"))
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for index, item in enumerate(value):
            found.extend(_unknown_fields(node["items"], item, f"{path}[{index}]"))
    return found


def _examples() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in EXAMPLES:
        with path.open(encoding="utf-8") as stream:
            for document in yaml.safe_load_all(stream):
                # Built-in kinds (the organization's Namespace) are not ours to validate.
                if document and document.get("apiVersion") == meta.API_VERSION:
                    found.append((path.name, document))
    return found


def test_the_examples_are_there() -> None:
    names = {path.name for path in EXAMPLES}
    assert {
        "organization.yaml",
        "team.yaml",
        "workspace-podman.yaml",
        "workspace-second.yaml",
    } <= names
    kinds = [document["kind"] for _, document in _examples()]
    assert kinds.count("Workspace") >= 2
    assert "Organization" in kinds and "Team" in kinds


@pytest.mark.parametrize(
    ("file", "document"), _examples(), ids=lambda x: x if isinstance(x, str) else ""
)
def test_example_is_valid(file: str, document: dict[str, Any]) -> None:
    assert document["apiVersion"] == meta.API_VERSION
    crd = _by_kind()[document["kind"]]
    schema = _root_schema(crd)
    model = resources.by_kind(document["kind"])
    namespaced = crd["spec"]["scope"] == "Namespaced"
    assert ("namespace" in document["metadata"]) == namespaced, file
    if namespaced:
        assert document["metadata"]["namespace"] == "acme", file
    jsonschema.Draft7Validator(schema).validate(document)
    assert _unknown_fields(schema, document) == [], file
    parsed = model.model_validate(document)
    # NB: what the API server stores (defaults applied) is what the models default to.
    defaulted = _apply_defaults(schema, document)
    assert model.model_validate(defaulted) == parsed
    assert _without_empty_lists(parsed.to_dict()["spec"]) == defaulted["spec"], file


def test_server_defaults_equal_model_defaults_for_a_minimal_workspace() -> None:
    schema = _root_schema(_by_kind()["Workspace"])
    document = {"apiVersion": meta.API_VERSION, "kind": "Workspace", "spec": {"owner": "alice"}}
    model = resources.by_kind("Workspace").model_validate(document)
    assert _apply_defaults(schema, document)["spec"] == _without_empty_lists(
        model.to_dict()["spec"]
    )


@pytest.mark.parametrize(
    ("spec", "where"),
    [
        ({"owner": "alice", "provider": "docker"}, ["spec", "provider"]),
        ({"owner": "al--ice"}, ["spec", "owner"]),
        ({"owner": "alice", "resources": {"cpu": 2.5}}, ["spec", "resources", "cpu"]),
        ({"owner": "alice", "resources": {"memory": "4GB"}}, ["spec", "resources", "memory"]),
        ({"owner": "alice", "idle": {"timeout": "1.5h"}}, ["spec", "idle", "timeout"]),
        ({"owner": "alice", "languages": [{"name": "ruby"}]}, ["spec", "languages", 0, "name"]),
        ({"owner": "alice", "team": "Platform"}, ["spec", "team"]),
        ({"owner": "alice", "image": "Not An Image"}, ["spec", "image"]),
        ({}, ["spec"]),
    ],
)
def test_crd_schema_refuses_invalid_workspaces_at_the_field(
    spec: dict[str, Any], where: list[Any]
) -> None:
    schema = _root_schema(_by_kind()["Workspace"])
    document = {"apiVersion": meta.API_VERSION, "kind": "Workspace", "metadata": {}, "spec": spec}
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(document))
    assert errors
    assert any(list(error.absolute_path) == where for error in errors), [
        (list(error.absolute_path), error.message) for error in errors
    ]


def test_the_embedded_store_accepts_the_crds_and_the_examples() -> None:
    """The store's own CRD checks and structural-schema processing, beside jsonschema's."""
    from statestore import schema as store_schema

    crds = {}
    for name, crd in _crds().items():
        assert store_schema.validate_crd(crd) == [], name
        defaulted = store_schema.crd_defaults(crd)
        crds[defaulted["spec"]["names"]["kind"]] = defaulted
    for file, document in _examples():
        root = crds[document["kind"]]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        result = store_schema.process(document, root)
        assert result.causes == [], file
        assert result.unknown_fields == [], file
        model = resources.by_kind(document["kind"])
        assert model.model_validate(result.obj) == model.model_validate(document), file
    root = crds["Workspace"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    bad = {"apiVersion": meta.API_VERSION, "kind": "Workspace", "metadata": {"name": "x"}}
    result = store_schema.process(
        {**bad, "spec": {"owner": "a", "languages": [{"name": "ruby"}]}}, root
    )
    assert [cause.field for cause in result.causes] == ["spec.languages[0].name"]
    assert '"python"' in result.causes[0].message

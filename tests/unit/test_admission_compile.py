"""The admission plugin's caches (statestore/admission/plugin.py): a policy is compiled once
per resourceVersion, resource rules are matched once per kind of write, and neither cache
outlives a change (policies, bindings, resourceNames, served param kinds)."""

from __future__ import annotations

from typing import Any

import pytest

from statestore import resources
from statestore.admission import compiled, plugin
from statestore.authn.user import UserInfo
from statestore.errors import StatusError

CONFIGMAPS = resources.CONFIGMAPS
USER = UserInfo("github:alice", "github:alice", ("system:authenticated",))


def _policy(name: str, expression: str, version: str = "1", **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "resourceVersion": version},
        "spec": {
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE"],
                        "resources": ["configmaps"],
                        **spec.pop("rule", {}),
                    }
                ]
            },
            "validations": [{"expression": expression}],
            **spec,
        },
    }


def _binding(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "resourceVersion": "1"},
        "spec": {"policyName": name, "validationActions": ["Deny"], **spec},
    }


class World:
    """What the plugin reads: policies, bindings and other objects, by kind."""

    def __init__(self) -> None:
        self.objects: dict[str, list[dict[str, Any]]] = {}
        self.registry = resources.Registry()
        self.plugin = plugin.PolicyAdmission(
            list_objects=lambda info: self.objects.get(info.plural, []),
            get_object=self.get,
            registry=self.registry,
            decide=lambda attributes: (True, ""),
        )

    def get(self, info: resources.ResourceInfo, namespace: str | None, name: str) -> Any:
        for obj in self.objects.get(info.plural, []):
            if obj["metadata"]["name"] == name:
                return obj
        return None

    def put(self, plural: str, obj: dict[str, Any]) -> None:
        kept = [o for o in self.objects.get(plural, []) if o["metadata"] != obj["metadata"]]
        kept = [o for o in kept if o["metadata"]["name"] != obj["metadata"]["name"]]
        self.objects[plural] = [*kept, obj]
        self.plugin.changed()

    def create(self, name: str, data: dict[str, str]) -> None:
        obj = {"metadata": {"name": name, "namespace": "ns"}, "data": data}
        self.plugin(
            plugin.Request("CREATE", CONFIGMAPS, "v1", "", "ns", name, obj, None, USER, False)
        )


@pytest.fixture
def world() -> World:
    return World()


def _denied(world: World, name: str, data: dict[str, str]) -> bool:
    try:
        world.create(name, data)
    except StatusError:
        return True
    return False


def test_a_change_compiles_only_the_changed_policy(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled_names: list[str] = []
    original = compiled.compile_policy

    def counting(obj: dict[str, Any]) -> Any:
        compiled_names.append(obj["metadata"]["name"])
        return original(obj)

    monkeypatch.setattr(compiled, "compile_policy", counting)
    for index in range(3):
        name = f"p{index}"
        world.put("validatingadmissionpolicies", _policy(name, "has(object.data)"))
        world.put("validatingadmissionpolicybindings", _binding(name))
    world.create("a", {"k": "v"})
    world.create("b", {"k": "v"})
    assert sorted(compiled_names) == ["p0", "p1", "p2"]
    compiled_names.clear()
    world.put("validatingadmissionpolicies", _policy("p1", "'k' in object.data", version="2"))
    assert not _denied(world, "c", {"k": "v"})
    assert _denied(world, "d", {"other": "v"})  # the new expression is the one in force
    assert compiled_names == ["p1"]


def test_resource_names_are_matched_per_request(world: World) -> None:
    world.put(
        "validatingadmissionpolicies",
        _policy("named", "false", rule={"resourceNames": ["locked"]}),
    )
    world.put("validatingadmissionpolicybindings", _binding("named"))
    assert not _denied(world, "free", {})
    assert _denied(world, "locked", {})
    assert not _denied(world, "free-2", {})


def test_a_deleted_binding_stops_the_policy_at_once(world: World) -> None:
    world.put("validatingadmissionpolicies", _policy("p", "size(object.data) < 2"))
    world.put("validatingadmissionpolicybindings", _binding("p"))
    assert _denied(world, "a", {"x": "1", "y": "2"})
    world.objects["validatingadmissionpolicybindings"] = []
    world.plugin.changed()
    assert not _denied(world, "b", {"x": "1", "y": "2"})


def test_a_param_kind_no_longer_served_is_a_configuration_error(world: World) -> None:
    crd_kind = resources.ResourceInfo(
        group="limits.wws.dev",
        plural="limits",
        singular="limit",
        kind="Limit",
        namespaced=False,
        versions=(resources.VersionInfo(name="v1"),),
    )
    world.registry.add(crd_kind)
    world.objects["limits"] = [{"metadata": {"name": "l"}, "spec": {"max": 1}}]
    world.put(
        "validatingadmissionpolicies",
        _policy(
            "p",
            "size(object.data) <= params.spec.max",
            paramKind={"apiVersion": "limits.wws.dev/v1", "kind": "Limit"},
        ),
    )
    world.put(
        "validatingadmissionpolicybindings",
        _binding("p", paramRef={"name": "l", "parameterNotFoundAction": "Deny"}),
    )
    assert not _denied(world, "a", {"x": "1"})
    assert _denied(world, "b", {"x": "1", "y": "2"})
    world.registry.remove("limits.wws.dev", "limits")
    with pytest.raises(StatusError, match=r"paramKind limits\.wws\.dev/v1/Limit is not served"):
        world.create("c", {"x": "1"})


def test_authorizer_checks_take_the_fast_path(world: World) -> None:
    asked: list[tuple[str, str, str, str]] = []

    def decide(attributes: Any) -> tuple[bool, str]:
        asked.append((attributes.verb, attributes.resource, attributes.namespace, attributes.name))
        return attributes.name != "locked", ""

    world.plugin._decide = decide
    expression = (
        "authorizer.group('').resource('configmaps').namespace(request.namespace)"
        ".name(object.data.guard).check('update').allowed()"
    )
    world.put("validatingadmissionpolicies", _policy("guarded", expression))
    world.put("validatingadmissionpolicybindings", _binding("guarded"))
    (pair,) = world.plugin._compiled()
    assert all(program.fast for program in pair[1].programs())
    assert not _denied(world, "a", {"guard": "open"})
    assert _denied(world, "b", {"guard": "locked"})
    assert asked == [
        ("update", "configmaps", "ns", "open"),
        ("update", "configmaps", "ns", "locked"),
    ]

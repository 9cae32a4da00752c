"""Benchmark of membership → access: ``python -m benchmarks.access``.

The real store and controller; an organization of ``--members`` people with ``--teams``
teams and ``--workspaces`` workspaces (and the shipped roles and policies). Each round makes
one membership change and measures, with SubjectAccessReviews polled every 10 ms, the time
until the API server's answer changes:

- ``spec_add`` / ``spec_remove``: a person added to / removed from the Organization's
  ``spec.members`` (the YAML edit a GitOps tool makes);
- ``invitation_accept`` / ``invitation_delete``: an invitee accepts (as themselves), and the
  invitation is deleted;
- ``team_add``: a member added to a Team (``use`` on the team).

Target (issue 10): every change in force within 2 s (p95).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.storeproc import REPO, StoreProcess
from wws import manifests

TARGET_P95 = 2.0
GROUP_PATH = "/apis/wws.dev/v1alpha1"


class Api:
    def __init__(self, store: StoreProcess) -> None:
        self.store = store
        self.context = store.ssl_context()

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> Any:
        request = urllib.request.Request(
            self.store.url + path,
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={
                "Authorization": f"Bearer {self.store.token}",
                "Content-Type": content_type,
                **(headers or {}),
            },
        )
        with urllib.request.urlopen(request, context=self.context, timeout=30) as answer:
            return json.loads(answer.read() or b"{}")

    def allowed(self, user: str, namespace: str, verb: str, resource: str, name: str = "") -> bool:
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": user,
                "groups": ["system:authenticated"],
                "resourceAttributes": {
                    "namespace": namespace,
                    "verb": verb,
                    "group": "wws.dev",
                    "resource": resource,
                    "name": name,
                },
            },
        }
        answer = self.call("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
        return bool(answer["status"].get("allowed"))

    def merge(self, path: str, patch: Any, **kw: Any) -> Any:
        return self.call("PATCH", path, patch, content_type="application/merge-patch+json", **kw)


def until(check: Callable[[], bool], timeout: float = 30.0) -> float:
    """Seconds until ``check()`` holds (polled every 10 ms)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.01)
    raise SystemExit(f"not in force after {timeout:.0f} s")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def run(args: argparse.Namespace) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="wws-bench-access-"))
    store = StoreProcess(folder / "store", crds_dir=REPO / "crds").start()
    controller: subprocess.Popen[bytes] | None = None
    try:
        failed = manifests.apply(store.kubeconfig, manifests.documents(manifests.SHIPPED))
        assert not failed, failed
        log = (folder / "controller.log").open("ab")
        controller = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wws.cli",
                "controller",
                "run",
                "--kubeconfig",
                str(store.kubeconfig),
                "--health-listen",
                "127.0.0.1:0",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env={
                **os.environ,
                "PYTHONPATH": str(REPO),
                "WWS_PODMAN_SOCKET": str(folder / "none.sock"),
                "WWS_DATA_DIR": str(folder / "data"),
            },
        )
        api = Api(store)
        org = "bench"
        people = [{"user": f"p{i}"} for i in range(args.members)]
        people[0]["role"] = "owner"
        api.call(
            "POST",
            f"{GROUP_PATH}/organizations",
            {
                "apiVersion": "wws.dev/v1alpha1",
                "kind": "Organization",
                "metadata": {"name": org},
                "spec": {"members": people},
            },
        )
        until(lambda: _exists(api, f"/api/v1/namespaces/{org}"))
        for t in range(args.teams):
            members = [{"user": f"p{i}"} for i in range(t, args.members, args.teams)]
            api.call(
                "POST",
                f"{GROUP_PATH}/namespaces/{org}/teams",
                {
                    "apiVersion": "wws.dev/v1alpha1",
                    "kind": "Team",
                    "metadata": {"name": f"t{t}"},
                    "spec": {"members": members},
                },
            )
        for w in range(args.workspaces):
            api.call(
                "POST",
                f"{GROUP_PATH}/namespaces/{org}/workspaces",
                {
                    "apiVersion": "wws.dev/v1alpha1",
                    "kind": "Workspace",
                    "metadata": {"name": f"w{w}"},
                    "spec": {
                        "owner": f"p{w % args.members}",
                        "team": f"t{w % max(args.teams, 1)}",
                        "running": False,
                    },
                },
            )
        if args.workspaces:
            last = f"w{args.workspaces - 1}"
            owner = f"github:p{(args.workspaces - 1) % args.members}"
            until(lambda: api.allowed(owner, org, "create", "workspaces/connect", last))
        else:
            until(lambda: api.allowed("github:p1", org, "list", "workspaces"))

        timings: dict[str, list[float]] = {
            k: []
            for k in (
                "spec_add",
                "spec_remove",
                "invitation_accept",
                "invitation_delete",
                "team_add",
            )
        }
        org_path = f"{GROUP_PATH}/organizations/{org}"
        for round_ in range(args.rounds):
            newcomer = f"new{round_}"
            user = f"github:{newcomer}"

            def member(u: str = user) -> bool:
                return api.allowed(u, org, "list", "workspaces")

            api.merge(org_path, {"spec": {"members": [*people, {"user": newcomer}]}})
            timings["spec_add"].append(until(member))
            api.merge(org_path, {"spec": {"members": people}})
            timings["spec_remove"].append(until(_negate(member)))

            invitation = f"{GROUP_PATH}/namespaces/{org}/invitations/{newcomer}"
            api.call(
                "POST",
                f"{GROUP_PATH}/namespaces/{org}/invitations",
                {
                    "apiVersion": "wws.dev/v1alpha1",
                    "kind": "Invitation",
                    "metadata": {"name": newcomer},
                    "spec": {"invitee": newcomer},
                },
            )
            until(functools.partial(_has_phase, api, invitation, "Pending"))
            api.merge(
                f"{invitation}/status",
                {"status": {"acceptedBy": user}},
                headers={"Impersonate-User": user},
            )
            timings["invitation_accept"].append(until(member))
            api.call("DELETE", invitation)
            timings["invitation_delete"].append(until(_negate(member)))

            team = f"{GROUP_PATH}/namespaces/{org}/teams/t0"
            current = api.call("GET", team)["spec"]["members"]
            names = {entry["user"] for entry in current}
            outside = [f"p{i}" for i in range(args.members) if f"p{i}" not in names]
            login = outside[round_ % len(outside)]
            joiner = f"github:{login}"
            api.merge(team, {"spec": {"members": [*current, {"user": login}]}})
            timings["team_add"].append(
                until(functools.partial(api.allowed, joiner, org, "use", "teams", "t0"))
            )
            api.merge(team, {"spec": {"members": current}})
        results: dict[str, float] = {}
        for key, values in timings.items():
            results[f"{key}_p50"] = statistics.median(values)
            results[f"{key}_p95"] = percentile(values, 95)
        return results
    finally:
        if controller is not None:
            controller.terminate()
            controller.wait(timeout=20)
        store.stop()


def _negate(check: Callable[[], bool]) -> Callable[[], bool]:
    return lambda: not check()


def _has_phase(api: Api, path: str, phase: str) -> bool:
    return bool(api.call("GET", path).get("status", {}).get("phase") == phase)


def _exists(api: Api, path: str) -> bool:
    try:
        api.call("GET", path)
    except urllib.error.HTTPError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--teams", type=int, default=10)
    parser.add_argument("--workspaces", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = run(args)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{'change in force':28} {'seconds':>8}  target")
    for key, value in results.items():
        target = f"p95 <= {TARGET_P95:.0f} s" if key.endswith("_p95") else ""
        print(f"{key:28} {value:8.3f}  {target}")
    worst = max(v for k, v in results.items() if k.endswith("_p95"))
    if worst > TARGET_P95:
        raise SystemExit(f"a change took {worst:.2f} s (p95) > {TARGET_P95} s")


if __name__ == "__main__":
    main()

"""The admission plugin alone, in-process: ``python -m benchmarks.admission``.

The ten policies of ``benchmarks.store --rbac`` (``benchmarks/rbac.py``, with their
ConfigMap params) evaluated for creates of the benchmarked kind, without HTTP, TLS or
SQLite: the CPU the policies add to each create, steadier on a shared machine than the
store's wall-clock ratios. Also reports the same with every expression forced onto
cel-python (the cost before the fast path).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from benchmarks import rbac
from benchmarks import store as bench
from statestore import resources
from statestore.admission import compiled, plugin
from statestore.authn.user import UserInfo

NAMESPACE = "bench-policies"


def _admission(slow: bool) -> tuple[plugin.PolicyAdmission, resources.ResourceInfo]:
    info = resources.from_crd(bench.CRD)
    registry = resources.Registry()
    registry.add(info)
    pairs = [rbac._policy(index) for index in range(rbac.POLICIES)]
    policies = [policy for policy, _ in pairs]
    bindings = [binding for _, binding in pairs]
    limits = rbac._limits()
    limits["metadata"]["namespace"] = NAMESPACE
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}

    def list_objects(kind: resources.ResourceInfo) -> list[dict[str, Any]]:
        if kind is resources.VALIDATING_POLICIES:
            return policies
        return bindings if kind is resources.VALIDATING_POLICY_BINDINGS else []

    def get_object(kind: resources.ResourceInfo, _: str | None, name: str) -> Any:
        if kind is resources.NAMESPACES:
            return namespace
        return limits if kind.kind == "ConfigMap" and name == rbac.LIMITS else None

    admission = plugin.PolicyAdmission(
        list_objects=list_objects,
        get_object=get_object,
        registry=registry,
        decide=lambda attributes: (True, ""),
    )
    if slow:
        compiled._COMPILED.clear()  # its own Policy objects, not the fast run's
        for _, policy in admission._compiled():
            for program in policy.programs():
                object.__setattr__(program, "_fast", None)
        assert all(not p.fast for _, policy in admission._compiled() for p in policy.programs())
    else:
        assert all(p.fast for _, policy in admission._compiled() for p in policy.programs())
    return admission, info


def measure(creates: int, *, slow: bool = False) -> float:
    """CPU µs per create for the ten policies."""
    admission, info = _admission(slow)
    user = UserInfo("github:bench-1", "github:bench-1", ("system:authenticated",))
    requests = []
    for index in range(creates):
        obj = bench.item(f"item-{index}")
        obj["metadata"]["namespace"] = NAMESPACE
        requests.append(
            plugin.Request(
                "CREATE", info, "v1", "", NAMESPACE, obj["metadata"]["name"], obj, None, user, False
            )
        )
    admission(requests[0])  # compile outside the clock
    started = time.process_time()
    for request in requests:
        admission(request)
    return (time.process_time() - started) / creates * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--creates", type=int, default=5_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = {
        "policies": float(rbac.POLICIES),
        "fast_us_per_create": measure(args.creates),
        "cel_python_us_per_create": measure(max(1, args.creates // 20), slow=True),
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for key, value in results.items():
        print(f"{key:28} {value:12.1f}")


if __name__ == "__main__":
    main()

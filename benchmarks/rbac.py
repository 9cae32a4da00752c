"""RBAC mode of the store benchmark: ``python -m benchmarks.store --rbac``.

One store, one run, two phases with the same clients (50 users with static tokens, each
request authenticated and authorized as its user, never as system:masters):
- plain: each user holds one RoleBinding (in the plain namespace); no policies;
- rbac: then 100 Roles and 1,000 RoleBindings (20 namespaces, the 50 users) are added, and
  the same creates and GETs run in another namespace where the users are bound the same way;
- rbac + vap: then 10 ValidatingAdmissionPolicies (+ bindings) on the benchmarked kind, and
  the same again in a third namespace. The policies are what a platform team writes
  (``POLICY_RULES``: a required label, a DNS-label name pattern, a size limit from the
  namespace's ``limits`` ConfigMap as params, userInfo checks, tags by pattern, an owner that
  is required and immutable, matchConditions); all pass, so every create runs all ten.
Reported: creates/s and GET p50 of each phase, and rbac/plain ratios (target: within 10 %).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import ssl
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks import store as bench
from tests.support.storeproc import StoreProcess

USERS = 50
ROLES = 100
BINDINGS = 1_000
POLICIES = 10
NAMESPACES = 20
RBAC = "/apis/rbac.authorization.k8s.io/v1"
ADMISSION = "/apis/admissionregistration.k8s.io/v1"


def _token_file(folder: Path) -> tuple[Path, str, dict[str, str]]:
    admin = secrets.token_urlsafe(24)
    users = {f"github:bench-{index}": secrets.token_urlsafe(24) for index in range(USERS)}
    lines = [f'{admin},wws:admin,wws-admin,"system:masters"']
    lines += [f"{token},{user},{user}" for user, token in users.items()]
    path = folder / "tokens.csv"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path, admin, users


def _role(name: str, resources: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": name},
        "rules": [
            {"apiGroups": [bench.GROUP], "resources": resources, "verbs": ["create", "get"]},
        ],
    }


def _binding(name: str, role: str, user: str) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }


#: What a platform team writes (all pass for the benchmark's objects, so every create runs
#: all ten): (validations, matchConditions, uses per-namespace limits from a ConfigMap).
POLICY_RULES: list[tuple[list[dict[str, str]], list[str], bool]] = [
    (
        [
            {
                "expression": "has(object.metadata.labels) && 'bench' in object.metadata.labels",
                "message": "the label 'bench' is required",
            }
        ],
        [],
        False,
    ),
    (
        [
            {
                "expression": "object.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')"
                " && size(object.metadata.name) <= 63",
                "message": "names are DNS labels",
            }
        ],
        [],
        False,
    ),
    (
        [
            {
                "expression": "object.spec.size <= int(params.data.maxSize)",
                "messageExpression": "'size may be at most ' + params.data.maxSize",
            }
        ],
        [],
        True,
    ),
    (
        [{"expression": "request.userInfo.username.startsWith('github:')"}],
        [],
        False,
    ),
    (
        [{"expression": "'system:authenticated' in request.userInfo.groups"}],
        [],
        False,
    ),
    (
        [
            {
                "expression": "!has(object.spec.tags) || (size(object.spec.tags) <= 16 && "
                "object.spec.tags.all(t, t.matches('^[a-z0-9-]{1,63}$')))",
                "message": "at most 16 tags, each a DNS label",
            }
        ],
        [],
        False,
    ),
    (
        [{"expression": "has(object.spec.owner) && object.spec.owner != ''"}],
        [],
        False,
    ),
    (
        [
            {
                "expression": "oldObject.spec.owner == object.spec.owner",
                "message": "the owner is immutable",
            }
        ],
        ["request.operation == 'UPDATE'"],
        False,
    ),
    (
        [{"expression": "object.spec.size >= 0 && object.spec.size < 1000"}],
        ["!('system:masters' in request.userInfo.groups)"],
        False,
    ),
    (
        [
            {
                "expression": "!has(object.metadata.annotations) || "
                "!('bench.wws.dev/protected' in object.metadata.annotations) || "
                "request.userInfo.groups.exists(g, g == 'system:masters')",
                "message": "only administrators create protected items",
            }
        ],
        [],
        False,
    ),
]
LIMITS = "limits"  # the ConfigMap of per-namespace limits the params policy reads


def _limits() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": LIMITS},
        "data": {"maxSize": "100"},
    }


def _policy(index: int) -> list[dict[str, Any]]:
    """A policy that passes (so creates succeed) but must be evaluated on every create."""
    validations, conditions, uses_params = POLICY_RULES[index % len(POLICY_RULES)]
    name = f"bench-{index}"
    spec: dict[str, Any] = {
        "failurePolicy": "Fail",
        "matchConstraints": {
            "resourceRules": [
                {
                    "apiGroups": [bench.GROUP],
                    "apiVersions": ["*"],
                    "operations": ["CREATE", "UPDATE"],
                    "resources": [bench.PLURAL],
                }
            ]
        },
        "validations": validations,
    }
    if conditions:
        spec["matchConditions"] = [
            {"name": f"condition-{i}", "expression": e} for i, e in enumerate(conditions)
        ]
    binding: dict[str, Any] = {"policyName": name, "validationActions": ["Deny"]}
    if uses_params:
        spec["paramKind"] = {"apiVersion": "v1", "kind": "ConfigMap"}
        binding["paramRef"] = {"name": LIMITS, "parameterNotFoundAction": "Deny"}
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name},
            "spec": spec,
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name},
            "spec": binding,
        },
    ]


class _Api:
    def __init__(self, store: StoreProcess, admin: str, connections: int) -> None:
        self.base = store.url
        self.admin = admin
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=connections, ssl=ssl.create_default_context(cafile=str(store.ca_path))
            ),
            timeout=aiohttp.ClientTimeout(total=None),
        )

    async def post(self, path: str, body: dict[str, Any], token: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {token or self.admin}"}
        async with self.session.post(self.base + path, json=body, headers=headers) as response:
            if response.status != 201:
                raise RuntimeError(f"POST {path}: {response.status} {await response.text()}")
            await response.read()

    async def close(self) -> None:
        await self.session.close()


async def _namespace(api: _Api, name: str) -> None:
    await api.post(
        "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    )


async def _bind_users(api: _Api, namespace: str, users: dict[str, str]) -> None:
    await api.post(f"{RBAC}/namespaces/{namespace}/roles", _role("bench", [bench.PLURAL]))
    await asyncio.gather(
        *(
            api.post(
                f"{RBAC}/namespaces/{namespace}/rolebindings", _binding(f"user-{i}", "bench", user)
            )
            for i, user in enumerate(users)
        )
    )


async def _load(api: _Api, users: list[str]) -> None:
    """100 Roles and 1,000 RoleBindings over 20 namespaces."""
    for index in range(NAMESPACES):
        await _namespace(api, f"load-{index}")
    per_namespace = ROLES // NAMESPACES
    await asyncio.gather(
        *(
            api.post(
                f"{RBAC}/namespaces/load-{index % NAMESPACES}/roles",
                _role(f"role-{index}", [bench.PLURAL, f"other-{index}"]),
            )
            for index in range(ROLES)
        )
    )
    jobs = []
    for index in range(BINDINGS):
        namespace = index % NAMESPACES
        role = f"role-{namespace + NAMESPACES * (index % per_namespace)}"
        body = _binding(f"binding-{index}", role, users[index % len(users)])
        jobs.append(api.post(f"{RBAC}/namespaces/load-{namespace}/rolebindings", body))
    for start in range(0, len(jobs), 100):
        await asyncio.gather(*jobs[start : start + 100])


async def _policies(api: _Api) -> None:
    for index in range(POLICIES):
        policy, binding = _policy(index)
        await api.post(f"{ADMISSION}/validatingadmissionpolicies", policy)
        await api.post(f"{ADMISSION}/validatingadmissionpolicybindings", binding)


def _cpu_seconds(pid: int) -> float:
    """The store process's CPU time (user + system): unlike wall time, what other processes
    on a shared machine do barely moves it."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _phase(
    api: _Api,
    pid: int,
    namespace: str,
    tokens: list[str],
    objects: int,
    concurrency: int,
    samples: int,
) -> tuple[float, float, float, float]:
    """creates/s, GET p50 (ms), store CPU ms per create, store CPU ms per GET."""
    collection = f"/apis/{bench.GROUP}/{bench.VERSION}/namespaces/{namespace}/{bench.PLURAL}"
    names = iter(range(objects))

    async def worker(slot: int) -> None:
        for index in names:
            token = tokens[(slot + index) % len(tokens)]
            await api.post(collection, bench.item(f"item-{index}"), token)

    cpu = _cpu_seconds(pid)
    started = time.perf_counter()
    await asyncio.gather(*(worker(slot) for slot in range(concurrency)))
    creates = objects / (time.perf_counter() - started)
    create_cpu = (_cpu_seconds(pid) - cpu) * 1000 / objects
    cpu = _cpu_seconds(pid)
    latencies = []
    for index in range(samples):
        token = tokens[index % len(tokens)]
        url = f"{api.base}{collection}/item-{index % objects}"
        begun = time.perf_counter()
        async with api.session.get(url, headers={"Authorization": f"Bearer {token}"}) as response:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"GET {url}: {response.status}")
        latencies.append((time.perf_counter() - begun) * 1000)
    get_cpu = (_cpu_seconds(pid) - cpu) * 1000 / samples
    return creates, statistics.median(latencies), create_cpu, get_cpu


async def run(objects: int, concurrency: int, samples: int, folder: str | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        token_file, admin, users = _token_file(Path(tmp))
        store = StoreProcess(
            Path(tmp) / "store", extra_args=("--token-auth-file", str(token_file))
        ).start()
        api = _Api(store, admin, concurrency + 4)
        try:
            await api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", bench.CRD)
            await asyncio.sleep(0.5)
            tokens = list(users.values())
            assert store.process is not None
            pid = store.process.pid
            for namespace in ("bench-plain", "bench-rbac", "bench-policies"):
                await _namespace(api, namespace)
                await _bind_users(api, namespace, users)
                await api.post(f"/api/v1/namespaces/{namespace}/configmaps", _limits())
            plain = await _phase(api, pid, "bench-plain", tokens, objects, concurrency, samples)
            started = time.perf_counter()
            await _load(api, list(users))
            load_seconds = time.perf_counter() - started
            rbac_only = await _phase(api, pid, "bench-rbac", tokens, objects, concurrency, samples)
            await _policies(api)
            rbac = await _phase(api, pid, "bench-policies", tokens, objects, concurrency, samples)
        finally:
            await api.close()
            store.stop()
    return {
        "plain_creates_per_s": plain[0],
        "rbac_creates_per_s": rbac_only[0],
        "rbac_vap_creates_per_s": rbac[0],
        "creates_ratio_rbac": rbac_only[0] / plain[0],
        "creates_ratio_rbac_vap": rbac[0] / plain[0],
        "plain_get_p50_ms": plain[1],
        "rbac_get_p50_ms": rbac_only[1],
        "rbac_vap_get_p50_ms": rbac[1],
        "get_p50_ratio_rbac": rbac_only[1] / plain[1],
        "get_p50_ratio_rbac_vap": rbac[1] / plain[1],
        "plain_cpu_ms_per_create": plain[2],
        "rbac_cpu_ms_per_create": rbac_only[2],
        "rbac_vap_cpu_ms_per_create": rbac[2],
        "cpu_per_create_ratio_rbac": rbac_only[2] / plain[2],
        "cpu_per_create_ratio_rbac_vap": rbac[2] / plain[2],
        "plain_cpu_ms_per_get": plain[3],
        "rbac_cpu_ms_per_get": rbac_only[3],
        "cpu_per_get_ratio_rbac": rbac_only[3] / plain[3],
        "load_seconds": load_seconds,
    }


def report(results: dict[str, float], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(results, indent=2))
        return
    targets = {
        "creates_ratio_rbac": ">= 0.90",
        "creates_ratio_rbac_vap": ">= 0.90",
        "get_p50_ratio_rbac": "<= 1.10",
        "get_p50_ratio_rbac_vap": "<= 1.10",
    }
    print(f"{'metric':28} {'value':>12}  target")
    for key, value in results.items():
        print(f"{key:28} {value:12.3f}  {targets.get(key, '')}")

"""Benchmark of the embedded store: ``python -m benchmarks.store``.

One run prints creates/s with 8 concurrent clients (each create acknowledged durable), GET
p50/p99, the delay from a write to its delivery on 100 concurrent watchers (p50/p99), the
server's peak RSS holding 10,000 objects, and — on the same disk, with the same durability
setting (WAL + synchronous=FULL) — the raw SQLite single-row commit rate and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import ssl
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.storeproc import StoreProcess

GROUP, VERSION, PLURAL = "bench.wws.dev", "v1", "items"
CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"{PLURAL}.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": PLURAL, "singular": "item", "kind": "Item"},
        "versions": [
            {
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {
                                    "owner": {"type": "string"},
                                    "size": {"type": "integer", "minimum": 0},
                                    "tags": {"type": "array", "items": {"type": "string"}},
                                },
                            },
                            "status": {
                                "type": "object",
                                "x-kubernetes-preserve-unknown-fields": True,
                            },
                        },
                    }
                },
            }
        ],
    },
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def raw_sqlite_commits_per_second(folder: Path, seconds: float = 3.0) -> float:
    path = folder / "raw.db"
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute(
        "CREATE TABLE log (id INTEGER PRIMARY KEY, key TEXT, event INTEGER, value BLOB)"
    )
    value = json.dumps({"spec": {"owner": "x" * 40, "size": 1}}).encode() * 3
    count = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(
            "INSERT INTO log (key, event, value) VALUES (?, 0, ?)", (f"k{count}", value)
        )
        connection.execute("COMMIT")
        count += 1
    elapsed = time.perf_counter() - started
    connection.close()
    return count / elapsed


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def item(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Item",
        "metadata": {"name": name, "labels": {"bench": "yes"}},
        "spec": {"owner": "alice", "size": 3, "tags": ["a", "b"]},
    }


class Client:
    def __init__(self, store: StoreProcess, connections: int) -> None:
        self.base = store.url
        self.headers = {
            "Authorization": f"Bearer {store.token}",
            "Content-Type": "application/json",
        }
        self.ssl = ssl.create_default_context(cafile=str(store.ca_path))
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=connections, ssl=self.ssl),
            headers=self.headers,
            timeout=aiohttp.ClientTimeout(total=None),
        )

    def collection(self, namespace: str = "default") -> str:
        return f"{self.base}/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}"

    async def close(self) -> None:
        await self.session.close()


async def bench_creates(client: Client, total: int, concurrency: int) -> float:
    names = iter(range(total))

    async def worker() -> None:
        for index in names:
            async with client.session.post(
                client.collection(), data=json.dumps(item(f"item-{index}"))
            ) as response:
                if response.status != 201:
                    raise RuntimeError(f"create failed: {response.status} {await response.text()}")
                await response.read()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - started)


async def bench_gets(client: Client, total: int, samples: int) -> list[float]:
    latencies = []
    for _ in range(samples):
        url = f"{client.collection()}/item-{random.randrange(total)}"
        started = time.perf_counter()
        async with client.session.get(url) as response:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"get failed: {response.status}")
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


async def bench_fanout(client: Client, watchers: int, writes: int) -> list[float]:
    async with client.session.get(client.collection() + "?limit=1") as response:
        revision = (await response.json())["metadata"]["resourceVersion"]
    sent: dict[str, float] = {}
    delays: list[float] = []
    ready = asyncio.Event()
    opened = 0
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal opened
        url = (
            f"{client.collection()}?watch=true&resourceVersion={revision}&allowWatchBookmarks=true"
        )
        async with client.session.get(url) as stream:
            opened += 1
            if opened == watchers:
                ready.set()
            seen = 0
            async for line in stream.content:
                received = time.perf_counter()
                event = json.loads(line)
                if event["type"] != "MODIFIED":
                    continue
                rv = event["object"]["metadata"]["resourceVersion"]
                name = event["object"]["metadata"]["name"]
                start = sent.get(name)
                if start is not None:
                    delays.append((received - start) * 1000)
                seen += 1
                if seen >= writes:
                    return
                del rv

    tasks = [asyncio.create_task(watch()) for _ in range(watchers)]
    await asyncio.wait_for(ready.wait(), 30)
    await asyncio.sleep(0.5)
    for index in range(writes):
        name = f"item-{index}"
        sent[name] = time.perf_counter()
        patch = json.dumps({"spec": {"size": 100 + index}})
        async with client.session.patch(
            f"{client.collection()}/{name}",
            data=patch,
            headers={"Content-Type": "application/merge-patch+json"},
        ) as response:
            await response.read()
        await asyncio.sleep(0.02)
    await asyncio.wait_for(asyncio.gather(*tasks), 60)
    done.set()
    return delays


async def run(args: argparse.Namespace) -> dict[str, float]:
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        store = StoreProcess(Path(folder) / "store").start()
        try:
            client = Client(store, connections=max(args.concurrency, args.watchers + 4))
            async with client.session.post(
                f"{store.url}/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                data=json.dumps(CRD),
            ) as response:
                assert response.status == 201, await response.text()
            creates = await bench_creates(client, args.objects, args.concurrency)
            gets = await bench_gets(client, args.objects, args.get_samples)
            fanout = await bench_fanout(client, args.watchers, args.writes)
            await client.close()
            assert store.process is not None
            rss = peak_rss_mb(store.process.pid)
        finally:
            store.stop()
        raw = raw_sqlite_commits_per_second(Path(folder))
    return {
        "creates_per_s": creates,
        "get_p50_ms": statistics.median(gets),
        "get_p99_ms": percentile(gets, 99),
        "fanout_p50_ms": statistics.median(fanout),
        "fanout_p99_ms": percentile(fanout, 99),
        "fanout_deliveries": len(fanout),
        "peak_rss_mb": rss,
        "raw_sqlite_commits_per_s": raw,
        "store_to_raw_ratio": creates / raw,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--get-samples", type=int, default=2_000)
    parser.add_argument("--watchers", type=int, default=100)
    parser.add_argument("--writes", type=int, default=200)
    parser.add_argument("--dir", default=None, help="where the data dir goes (same disk)")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument(
        "--rbac",
        action="store_true",
        help="RBAC mode: the same creates and GETs as 50 users, before and after 100 Roles, "
        "1,000 RoleBindings and 10 admission policies; reported as ratios (benchmarks/rbac.py)",
    )
    args = parser.parse_args()
    if args.rbac:
        from benchmarks import rbac

        objects = min(args.objects, 3_000)
        samples = min(args.get_samples, 1_000)
        rbac.report(
            asyncio.run(rbac.run(objects, args.concurrency, samples, args.dir)), as_json=args.json
        )
        return
    results = asyncio.run(run(args))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    targets = {
        "creates_per_s": ">= 2000",
        "get_p50_ms": "< 5",
        "fanout_p99_ms": "< 100",
        "peak_rss_mb": "< 200",
    }
    print(f"{'metric':28} {'value':>12}  target")
    for key, value in results.items():
        print(f"{key:28} {value:12.2f}  {targets.get(key, '')}")


if __name__ == "__main__":
    main()

"""Benchmark of network isolation's cost: ``python -m benchmarks.isolation`` (root).

Isolation has no per-workspace network and no per-workspace firewall rule: one nftables
table of five rules for the host (providers.hostfirewall), and at each start of a Podman
workspace one listing of its organization's bridge's ports and one ``bridge link set``
for the new port (providers.bridgeports.isolate_all). The listing grows with the ports on
the bridge, so this measures ``isolate_all`` on a real bridge with ``--ports`` veth ports
(1,000 by default: a thousand workspaces of one organization on one network), each run
adding one fresh port as a start does. Everything it makes (a bridge ``wwsbench<hex>``, veth
pairs ``wb<hex><n>``) is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
import uuid

from providers import bridgeports


def _batch(lines: list[str]) -> None:
    subprocess.run(["ip", "-batch", "-"], input="\n".join(lines) + "\n", text=True, check=True)


def measure(ports: int, runs: int) -> dict[str, float]:
    tag = uuid.uuid4().hex[:4]
    bridge = f"wwsbench{tag}"
    names = [f"wb{tag}{n}" for n in range(ports + runs)]
    _batch([f"link add {bridge} type bridge"])
    try:
        _batch(
            [f"link add {name} type veth peer name {name}p" for name in names[:ports]]
            + [f"link set {name} master {bridge}" for name in names[:ports]]
        )
        bridgeports.isolate_all(bridge)  # the existing ports: isolated, as on a real network
        seconds = []
        for name in names[ports:]:
            _batch(
                [f"link add {name} type veth peer name {name}p", f"link set {name} master {bridge}"]
            )
            started = time.perf_counter()
            marked = bridgeports.isolate_all(bridge)
            seconds.append(time.perf_counter() - started)
            assert marked == [name], marked
        return {
            "ports": float(ports),
            "p50_ms": statistics.median(seconds) * 1000,
            "max_ms": max(seconds) * 1000,
        }
    finally:
        _batch([f"link del {name}" for name in names] + [f"link del {bridge}"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ports", type=int, nargs="*", default=[10, 100, 1000])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = [measure(ports, args.runs) for ports in args.ports]
    if args.json:
        print(json.dumps(results))
        return
    for row in results:
        print(
            f"{int(row['ports']):>5} ports on the bridge: isolate_all p50 {row['p50_ms']:.1f} ms,"
            f" max {row['max_ms']:.1f} ms"
        )


if __name__ == "__main__":
    main()

"""Benchmark of the agent's activity tracking: ``python -m benchmarks.agent_activity``.

The agent looks for activity once a second (``wwsagent.activity.Activity.sample``: a listing
of /dev/pts, one stat per terminal, one of code-server's heartbeat file; the /proc scan for
tmux only when input was seen). This measures the CPU time of one look on this machine, with
``--terminals`` pseudo-terminals open (real ones, from ``os.openpty``, typed into between
looks so the input path is measured too), and reports it as a share of one core at one look
a second. The target (issue 14): under 1 % of a core in an idle workspace.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "images" / "workspace" / "agent"))

from wwsagent.activity import Activity


def measure(looks: int, terminals: int, typing: bool) -> float:
    """CPU seconds of one look."""
    ptys = [os.openpty() for _ in range(terminals)]
    try:
        with tempfile.TemporaryDirectory() as home:
            beat = Path(home) / ".local" / "share" / "code-server"
            beat.mkdir(parents=True)
            (beat / "heartbeat").touch()
            activity = Activity()
            uid = os.getuid()
            spent = 0.0
            for n in range(looks):
                if typing and ptys and n % 10 == 0:
                    master, slave = ptys[n % len(ptys)]
                    os.write(master, b"x\n")
                    os.read(slave, 16)
                began = time.process_time()
                activity.sample(uid, Path(home))
                spent += time.process_time() - began
            return spent / looks
    finally:
        for master, slave in ptys:
            os.close(master)
            os.close(slave)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--looks", type=int, default=5000)
    parser.add_argument("--terminals", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    idle = measure(args.looks, args.terminals, typing=False)
    typing = measure(args.looks, args.terminals, typing=True)
    figures = {
        "terminals": args.terminals,
        "idle_look_us": round(idle * 1e6, 1),
        "idle_core_percent": round(idle * 100, 4),
        "typing_look_us": round(typing * 1e6, 1),
        "typing_core_percent": round(typing * 100, 4),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:>22}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``wws-agent run`` (as root, started by the boot hook) and ``wws-agent status``."""

from __future__ import annotations

import os
import sys

from wwsagent import reporting
from wwsagent.agent import Agent


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "run"
    if command == "run":
        if os.geteuid() != 0:
            print("wws-agent run: must run as root", file=sys.stderr)
            return 2
        return Agent().run()
    if command in ("status", "report"):
        return reporting.print_report()
    print(f"usage: {argv[0]} [run|status]", file=sys.stderr)
    return 2

#!/usr/bin/python3
"""wws-agent: makes a WWS workspace its owner's, at every boot, and reports how that went.

The image runs this script (``/usr/local/lib/wws/agent/wws_agent.py run``, and
``wws-agent status`` through a link); the agent itself is the package ``wwsagent`` beside
it (see its documentation, and docs/workspace-agent.md). Standard library only.
"""

from __future__ import annotations

import sys
from pathlib import Path

# NB: the package beside this file, also when the script is started through a link.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from wwsagent import main

if __name__ == "__main__":
    sys.exit(main.main(sys.argv))

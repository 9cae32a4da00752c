"""Timestamps as Kubernetes, Podman and the in-workspace agent write them.

One parser for every room (RFC 3339 with ``Z`` or an offset, any number of fraction digits,
lower-case ``t``/``z`` accepted), so a time reads the same wherever it is read.
"""

from __future__ import annotations

import datetime
import re

#: The fraction of a second; Go writes up to nine digits, Python reads up to six.
_FRACTION = re.compile(r"\.(\d+)")


def parse_time(value: object) -> datetime.datetime | None:
    """``value`` as an aware datetime (UTC when it names no offset); ``None`` for a
    non-string, an empty string, Go's zero time (``0001-01-01T00:00:00Z``, what Podman
    says of a container never started) or text that is no timestamp."""
    if not isinstance(value, str) or not value or value.startswith("0001-01-01"):
        return None
    text = value.upper().replace("Z", "+00:00")
    # NB: trim (or pad) the fraction to microseconds: 2026-11-26T02:29:58.588607123Z.
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)

"""Numbers behind the API's strings: quantities (``4Gi``, ``500m``) and durations (``1h30m``).

The models keep such values as the strings the user wrote; providers and reconcilers turn
them into numbers here when they need one (bytes for a memory limit, seconds for a timeout).
"""

from __future__ import annotations

import datetime
import decimal
import re

from api import formats

_SUFFIXES: dict[str, decimal.Decimal] = {
    "": decimal.Decimal(1),
    "n": decimal.Decimal("1e-9"),
    "u": decimal.Decimal("1e-6"),
    "m": decimal.Decimal("1e-3"),
    "k": decimal.Decimal(10) ** 3,
    "M": decimal.Decimal(10) ** 6,
    "G": decimal.Decimal(10) ** 9,
    "T": decimal.Decimal(10) ** 12,
    "P": decimal.Decimal(10) ** 15,
    "E": decimal.Decimal(10) ** 18,
    "Ki": decimal.Decimal(2) ** 10,
    "Mi": decimal.Decimal(2) ** 20,
    "Gi": decimal.Decimal(2) ** 30,
    "Ti": decimal.Decimal(2) ** 40,
    "Pi": decimal.Decimal(2) ** 50,
    "Ei": decimal.Decimal(2) ** 60,
}
_QUANTITY = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?")
_DURATION_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_quantity(value: str) -> decimal.Decimal:
    """The number a Kubernetes quantity stands for: ``"4Gi"`` → 4294967296, ``"500m"`` → 0.5.

    Raises ``ValueError`` when ``value`` is not a quantity (see ``formats.QUANTITY``).
    """
    match = _QUANTITY.fullmatch(value)
    if match is None:
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    number, suffix = decimal.Decimal(match[1]), match[2] or ""
    if suffix[:1] in ("e", "E"):
        return number * decimal.Decimal(10) ** int(suffix[1:])
    return number * _SUFFIXES[suffix]


def parse_duration(value: str) -> datetime.timedelta:
    """The time a duration stands for: ``"1h30m"`` → 90 minutes; ``"0"`` → zero.

    Raises ``ValueError`` when ``value`` is not a duration (see ``formats.DURATION``).
    """
    formats.DURATION.check(value)
    seconds = sum(
        int(amount) * _DURATION_UNITS[unit]
        for amount, unit in re.findall(r"([0-9]+)([dhms])", value)
    )
    return datetime.timedelta(seconds=seconds)

"""String formats CRD schemas may name (k8s.io/kube-openapi/pkg/validation/strfmt) and
regex patterns, compiled once."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import ipaddress
import re
from collections.abc import Callable
from typing import Final

_DATE_RE: Final = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_TIME_RE: Final = re.compile(
    r"^([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))$"
)
_UUID_RE: Final = re.compile(
    r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$", re.I
)
_UUID3_RE: Final = re.compile(
    r"^[0-9a-f]{8}-?[0-9a-f]{4}-?3[0-9a-f]{3}-?[0-9a-f]{4}-?[0-9a-f]{12}$", re.I
)
_UUID4_RE: Final = re.compile(
    r"^[0-9a-f]{8}-?[0-9a-f]{4}-?4[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$", re.I
)
_UUID5_RE: Final = re.compile(
    r"^[0-9a-f]{8}-?[0-9a-f]{4}-?5[0-9a-f]{3}-?[89ab][0-9a-f]{3}-?[0-9a-f]{12}$", re.I
)
_HOSTNAME_RE: Final = re.compile(
    r"^([a-zA-Z0-9]((-?[a-zA-Z0-9]{0,62})?)|([a-zA-Z0-9](([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.)){1,}"
    r"([a-zA-Z]){2,63})$"
)
_MAC_RE: Final = re.compile(
    r"^(([0-9a-fA-F]{2}:){5}|([0-9a-fA-F]{2}:){7}|([0-9a-fA-F]{2}:){19})[0-9a-fA-F]{2}$"
    r"|^(([0-9a-fA-F]{2}-){5}|([0-9a-fA-F]{2}-){7}|([0-9a-fA-F]{2}-){19})[0-9a-fA-F]{2}$"
    r"|^(([0-9a-fA-F]{4}\.){2}|([0-9a-fA-F]{4}\.){3}|([0-9a-fA-F]{4}\.){9})[0-9a-fA-F]{4}$"
)
_EMAIL_RE: Final = re.compile(r"^[^@\s<>()]+@[^@\s<>()]+$")
_URI_RE: Final = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*:|/)\S*$")
_GO_DURATION_RE: Final = re.compile(r"^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$|^[-+]?0$")
_LOOSE_DURATION_RE: Final = re.compile(
    r"^\s*(\d+\s*(ns|nano|us|µs|micro|ms|milli|s|sec|m|min|h|hr|hour|d|day|w|wk|week)s?\s*)+$", re.I
)
_HEXCOLOR_RE: Final = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
_RGB_RE: Final = re.compile(
    r"^rgb\(\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*,"
    r"\s*(0|[1-9]\d?|1\d\d?|2[0-4]\d|25[0-5])\s*\)$"
)
_BSON_RE: Final = re.compile(r"^[0-9a-fA-F]{24}$")
_SSN_RE: Final = re.compile(r"^\d{3}[- ]?\d{2}[- ]?\d{4}$")
_DNS1123_LABEL: Final = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL_RE: Final = re.compile(rf"^{_DNS1123_LABEL}$")
DNS1123_SUBDOMAIN_RE: Final = re.compile(rf"^{_DNS1123_LABEL}(\.{_DNS1123_LABEL})*$")
_DNS1035_LABEL: Final = r"[a-z]([-a-z0-9]*[a-z0-9])?"
DNS1035_LABEL_RE: Final = re.compile(rf"^{_DNS1035_LABEL}$")


def _is_date(value: str) -> bool:
    match = _DATE_RE.match(value)
    if match is None:
        return False
    try:
        dt.date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return False
    return True


def _is_date_time(value: str) -> bool:
    parts = value.lower().split("t")
    if len(value) < 4 or len(parts) < 2 or not _is_date(parts[0]):
        return False
    match = _TIME_RE.match(parts[1])
    return match is not None and match[1] <= "23" and match[2] <= "59" and match[3] <= "59"


def _is_byte(value: str) -> bool:
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _is_ip(value: str, separator: str) -> bool:
    if separator not in value:
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_cidr(value: str) -> bool:
    if "/" not in value:
        return False
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def _is_duration(value: str) -> bool:
    return bool(_GO_DURATION_RE.match(value) or _LOOSE_DURATION_RE.match(value))


def _matcher(regex: re.Pattern[str], max_len: int | None = None) -> Callable[[str], bool]:
    def check(value: str) -> bool:
        return (max_len is None or len(value) <= max_len) and regex.match(value) is not None

    return check


#: Format name (dashes removed, as go-openapi normalizes them) → validator.
#: Formats CRDs may name but that are not listed here are ignored, as kube-apiserver does
#: with unknown formats.
FORMATS: Final[dict[str, Callable[[str], bool]]] = {
    "datetime": _is_date_time,
    "date": _is_date,
    "byte": _is_byte,
    "uuid": _matcher(_UUID_RE),
    "uuid3": _matcher(_UUID3_RE),
    "uuid4": _matcher(_UUID4_RE),
    "uuid5": _matcher(_UUID5_RE),
    "ipv4": lambda v: _is_ip(v, "."),
    "ipv6": lambda v: _is_ip(v, ":"),
    "cidr": _is_cidr,
    "mac": _matcher(_MAC_RE),
    "hostname": _matcher(_HOSTNAME_RE, 255),
    "email": _matcher(_EMAIL_RE),
    "uri": _matcher(_URI_RE),
    "duration": _is_duration,
    "hexcolor": _matcher(_HEXCOLOR_RE),
    "rgbcolor": _matcher(_RGB_RE),
    "bsonobjectid": _matcher(_BSON_RE),
    "ssn": _matcher(_SSN_RE),
    "password": lambda v: True,
    "k8sshortname": _matcher(_DNS1123_LABEL_RE, 63),
    "k8slongname": _matcher(DNS1123_SUBDOMAIN_RE, 253),
}


@functools.lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> re.Pattern[str] | None:
    """Compiled ECMA/RE2 pattern, or ``None`` when Python's ``re`` cannot read it.

    Go's ``\\z`` is Python's ``\\Z``; other RE2 syntax Python lacks (``\\p{L}``) makes the pattern
    unusable here, and then it is not enforced rather than refusing every write.
    """
    try:
        return re.compile(pattern.replace(r"\z", r"\Z"))
    except re.error:
        return None

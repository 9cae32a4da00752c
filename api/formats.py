"""The string formats of the API: names, quantities, durations, image references, logins, ...

Each format is one regular expression that serves twice: pydantic checks values against it
(with a message that says what is expected), and the CRD schema carries it as ``pattern``, so
the API server refuses the same values. NB: a real cluster evaluates patterns with Go's RE2:
no lookaround, no backreferences; every pattern is anchored with ``^...$`` because RE2
matches anywhere otherwise.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema


@dataclasses.dataclass(frozen=True, kw_only=True)
class StringFormat:
    """A named string format: pattern, length limits and the words of its error message."""

    what: str
    """How the error message names the expected value, e.g. 'a Kubernetes quantity'."""
    pattern: str
    max_length: int
    example: str
    min_length: int = 1
    extra_check: Callable[[str], bool] | None = None
    """A stricter test than the pattern, run by pydantic only (e.g. a real IP address parse)."""
    int_or_string: bool = False
    """Whole numbers are accepted unquoted (``cpu: 2``) and kept as strings, like Kubernetes
    quantities (``x-kubernetes-int-or-string``)."""

    def check(self, value: Any) -> str:
        """``value`` when it has this format; ``ValueError`` with a readable message if not."""
        if self.int_or_string and isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise ValueError(
                f"must be {self.what} given as a string (quote numbers in YAML),"
                f" e.g. {self.example!r}"
            )
        if len(value) < self.min_length or len(value) > self.max_length:
            raise ValueError(
                f"must be {self.what} of {self.min_length} to {self.max_length} characters"
            )
        if not re.fullmatch(self.pattern, value) or (
            self.extra_check is not None and not self.extra_check(value)
        ):
            raise ValueError(f"must be {self.what}, e.g. {self.example!r}; got {value!r}")
        return value

    def json_schema(self) -> dict[str, Any]:
        """The OpenAPI fragment of the format (what the CRD carries)."""
        if self.int_or_string:
            # NB: the shape kube-apiserver and controller-gen use for resource.Quantity.
            return {
                "anyOf": [{"type": "integer"}, {"type": "string"}],
                "pattern": self.pattern,
                "x-kubernetes-int-or-string": True,
            }
        schema: dict[str, Any] = {"type": "string", "pattern": self.pattern}
        if self.min_length:
            schema["minLength"] = self.min_length
        schema["maxLength"] = self.max_length
        return schema


def _is_ip_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_IPV4_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IMAGE_COMPONENT = r"[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*"
_IMAGE_DOMAIN = r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*"
_GITHUB_LOGIN = r"[A-Za-z0-9]+(-[A-Za-z0-9]+)*"

DNS_LABEL = StringFormat(
    what="a DNS-1123 label (lowercase letters, digits and '-', starting and ending with"
    " a letter or digit, at most 63 characters)",
    pattern=f"^{_LABEL}$",
    max_length=63,
    example="alice-api",
)
DNS_SUBDOMAIN = StringFormat(
    what="a DNS-1123 subdomain (DNS labels joined by '.')",
    pattern=rf"^{_LABEL}(\.{_LABEL})*$",
    max_length=253,
    example="github-token",
)
SECRET_KEY = StringFormat(
    what="a Secret key (letters, digits, '-', '_' and '.')",
    pattern=r"^[-._a-zA-Z0-9]+$",
    max_length=253,
    example="token",
)
QUANTITY = StringFormat(
    what="a Kubernetes quantity (a number with an optional suffix: m, k, M, G, T, Ki, Mi,"
    " Gi, Ti, ...)",
    pattern=r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$",
    max_length=64,
    example="4Gi",
    int_or_string=True,
)
DURATION = StringFormat(
    what="a duration: numbers with units d, h, m, s in that order, or 0",
    pattern=r"^(0|([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?)$",
    max_length=32,
    example="1h30m",
)
IMAGE = StringFormat(
    what="an image reference ([registry/]name[:tag][@digest])",
    pattern=(
        rf"^({_IMAGE_DOMAIN}(:[0-9]+)?/)?{_IMAGE_COMPONENT}(/{_IMAGE_COMPONENT})*"
        r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
        r"(@[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
    ),
    max_length=512,
    example="localhost/wws/workspace:bookworm",
)
GITHUB_LOGIN = StringFormat(
    what="a GitHub login (letters, digits and single '-' between them, at most 39 characters)",
    # NB: GitHub's own rule is ^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$; the
    # lookahead is not RE2, so: no leading, trailing or double '-', plus maxLength 39.
    pattern=f"^{_GITHUB_LOGIN}$",
    max_length=39,
    example="alice",
)
GITHUB_TEAM = StringFormat(
    what="a GitHub team as ORG/TEAM-SLUG",
    pattern=rf"^{_GITHUB_LOGIN}/[A-Za-z0-9_][A-Za-z0-9_.-]*$",
    max_length=140,
    example="acme/platform",
)
GIT_REPOSITORY = StringFormat(
    what="a git repository URL (https://, http://, ssh://, git:// or user@host:path)",
    pattern=r"^((https?|ssh|git)://[^ \t\r\n]+|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^ \t\r\n]+)$",
    max_length=2048,
    example="https://github.com/alice/dotfiles",
)
GIT_USER_NAME = StringFormat(
    what="a git user name (one line, no '<' or '>')",
    pattern=r"^[^\r\n<>]+$",
    max_length=256,
    example="Alice Liddell",
)
EMAIL = StringFormat(
    what="an e-mail address",
    pattern=r"^[^@ \t\r\n<>]+@[^@ \t\r\n<>]+$",
    max_length=320,
    example="alice@example.com",
)
HTTP_URL = StringFormat(
    what="an http:// or https:// URL",
    pattern=r"^https?://[^/ \t\r\n?#]+(/[^ \t\r\n?#]*)?$",
    max_length=2048,
    example="https://api.github.com",
)
INVITEE = StringFormat(
    what="a GitHub login or an e-mail address",
    pattern=rf"^({_GITHUB_LOGIN}|[^@ \t\r\n<>]+@[^@ \t\r\n<>]+)$",
    max_length=320,
    example="alice",
)
SSH_PUBLIC_KEY = StringFormat(
    what="an OpenSSH public key line (type, base64 key, optional comment)",
    pattern=(
        r"^(ssh-[a-z0-9]+|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9-]+@openssh\.com)"
        r"(-cert-v01@openssh\.com)? [A-Za-z0-9+/]+={0,3}( [^\r\n]*)?$"
    ),
    max_length=16384,
    example="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA alice@laptop",
)
IP_ADDRESS = StringFormat(
    what="an IPv4 or IPv6 address",
    pattern=(
        rf"^(({_IPV4_OCTET}\.){{3}}{_IPV4_OCTET}"
        r"|[0-9a-fA-F]{0,4}(:[0-9a-fA-F]{0,4}){2,7})$"
    ),
    max_length=45,
    example="127.0.0.1",
    extra_check=_is_ip_address,
)
LANGUAGE_VERSION = StringFormat(
    what="a version (letters, digits, '.', '_', '+' and '-')",
    pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,31}$",
    max_length=32,
    example="3.11",
)
CONDITION_TYPE = StringFormat(
    what="a condition type in CamelCase, optionally prefixed by a DNS subdomain and '/'",
    pattern=rf"^({_LABEL}(\.{_LABEL})*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
    max_length=316,
    example="Ready",
)
REASON = StringFormat(
    what="a reason in CamelCase (letters, digits, '_', ',' and ':')",
    pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
    max_length=1024,
    example="ImageNotFound",
)


def annotated(fmt: StringFormat) -> tuple[BeforeValidator, WithJsonSchema]:
    """The pydantic metadata of ``fmt``: its validator and its JSON schema."""
    return BeforeValidator(fmt.check), WithJsonSchema(fmt.json_schema())


# NB: spelled out (not built in a loop) so that type checkers see plain ``str`` aliases.
DNSLabel = Annotated[str, *annotated(DNS_LABEL)]
DNSSubdomain = Annotated[str, *annotated(DNS_SUBDOMAIN)]
SecretKey = Annotated[str, *annotated(SECRET_KEY)]
Quantity = Annotated[str, *annotated(QUANTITY)]
Duration = Annotated[str, *annotated(DURATION)]
Image = Annotated[str, *annotated(IMAGE)]
GitHubLogin = Annotated[str, *annotated(GITHUB_LOGIN)]
GitHubTeam = Annotated[str, *annotated(GITHUB_TEAM)]
GitRepository = Annotated[str, *annotated(GIT_REPOSITORY)]
GitUserName = Annotated[str, *annotated(GIT_USER_NAME)]
Email = Annotated[str, *annotated(EMAIL)]
HTTPURL = Annotated[str, *annotated(HTTP_URL)]
Invitee = Annotated[str, *annotated(INVITEE)]
SSHPublicKey = Annotated[str, *annotated(SSH_PUBLIC_KEY)]
IPAddress = Annotated[str, *annotated(IP_ADDRESS)]
LanguageVersion = Annotated[str, *annotated(LANGUAGE_VERSION)]
ConditionType = Annotated[str, *annotated(CONDITION_TYPE)]
Reason = Annotated[str, *annotated(REASON)]

ALL: tuple[StringFormat, ...] = (
    DNS_LABEL,
    DNS_SUBDOMAIN,
    SECRET_KEY,
    QUANTITY,
    DURATION,
    IMAGE,
    GITHUB_LOGIN,
    GITHUB_TEAM,
    GIT_REPOSITORY,
    GIT_USER_NAME,
    EMAIL,
    HTTP_URL,
    INVITEE,
    SSH_PUBLIC_KEY,
    IP_ADDRESS,
    LANGUAGE_VERSION,
    CONDITION_TYPE,
    REASON,
)
"""Every format, for tests that check the patterns."""

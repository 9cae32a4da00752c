"""Request bodies: read within the size limit, then decoded from JSON or YAML into a value.

kube-apiserver refuses a body over 3 MiB, reads YAML as go-yaml v2 into JSON (timestamps stay
strings) and, under ``fieldValidation=Strict``, a key given twice; the same here, each refusal a
``Status``.
"""

from __future__ import annotations

import math
from typing import Any

import orjson
import yaml

from statestore import decoding, objects
from statestore.errors import Cause, StatusError, bad_request
from statestore.responses import Receive

MAX_BODY_BYTES = 3 * 1024 * 1024


class _YamlLoader(yaml.SafeLoader):
    """YAML as kube-apiserver reads it (go-yaml v2 into JSON): timestamps stay strings."""


_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _yaml_problem(value: Any, *, budget: int) -> str | None:
    """Why a decoded YAML value cannot be a JSON body, if it cannot: more than ``budget``
    nodes once aliases are expanded, nesting too deep, a non-string key, or a value JSON
    has no form for (binary, set, timestamp tag, infinity, NaN)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        budget -= 1
        if budget < 0:
            return "its aliases expand it far beyond its size"
        if isinstance(item, dict | list) and depth > objects.MAX_DEPTH:
            return f"it nests more than {objects.MAX_DEPTH} levels deep"
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str):
                    return f"the mapping key {key!r} is not a string"
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        elif isinstance(item, float) and not math.isfinite(item):
            return f"{item} is not a JSON number"
        elif item is not None and not isinstance(item, str | int | float | bool):
            return f"a value of type {type(item).__name__} ({item!r:.40})"
    return None


async def read_body(receive: Receive, headers: dict[bytes, bytes]) -> bytes:
    declared = headers.get(b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise StatusError(
            413,
            "RequestEntityTooLarge",
            f"the request body is {int(declared)} bytes; the limit is "
            f"{MAX_BODY_BYTES} bytes (3 MiB)",
        )
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise StatusError(400, "BadRequest", "client disconnected")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise StatusError(
                413,
                "RequestEntityTooLarge",
                f"the request body exceeds the limit of {MAX_BODY_BYTES} bytes",
            )
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def duplicates(body: bytes, content_type: str, value: Any, directive: str) -> list[str]:
    """Under Warn (the default), keys given twice in a JSON body are warned about."""
    if directive != "Warn" or "json" not in content_type:
        return []
    return decoding.probable_duplicates(body, value)


def parse(body: bytes, content_type: str, *, strict: bool = False) -> Any:
    if not body.strip():
        raise bad_request("the request body is empty")
    if "yaml" in content_type:
        try:
            value = yaml.load(body, Loader=_YamlLoader)  # a SafeLoader: no Python tags
        except yaml.YAMLError as error:
            raise bad_request(f"the request body is not valid YAML: {error}") from error
        except RecursionError as error:
            raise bad_request("the request body is nested too deeply") from error
        # Aliases may expand a small body enormously ("billion laughs"): the walk is
        # bounded by the body's size, before anything else walks the value.
        problem = _yaml_problem(value, budget=2 * len(body) + 1000)
        if problem is not None:
            raise bad_request(f"the YAML request body has no JSON form: {problem}")
    else:
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise bad_request(f"the request body is not valid JSON: {error}") from error
    problem = decoding.body_problem(value)
    if problem is not None:
        raise bad_request(f"the request body cannot be stored: {problem}")
    if strict:
        duplicates = decoding.duplicate_fields(body, content_type)
        if duplicates:
            raise bad_request(
                "strict decoding error: " + ", ".join(duplicates),
                causes=[Cause("", d, "FieldValueDuplicate") for d in duplicates],
            )
    return value

"""The patch types the Kubernetes API accepts on custom and built-in resources."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

from statestore.errors import StatusError, bad_request

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _strip_strategic_directives(patch: Any) -> Any:
    """Built-in kinds get a strategic merge patch from kubectl; ours have no merge keys that
    matter beyond maps, so it is applied as a merge patch once its directives are removed."""
    if isinstance(patch, dict):
        if patch.get("$patch") == "delete":
            return None
        return {
            key: _strip_strategic_directives(value)
            for key, value in patch.items()
            if not key.startswith("$setElementOrder/")
            and not key.startswith("$deleteFromPrimitiveList/")
            and key not in ("$retainKeys", "$patch")
        }
    if isinstance(patch, list):
        return [
            _strip_strategic_directives(item)
            for item in patch
            if not (isinstance(item, dict) and item.get("$patch") == "delete")
        ]
    return patch


def apply_patch(
    current: dict[str, Any], patch: Any, *, content_type: str, builtin: bool
) -> dict[str, Any]:
    if content_type == MERGE_PATCH:
        if not isinstance(patch, dict):
            raise bad_request("a merge patch must be a JSON object")
        result = merge_patch(current, patch)
    elif content_type == JSON_PATCH:
        if not isinstance(patch, list):
            raise bad_request("a JSON patch must be a JSON array of operations")
        try:
            result = jsonpatch.apply_patch(current, patch, in_place=False)
        except jsonpatch.JsonPatchTestFailed as error:
            # kopf relies on this: a failed "test" is 422, not 409 or 500.
            raise StatusError(
                422,
                "Invalid",
                f"the server rejected our request due to an error in our request: {error}",
            ) from error
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as error:
            raise StatusError(
                422,
                "Invalid",
                f"the server rejected our request due to an error in our request: {error}",
            ) from error
        except (TypeError, KeyError, IndexError, ValueError) as error:
            raise bad_request(f"invalid JSON patch: {error}") from error
    elif content_type == STRATEGIC_MERGE_PATCH and builtin:
        if not isinstance(patch, dict):
            raise bad_request("a strategic merge patch must be a JSON object")
        result = merge_patch(current, _strip_strategic_directives(patch))
    else:
        raise StatusError(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format - accepted media types include: "
            f"{JSON_PATCH}, {MERGE_PATCH}" + (f", {STRATEGIC_MERGE_PATCH}" if builtin else ""),
        )
    if not isinstance(result, dict):
        raise bad_request("the patch did not produce a JSON object")
    return result

"""The patch types the Kubernetes API accepts on custom and built-in resources."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import jsonpointer
import orjson

from statestore.errors import StatusError, bad_request

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

#: kube-apiserver's maxJSONPatchOperations.
MAX_JSON_PATCH_OPERATIONS = 10_000
#: kube-apiserver's JSONPatchMaxCopyBytes: what all ``copy`` operations of one patch may copy.
#: Without it each ``copy`` of the document into itself doubles it: 30 operations of a 1 KB
#: patch would ask for a terabyte.
MAX_JSON_PATCH_COPY_BYTES = 3 * 1024 * 1024


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


def _apply_json_patch(current: dict[str, Any], patch: list[Any]) -> Any:
    """RFC 6902, bounded as kube-apiserver bounds it: at most 10,000 operations, and at most
    3 MiB copied by ``copy`` operations in all (the object's final size is checked by the
    store as for any write). Operations are applied one at a time, so a copy is sized
    before it is made."""
    if len(patch) > MAX_JSON_PATCH_OPERATIONS:
        raise StatusError(
            413,
            "RequestEntityTooLarge",
            f"The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPERATIONS}, "
            f"got {len(patch)}",
        )
    result: Any = copy.deepcopy(current)
    copied = 0
    for operation in patch:
        if isinstance(operation, dict) and operation.get("op") == "copy":
            source = jsonpointer.resolve_pointer(result, str(operation.get("from", "")), None)
            copied += len(orjson.dumps(source)) if source is not None else 0
            if copied > MAX_JSON_PATCH_COPY_BYTES:
                raise StatusError(
                    422,
                    "Invalid",
                    "the server rejected our request due to an error in our request: the copy "
                    f"operations of this JSON patch would copy more than "
                    f"{MAX_JSON_PATCH_COPY_BYTES} bytes",
                )
        result = jsonpatch.JsonPatch([operation]).apply(result, in_place=True)
    return result


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
            result = _apply_json_patch(current, patch)
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

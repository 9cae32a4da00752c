"""What a write body must satisfy before the store takes it, whatever its kind.

Type meta that matches the request, metadata (names, labels, server-managed fields carried
over on update), the version's schema (prune, default, validate; unknown fields are errors
under ``fieldValidation=Strict``) and the kind's own checks, asked of its strategy.
"""

from __future__ import annotations

from typing import Any

from statestore import cel, decoding, errors, objects, schema, strategies, typed
from statestore.errors import Cause
from statestore.resources import ResourceInfo


def check_identity(info: ResourceInfo, version: str, obj: dict[str, Any]) -> None:
    api_version = obj.get("apiVersion")
    kind = obj.get("kind")
    if kind is not None and kind != info.kind:
        raise errors.bad_request(
            f'the kind "{kind}" in the body does not match the resource '
            f'{info.group_resource} (kind "{info.kind}")',
            causes=[Cause("kind", f'Invalid value: "{kind}": expected "{info.kind}"')],
        )
    if api_version is not None and api_version != info.api_version(version):
        raise errors.bad_request(
            f'the apiVersion "{api_version}" in the body does not match the request '
            f"({info.api_version(version)})",
            causes=[Cause("apiVersion", f'Invalid value: "{api_version}"')],
        )


def validate_body(
    info: ResourceInfo,
    version: str,
    obj: dict[str, Any],
    *,
    strict: bool,
    context: strategies.Context,
) -> tuple[dict[str, Any], list[str]]:
    """Schema pruning, defaulting and validation; returns the object and warnings."""
    # A patch can deepen an object, or bring a number, beyond what a body may hold.
    problem = decoding.body_problem(obj)
    if problem is not None:
        raise errors.bad_request(f"the object cannot be stored: {problem}")
    name = obj.get("metadata", {}).get("name", "")
    causes = objects.check_metadata(obj.get("metadata", {}))
    version_info = info.version(version)
    warnings: list[str] = []
    unknown: list[str] = []
    if version_info is not None and version_info.schema is not None:
        with cel.request_budget():  # CEL rules of one request share one run-time budget
            result = schema.process(obj, version_info.schema)
        obj, unknown = result.obj, result.unknown_fields
        causes.extend(result.causes)
    else:
        decoded = typed.check(info, version, obj)
        if decoded is not None:
            if decoded.causes:
                raise typed.decode_error(info, version, decoded.causes)
            obj, unknown = decoded.obj, decoded.unknown_fields
    if unknown:
        if strict:
            raise errors.bad_request(
                "strict decoding error: " + ", ".join(f'unknown field "{p}"' for p in unknown),
                causes=[Cause(p, "unknown field", "FieldValueInvalid") for p in unknown],
            )
        warnings.extend(f'unknown field "{p}"' for p in unknown)
    obj, more = strategies.for_resource(info).validate(obj, context=context)
    causes.extend(more)
    if causes:
        raise errors.invalid(kind=info.kind, name=name, group=info.group, causes=causes)
    return obj, warnings


def prepare_create(
    info: ResourceInfo, namespace: str | None, obj: dict[str, Any], strategy: strategies.Strategy
) -> tuple[str | None, str]:
    """Type meta, namespace and name of a new object; server-managed metadata dropped."""
    obj["apiVersion"] = info.api_version(info.storage_version.name)
    obj["kind"] = info.kind
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        metadata = obj["metadata"] = {}
    for key in objects.SERVER_MANAGED:
        metadata.pop(key, None)
    if info.namespaced:
        given = metadata.get("namespace")
        if given and namespace and given != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent "
                "on the request",
                causes=[Cause("metadata.namespace", f'Invalid value: "{given}"')],
            )
        namespace = namespace or given
        metadata["namespace"] = namespace
    else:
        metadata.pop("namespace", None)
        namespace = None
    if not metadata.get("name") and metadata.get("generateName"):
        metadata["name"] = objects.generated_name(str(metadata["generateName"]))
    name_causes = strategy.name_causes(metadata.get("name"))
    if name_causes:
        raise errors.invalid(
            kind=info.kind,
            name=str(metadata.get("name") or ""),
            group=info.group,
            causes=name_causes,
        )
    name: str = metadata["name"]
    return namespace, name


def carry_metadata(info: ResourceInfo, name: str, old: dict[str, Any], new: dict[str, Any]) -> None:
    """Type meta and server-managed metadata of an update come from the stored object."""
    new["apiVersion"] = old["apiVersion"]
    new["kind"] = info.kind
    metadata = new.get("metadata")
    if not isinstance(metadata, dict):
        metadata = new["metadata"] = {}
    old_metadata = old["metadata"]
    for immutable in ("name", "namespace", "uid"):
        given = metadata.get(immutable)
        if given not in (None, "") and given != old_metadata.get(immutable):
            raise errors.invalid(
                kind=info.kind,
                name=name,
                group=info.group,
                causes=[
                    Cause(
                        f"metadata.{immutable}",
                        f'Invalid value: "{given}": field is immutable',
                    )
                ],
            )
    # Immutable and server-managed fields always come from the stored object.
    for key in (
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ):
        if key in old_metadata:
            metadata[key] = old_metadata[key]
        else:
            metadata.pop(key, None)
    metadata.pop("managedFields", None)
    metadata.pop("selfLink", None)
    if old_metadata.get("deletionTimestamp"):
        added = set(metadata.get("finalizers") or []) - set(old_metadata.get("finalizers") or [])
        if added:
            raise errors.invalid(
                kind=info.kind,
                name=name,
                group=info.group,
                causes=[
                    Cause(
                        "metadata.finalizers",
                        "Forbidden: no new finalizers can be added if the object is being "
                        f"deleted, found new finalizers {sorted(added)}",
                        "FieldValueForbidden",
                    )
                ],
            )

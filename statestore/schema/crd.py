"""What kube-apiserver fills in and refuses in a CustomResourceDefinition itself."""

from __future__ import annotations

from typing import Any, Final

from statestore.errors import Cause
from statestore.schema import formats, jsonvalues, messages, structural


def crd_defaults(crd: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``crd`` with what kube-apiserver fills in (SetDefaults_CustomResourceDefinition).

    ``names.singular`` = lower-case kind, ``names.listKind`` = kind + "List",
    ``conversion.strategy`` = None, ``scope`` = Namespaced. ``served``/``storage`` stay as given.
    """
    out: dict[str, Any] = jsonvalues.copy(crd)
    spec = out.get("spec")
    if not isinstance(spec, dict):
        return out
    names = spec.get("names")
    if isinstance(names, dict):
        kind = names.get("kind")
        if isinstance(kind, str) and kind:
            if not names.get("singular"):
                names["singular"] = kind.lower()
            if not names.get("listKind"):
                names["listKind"] = kind + "List"
    if not spec.get("scope"):
        spec["scope"] = "Namespaced"
    if not isinstance(spec.get("conversion"), dict):
        spec["conversion"] = {"strategy": "None"}
    elif not spec["conversion"].get("strategy"):
        spec["conversion"]["strategy"] = "None"
    return out


_PRINTER_TYPES: Final = ("boolean", "date", "integer", "number", "string")
_PRINTER_FORMATS: Final = (
    "byte",
    "date",
    "date-time",
    "double",
    "float",
    "int32",
    "int64",
    "password",
)
_ROOT_STATUS_KEYS: Final = frozenset(
    {
        "description",
        "type",
        "format",
        "title",
        "maximum",
        "exclusiveMaximum",
        "minimum",
        "exclusiveMinimum",
        "maxLength",
        "minLength",
        "pattern",
        "maxItems",
        "minItems",
        "uniqueItems",
        "multipleOf",
        "required",
        "items",
        "properties",
        "externalDocs",
        "example",
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-validations",
    }
)
_DNS1123_MSG: Final = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_DNS1035_MSG: Final = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
    "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)


def _dns1123_subdomain_errors(value: str) -> list[str]:
    errors = []
    if len(value) > 253:
        errors.append("must be no more than 253 characters")
    if not formats.DNS1123_SUBDOMAIN_RE.match(value):
        errors.append(_DNS1123_MSG)
    return errors


def _dns1035_errors(value: str) -> list[str]:
    errors = []
    if len(value) > 63:
        errors.append("must be no more than 63 characters")
    if not formats.DNS1035_LABEL_RE.match(value):
        errors.append(_DNS1035_MSG)
    return errors


def validate_crd(crd: dict[str, Any]) -> list[Cause]:
    """What kube-apiserver refuses in a CustomResourceDefinition (after :func:`crd_defaults`)."""
    causes: list[Cause] = []
    if not isinstance(crd, dict):
        return [
            messages.invalid(
                "", jsonvalues.json_type(crd), "must be an object", messages.TYPE_INVALID
            )
        ]
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        causes.append(messages.required("spec"))
        spec = {}
    names = spec.get("names")
    if not isinstance(names, dict):
        names = {}
    group = spec.get("group")
    group = group if isinstance(group, str) else ""
    plural = names.get("plural")
    plural = plural if isinstance(plural, str) else ""
    _validate_crd_name(crd.get("metadata"), plural, group, causes)
    _validate_group(group, causes)
    _validate_scope(spec.get("scope"), causes)
    _validate_names(names, causes)
    _validate_versions(spec.get("versions"), causes)
    _validate_conversion(spec.get("conversion"), causes)
    return causes


def _validate_crd_name(metadata: Any, plural: str, group: str, causes: list[Cause]) -> None:
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if not isinstance(name, str) or not name:
        causes.append(messages.required("metadata.name", "name or generateName is required"))
        return
    errors = _dns1123_subdomain_errors(name)
    if name != f"{plural}.{group}":
        errors.append('must be spec.names.plural+"."+spec.group')
    for error in errors:
        causes.append(messages.invalid("metadata.name", name, error))


def _validate_group(group: str, causes: list[Cause]) -> None:
    if not group:
        causes.append(messages.required("spec.group"))
    elif errors := _dns1123_subdomain_errors(group):
        causes.append(messages.invalid("spec.group", group, ",".join(errors)))
    elif "." not in group:
        causes.append(
            messages.invalid("spec.group", group, "should be a domain with at least one dot")
        )


def _validate_scope(scope: Any, causes: list[Cause]) -> None:
    if not scope:
        causes.append(messages.required("spec.scope"))
    elif scope not in ("Cluster", "Namespaced"):
        causes.append(messages.not_supported("spec.scope", scope, ["Cluster", "Namespaced"]))


def _validate_names(names: dict[str, Any], causes: list[Cause]) -> None:
    for key in ("plural", "singular", "kind", "listKind"):
        value = names.get(key)
        path = f"spec.names.{key}"
        if not isinstance(value, str) or not value:
            causes.append(messages.required(path))
            continue
        if key in ("plural", "singular"):
            if errors := _dns1035_errors(value):
                causes.append(messages.invalid(path, value, ",".join(errors)))
        elif errors := _dns1035_errors(value.lower()):
            causes.append(
                messages.invalid(
                    path,
                    value,
                    "may have mixed case, but should otherwise match: " + ",".join(errors),
                )
            )
    kind, list_kind = names.get("kind"), names.get("listKind")
    if isinstance(kind, str) and kind and kind == list_kind:
        causes.append(
            messages.invalid(
                "spec.names.listKind", list_kind, "kind and listKind may not be the same"
            )
        )
    for key in ("shortNames", "categories"):
        values = names.get(key)
        if values is None:
            continue
        if not isinstance(values, list):
            causes.append(
                messages.invalid(
                    f"spec.names.{key}", values, "must be a list of strings", messages.TYPE_INVALID
                )
            )
            continue
        for i, value in enumerate(values):
            errors = _dns1035_errors(value) if isinstance(value, str) else ["must be a string"]
            if errors:
                causes.append(messages.invalid(f"spec.names.{key}[{i}]", value, ",".join(errors)))


def _validate_versions(versions: Any, causes: list[Cause]) -> None:
    if not isinstance(versions, list) or not versions:
        causes.append(
            messages.required(
                "spec.versions", "must have exactly one version marked as storage version"
            )
        )
        return
    seen: set[str] = set()
    storage = 0
    for i, version in enumerate(versions):
        path = f"spec.versions[{i}]"
        if not isinstance(version, dict):
            causes.append(
                messages.invalid(path, version, "must be an object", messages.TYPE_INVALID)
            )
            continue
        name = version.get("name")
        if not isinstance(name, str) or not name:
            causes.append(messages.required(f"{path}.name"))
        else:
            if errors := _dns1035_errors(name):
                causes.append(messages.invalid(f"{path}.name", name, ",".join(errors)))
            if name in seen:
                causes.append(
                    messages.invalid("spec.versions", name, "must contain unique version names")
                )
            seen.add(name)
        if version.get("storage") is True:
            storage += 1
        _validate_version(version, path, causes)
    if storage != 1:
        causes.append(
            messages.invalid(
                "spec.versions", storage, "must have exactly one version marked as storage version"
            )
        )


def _validate_version(version: dict[str, Any], path: str, causes: list[Cause]) -> None:
    subresources = version.get("subresources")
    has_status = isinstance(subresources, dict) and "status" in subresources
    if subresources is not None:
        _validate_subresources(subresources, f"{path}.subresources", causes)
    schema_holder = version.get("schema")
    schema = schema_holder.get("openAPIV3Schema") if isinstance(schema_holder, dict) else None
    schema_path = f"{path}.schema.openAPIV3Schema"
    if not isinstance(schema, dict):
        causes.append(messages.required(schema_path))
    else:
        _validate_root_schema(schema, schema_path, has_status, causes)
    columns = version.get("additionalPrinterColumns")
    if isinstance(columns, list):
        for i, column in enumerate(columns):
            _validate_column(column, f"{path}.additionalPrinterColumns[{i}]", causes)
    elif columns is not None:
        causes.append(
            messages.invalid(
                f"{path}.additionalPrinterColumns", columns, "must be a list", messages.TYPE_INVALID
            )
        )


def _validate_subresources(subresources: Any, path: str, causes: list[Cause]) -> None:
    if not isinstance(subresources, dict):
        causes.append(
            messages.invalid(path, subresources, "must be an object", messages.TYPE_INVALID)
        )
        return
    status = subresources.get("status")
    if "status" in subresources and not isinstance(status, dict):
        causes.append(
            messages.invalid(f"{path}.status", status, "must be an object", messages.TYPE_INVALID)
        )
    scale = subresources.get("scale")
    if isinstance(scale, dict):
        for key, under in (("specReplicasPath", ".spec."), ("statusReplicasPath", ".status.")):
            value = scale.get(key)
            if not isinstance(value, str) or not value:
                causes.append(messages.required(f"{path}.scale.{key}"))
            elif not value.startswith(under):
                causes.append(
                    messages.invalid(
                        f"{path}.scale.{key}", value, f"should be a json path under {under[:-1]}"
                    )
                )


def _validate_column(column: Any, path: str, causes: list[Cause]) -> None:
    if not isinstance(column, dict):
        causes.append(messages.invalid(path, column, "must be an object", messages.TYPE_INVALID))
        return
    if not column.get("name"):
        causes.append(messages.required(f"{path}.name"))
    kind = column.get("type")
    allowed = ",".join(_PRINTER_TYPES)
    if not kind:
        causes.append(messages.required(f"{path}.type", f"must be one of {allowed}"))
    elif kind not in _PRINTER_TYPES:
        causes.append(messages.invalid(f"{path}.type", kind, f"must be one of {allowed}"))
    fmt = column.get("format")
    if fmt and fmt not in _PRINTER_FORMATS:
        causes.append(
            messages.invalid(f"{path}.format", fmt, f"must be one of {','.join(_PRINTER_FORMATS)}")
        )
    json_path = column.get("jsonPath")
    if not isinstance(json_path, str) or not json_path:
        causes.append(messages.required(f"{path}.jsonPath"))
    elif not json_path.startswith("."):
        causes.append(
            messages.invalid(
                f"{path}.jsonPath", json_path, "must be a simple json path starting with ."
            )
        )
    else:
        from statestore import jsonpath  # local: jsonpath is a sibling leaf module

        try:
            jsonpath.compile_path(json_path)
        except jsonpath.JSONPathError as exc:
            causes.append(
                messages.invalid(f"{path}.jsonPath", json_path, f"is an invalid path: {exc}")
            )


def _validate_conversion(conversion: Any, causes: list[Cause]) -> None:
    if not isinstance(conversion, dict):
        return
    strategy = conversion.get("strategy")
    if not strategy:
        causes.append(messages.required("spec.conversion.strategy"))
    elif strategy not in ("None", "Webhook"):
        causes.append(
            messages.not_supported("spec.conversion.strategy", strategy, ["None", "Webhook"])
        )


def _validate_root_schema(
    schema: dict[str, Any], path: str, has_status: bool, causes: list[Cause]
) -> None:
    if has_status:
        if schema.get("type", "object") != "object":
            causes.append(
                messages.invalid(
                    f"{path}.type",
                    schema.get("type"),
                    'only "object" is allowed '
                    "as the type at the root of the schema if the status "
                    "subresource is enabled",
                )
            )
        extra = sorted(k for k in schema if k not in _ROOT_STATUS_KEYS)
        if extra:
            causes.append(
                messages.invalid(
                    path,
                    "",
                    f"only {sorted(_ROOT_STATUS_KEYS)} fields are "
                    "allowed at the root of the schema if the status subresource "
                    f"is enabled (found {extra})",
                )
            )
    if schema.get("nullable") is True:
        causes.append(messages.forbidden(f"{path}.nullable", "nullable cannot be true at the root"))
    if "type" in schema and schema.get("type") != "object":
        causes.append(
            messages.invalid(f"{path}.type", schema.get("type"), "must be object at the root")
        )
    if "additionalProperties" in schema:
        causes.append(
            messages.forbidden(f"{path}.additionalProperties", "must not be used at the root")
        )
    metadata = (schema.get("properties") or {}).get("metadata")
    if isinstance(metadata, dict):
        _validate_root_metadata(
            metadata, structural.key_path(f"{path}.properties", "metadata"), causes
        )
    structural.SchemaChecker(causes).node(schema, path, structural.Level.ROOT, meta=False)


def _validate_root_metadata(schema: dict[str, Any], path: str, causes: list[Cause]) -> None:
    """At the root, metadata may only restrict name and generateName."""
    if schema.get("type", "object") != "object":
        causes.append(messages.invalid(f"{path}.type", schema.get("type"), "must be object"))
    rest = {k: v for k, v in schema.items() if k not in ("type", "properties", "description")}
    props = schema.get("properties") or {}
    extra_props = set(props) - {"name", "generateName"} if isinstance(props, dict) else {"?"}
    if rest or extra_props:
        causes.append(
            messages.forbidden(
                path,
                "must not specify anything other than name and "
                "generateName, but metadata is implicitly specified",
            )
        )

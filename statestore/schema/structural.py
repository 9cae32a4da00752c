"""Structural-schema rules of a CRD's openAPIV3Schema (apiextensions validation and
``schema.ValidateStructural``)."""

from __future__ import annotations

from typing import Any, Final

from statestore import cel
from statestore.errors import Cause
from statestore.schema import compiler, formats, messages, pruning

_OPENAPI_TYPES: Final = ("array", "boolean", "integer", "number", "object", "string")
_UNSUPPORTED_KEYWORDS: Final = (
    ("id", "id is not supported"),
    ("additionalItems", "additionalItems is not supported"),
    ("patternProperties", "patternProperties is not supported"),
    ("definitions", "definitions is not supported"),
    ("dependencies", "dependencies is not supported"),
    ("$ref", "$ref is not supported"),
)
#: Keywords a structural schema forbids inside allOf/anyOf/oneOf/not, with the k8s wording.
_NESTED_FORBIDDEN: Final = (
    ("type", "must be empty to be structural"),
    ("default", "must be undefined to be structural"),
    ("title", "must be empty to be structural"),
    ("description", "must be empty to be structural"),
    ("nullable", "must be false to be structural"),
    ("x-kubernetes-preserve-unknown-fields", "must be false to be structural"),
    ("x-kubernetes-embedded-resource", "must be false to be structural"),
    ("x-kubernetes-int-or-string", "must be false to be structural"),
    ("x-kubernetes-list-map-keys", "must be empty to be structural"),
    ("x-kubernetes-list-type", "must be undefined to be structural"),
    ("x-kubernetes-map-type", "must be undefined to be structural"),
    ("x-kubernetes-validations", "must be empty to be structural"),
    ("additionalProperties", "must be undefined to be structural"),
)


def key_path(path: str, key: str) -> str:
    return f"{path}[{key}]"


class Level:
    ROOT = "root"
    ITEM = "item"
    FIELD = "field"


_EMPTY_TYPE_DETAIL: Final = {
    Level.ROOT: "must not be empty at the root",
    Level.ITEM: "must not be empty for specified array items",
    Level.FIELD: "must not be empty for specified object fields",
}


class SchemaChecker:
    """Structural-schema rules (apiextensions validation + schema.ValidateStructural)."""

    def __init__(self, causes: list[Cause]) -> None:
        self.causes = causes

    def add(self, cause: Cause) -> None:
        self.causes.append(cause)

    def node(self, schema: Any, path: str, level: str, *, meta: bool) -> None:
        if not isinstance(schema, dict):
            self.add(messages.invalid(path, schema, "must be an object", messages.TYPE_INVALID))
            return
        self.keywords(schema, path, meta)
        self.structure(schema, path, level)
        self.extensions(schema, path)
        self.default(schema, path, meta)
        self.children(schema, path, level, meta)
        for junctor in ("allOf", "anyOf", "oneOf"):
            branches = schema.get(junctor)
            if isinstance(branches, list):
                if junctor == "anyOf" and _is_int_or_string_pattern(branches):
                    continue
                for i, branch in enumerate(branches):
                    self.nested(branch, f"{path}.{junctor}[{i}]")
        if "not" in schema:
            self.nested(schema["not"], f"{path}.not")

    def keywords(self, schema: dict[str, Any], path: str, meta: bool) -> None:
        kind = schema.get("type")
        if kind == "null":
            self.add(
                messages.forbidden(
                    f"{path}.type", "type cannot be set to null, use nullable as an alternative"
                )
            )
        elif kind is not None and kind not in _OPENAPI_TYPES:
            self.add(messages.not_supported(f"{path}.type", kind, _OPENAPI_TYPES))
        for key, detail in _UNSUPPORTED_KEYWORDS:
            if key in schema:
                self.add(messages.forbidden(f"{path}.{key}", detail))
        if isinstance(schema.get("items"), list):
            self.add(
                messages.forbidden(
                    f"{path}.items", "items must be a schema object and not an array"
                )
            )
        if schema.get("uniqueItems") is True:
            self.add(
                messages.forbidden(
                    f"{path}.uniqueItems",
                    "uniqueItems cannot be set to true since "
                    "the runtime complexity becomes quadratic",
                )
            )
        if meta and schema.get("x-kubernetes-embedded-resource") is True:
            self.add(
                messages.forbidden(
                    f"{path}.x-kubernetes-embedded-resource",
                    "must not be used inside of resource meta",
                )
            )
        pattern = schema.get("pattern")
        if isinstance(pattern, str) and formats.compile_pattern(pattern) is None:
            self.add(
                messages.invalid(
                    f"{path}.pattern", pattern, "must be a valid regular expression, but isn't"
                )
            )
        if "additionalProperties" in schema and schema.get("properties"):
            additional = schema["additionalProperties"]
            if additional is not True:
                self.add(
                    messages.forbidden(
                        f"{path}.additionalProperties",
                        "additionalProperties and properties are mutual exclusive",
                    )
                )

    def structure(self, schema: dict[str, Any], path: str, level: str) -> None:
        for index, validation in enumerate(schema.get("x-kubernetes-validations") or ()):
            rule = validation.get("rule") if isinstance(validation, dict) else None
            where = f"{path}.x-kubernetes-validations[{index}].rule"
            if not isinstance(rule, str) or not rule:
                self.add(messages.required(where))
                continue
            try:
                cel.compile_rule(rule)
            except cel.RuleError as error:
                self.add(messages.invalid(where, rule, str(error)))
        kind = schema.get("type")
        int_or_string = schema.get("x-kubernetes-int-or-string") is True
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
        embedded = schema.get("x-kubernetes-embedded-resource") is True
        if embedded and kind != "object":
            if not kind:
                self.add(
                    messages.required(
                        f"{path}.type", "must be object if x-kubernetes-embedded-resource is true"
                    )
                )
            else:
                self.add(
                    messages.invalid(
                        f"{path}.type",
                        kind,
                        "must be object if x-kubernetes-embedded-resource is true",
                    )
                )
        elif not kind and not int_or_string and not preserve:
            self.add(messages.required(f"{path}.type", _EMPTY_TYPE_DETAIL[level]))
        if kind == "array" and not isinstance(schema.get("items"), dict):
            self.add(messages.required(f"{path}.items", "must be specified"))
        if embedded and "additionalProperties" in schema:
            self.add(
                messages.forbidden(
                    f"{path}.additionalProperties",
                    "must not be used if x-kubernetes-embedded-resource is set",
                )
            )
        if embedded and not preserve and not schema.get("properties"):
            self.add(
                messages.required(
                    f"{path}.properties",
                    "must not be empty if "
                    "x-kubernetes-embedded-resource is true without "
                    "x-kubernetes-preserve-unknown-fields",
                )
            )

    def extensions(self, schema: dict[str, Any], path: str) -> None:
        preserve = schema.get("x-kubernetes-preserve-unknown-fields")
        if preserve is not None and preserve is not True:
            self.add(
                messages.invalid(
                    f"{path}.x-kubernetes-preserve-unknown-fields",
                    preserve,
                    "must be true or undefined",
                )
            )
        if schema.get("x-kubernetes-int-or-string") is True:
            if preserve is True:
                self.add(
                    messages.invalid(
                        f"{path}.x-kubernetes-preserve-unknown-fields",
                        True,
                        "must be false if x-kubernetes-int-or-string is true",
                    )
                )
            if schema.get("x-kubernetes-embedded-resource") is True:
                self.add(
                    messages.invalid(
                        f"{path}.x-kubernetes-embedded-resource",
                        True,
                        "must be false if x-kubernetes-int-or-string is true",
                    )
                )
        self.list_type(schema, path)

    def list_type(self, schema: dict[str, Any], path: str) -> None:
        list_type = schema.get("x-kubernetes-list-type")
        keys = schema.get("x-kubernetes-list-map-keys")
        if list_type is not None:
            if schema.get("type") != "array":
                self.add(
                    messages.invalid(
                        f"{path}.type",
                        schema.get("type"),
                        "must be array if x-kubernetes-list-type is specified",
                    )
                )
            if list_type not in ("atomic", "set", "map"):
                self.add(
                    messages.not_supported(
                        f"{path}.x-kubernetes-list-type", list_type, ["atomic", "set", "map"]
                    )
                )
        if keys and list_type != "map":
            self.add(
                messages.invalid(
                    f"{path}.x-kubernetes-list-type",
                    list_type,
                    "must be map if x-kubernetes-list-map-keys is non-empty",
                )
            )
        if list_type != "map":
            return
        if not isinstance(keys, list) or not keys:
            self.add(
                messages.required(
                    f"{path}.x-kubernetes-list-map-keys",
                    "must not be empty if x-kubernetes-list-type is map",
                )
            )
            return
        items = schema.get("items")
        if not isinstance(items, dict) or items.get("type") != "object":
            self.add(
                messages.invalid(
                    f"{path}.items.type",
                    items.get("type") if isinstance(items, dict) else None,
                    "must be object if parent array's x-kubernetes-list-type is map",
                )
            )
            return
        props = items.get("properties") or {}
        required = items.get("required") or []
        if len(set(keys)) != len(keys):
            self.add(
                messages.invalid(
                    f"{path}.x-kubernetes-list-map-keys", keys, "must not contain duplicate entries"
                )
            )
        for key in keys:
            prop = props.get(key) if isinstance(props, dict) else None
            prop_path = key_path(f"{path}.items.properties", str(key))
            if not isinstance(prop, dict):
                self.add(
                    messages.invalid(
                        f"{path}.x-kubernetes-list-map-keys",
                        keys,
                        "entries must all be names of item properties",
                    )
                )
                continue
            if prop.get("type") in ("array", "object"):
                self.add(
                    messages.invalid(
                        f"{prop_path}.type",
                        prop.get("type"),
                        "must be a scalar type if parent array's x-kubernetes-list-type is map",
                    )
                )
            if key not in required and "default" not in prop:
                self.add(
                    messages.required(
                        f"{prop_path}.default",
                        "this property is in "
                        "x-kubernetes-list-map-keys, so it must have a default or be "
                        "a required property",
                    )
                )

    def default(self, schema: dict[str, Any], path: str, meta: bool) -> None:
        if "default" not in schema:
            return
        if meta:
            self.add(messages.forbidden(f"{path}.default", "must not be set in top-level metadata"))
            return
        default = schema["default"]
        node = compiler.compile_node(schema)
        walk = pruning.Walk()
        walk.value(default, node, "", node.preserve)
        where = f"{path}.default"
        if walk.unknown:
            self.add(messages.invalid(where, default, "must not have unknown fields"))
        for cause in walk.causes:
            self.add(
                Cause(
                    f"{where}.{cause.field}" if cause.field else where, cause.message, cause.reason
                )
            )

    def children(self, schema: dict[str, Any], path: str, level: str, meta: bool) -> None:
        props = schema.get("properties")
        if isinstance(props, dict):
            for name, prop in props.items():
                if level == Level.ROOT and name == "metadata":
                    continue  # checked by _validate_root_metadata
                # Defaults are forbidden in the TypeMeta fields at the root.
                child_meta = meta or (level == Level.ROOT and name in pruning.META_KEYS)
                self.node(prop, key_path(f"{path}.properties", name), Level.FIELD, meta=child_meta)
        elif props is not None:
            self.add(
                messages.invalid(
                    f"{path}.properties", props, "must be an object", messages.TYPE_INVALID
                )
            )
        additional = schema.get("additionalProperties")
        if isinstance(additional, dict):
            self.node(additional, f"{path}.additionalProperties", Level.FIELD, meta=meta)
        items = schema.get("items")
        if isinstance(items, dict):
            self.node(items, f"{path}.items", Level.ITEM, meta=meta)

    def nested(self, schema: Any, path: str) -> None:
        """allOf/anyOf/oneOf/not: value validation only, nothing that shapes the object."""
        if not isinstance(schema, dict):
            self.add(messages.invalid(path, schema, "must be an object", messages.TYPE_INVALID))
            return
        for key, detail in _NESTED_FORBIDDEN:
            if key in schema and schema[key] not in (False, None, "", [], {}):
                self.add(messages.forbidden(f"{path}.{key}", detail))
        props = schema.get("properties")
        if isinstance(props, dict):
            if "metadata" in props:
                self.add(
                    messages.forbidden(
                        key_path(f"{path}.properties", "metadata"),
                        "must not be specified in a nested context",
                    )
                )
            for name, prop in props.items():
                self.nested(prop, key_path(f"{path}.properties", name))
        if isinstance(schema.get("items"), dict):
            self.nested(schema["items"], f"{path}.items")
        for junctor in ("allOf", "anyOf", "oneOf"):
            branches = schema.get(junctor)
            if isinstance(branches, list):
                for i, branch in enumerate(branches):
                    self.nested(branch, f"{path}.{junctor}[{i}]")
        if "not" in schema:
            self.nested(schema["not"], f"{path}.not")


def _is_int_or_string_pattern(branches: list[Any]) -> bool:
    """The anyOf [{type: integer}, {type: string}] that int-or-string fields may carry."""
    return [b for b in branches if isinstance(b, dict)] == [{"type": "integer"}, {"type": "string"}]

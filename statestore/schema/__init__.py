"""Structural-schema processing of custom resources, as kube-apiserver does it.

On every write the store prunes unknown fields, drops non-nullable nulls, applies defaults and
validates the object against the ``openAPIV3Schema`` of the CRD version (:func:`process`);
:func:`validate_crd` and :func:`crd_defaults` implement what the API server checks and fills on
a ``CustomResourceDefinition`` itself. Messages and field paths follow kube-openapi and
``k8s.io/apimachinery/pkg/util/validation/field`` so that ``kubectl`` users see the errors they
know (``spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer:
"string"``).

The modules, one job each:
- ``messages``: Go value formatting and the ``field.Error`` causes;
- ``jsonvalues``: type names, copy, equality and hash keys of decoded JSON;
- ``formats``: string formats and patterns;
- ``checks``: value validations of one node; ``compiler``: a schema compiled into nodes;
- ``pruning``: the one walk that prunes, defaults and validates;
- ``crd``: CRD defaults and validation; ``structural``: the structural-schema rules.
"""

from statestore.schema.crd import crd_defaults, validate_crd
from statestore.schema.messages import format_value
from statestore.schema.pruning import SchemaResult, process

__all__ = [
    "SchemaResult",
    "crd_defaults",
    "format_value",
    "process",
    "validate_crd",
]

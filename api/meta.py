"""What every WWS resource shares: the API group, the base models, object metadata, conditions.

The models here are plain pydantic and follow two conventions:

- Python attributes are snake_case, YAML/JSON keys camelCase (``code_server`` ↔ ``codeServer``);
  both spellings are accepted on input, :meth:`Model.to_dict` writes camelCase.
- The docstring of a model and the string literal under a field become the ``description`` of
  the generated CRD schema, so they are what ``kubectl explain`` shows. Write them for users.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable
from datetime import datetime
from typing import Any, ClassVar

import pydantic
from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel

from api import formats

GROUP = "wws.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORY = "wws"

READY = "Ready"
"""The condition type that summarises an object's state (what ``kubectl wait`` reads)."""


def list_map(*keys: str) -> dict[str, Any]:
    """Schema extras of a list whose items are merged by ``keys`` (like ``conditions`` by type)."""
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(keys)}


LIST_SET: dict[str, Any] = {"x-kubernetes-list-type": "set"}
"""Schema extras of a list of unique scalars."""

DEFAULT_EMPTY_OBJECT: dict[str, Any] = {"default": {}}
"""Schema extras of a nested object that the API server creates empty so its defaults apply.

NB: Kubernetes applies the defaults of nested fields only when their parent object exists;
``default: {}`` on the parent is what makes ``resources.cpu: "2"`` appear in a stored object.
"""


class Provider(enum.StrEnum):
    """Where a workspace runs: a Podman container or a KVM virtual machine."""

    PODMAN = "podman"
    KVM = "kvm"


class MemberSource(enum.StrEnum):
    """Where an effective member of an organization or team comes from."""

    SPEC = "spec"
    INVITATION = "invitation"
    GITHUB = "github"


USER_PREFIX = "github:"
"""The prefix of a person's Kubernetes user name: ``github:<login>`` (login in lower case)."""


def user_name(login: str) -> str:
    """The Kubernetes user name of a GitHub login, as authentication names people."""
    return USER_PREFIX + login.lower()


def refuse_duplicates(keys: Iterable[str], *, what: str) -> None:
    """``ValueError`` when a key repeats (pydantic's check of a list-map's keys)."""
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise ValueError(f"{what} {key!r} is listed more than once")
        seen.add(key)


class Model(pydantic.BaseModel):
    """Base of the models a user writes (specs): camelCase keys, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_attribute_docstrings=True,
    )

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form with camelCase keys and without unset (``None``) fields."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class StatusModel(Model):
    """Base of the models the controller writes: unknown fields are ignored, not refused.

    NB: readers (the web UI, an older controller) must keep working when a newer controller
    writes a status field they do not know yet.
    """

    model_config = ConfigDict(extra="ignore")


class ObjectMeta(pydantic.BaseModel):
    """The ``metadata`` of a Kubernetes object; fields not listed here are kept as they are."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    name: str = ""
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: datetime | None = None
    deletion_timestamp: datetime | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    finalizers: list[str] = Field(default_factory=list)


class GitHubMembers(StatusModel):
    """The members last read from GitHub; they stay in force while GitHub cannot be read."""

    last_sync_time: datetime | None = None
    """When the members were last read successfully."""
    members: list[str] = Field(default_factory=list, json_schema_extra=LIST_SET)
    """Their GitHub logins."""


class ConditionStatus(enum.StrEnum):
    """The status of a condition."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(StatusModel):
    """One aspect of the object's state, in the shape of Kubernetes' metav1.Condition."""

    type: formats.ConditionType
    """What this condition is about, in CamelCase (Ready, HomeReady, ContainerReady, ...)."""
    status: ConditionStatus
    """Whether the condition holds: True, False or Unknown."""
    reason: formats.Reason
    """Why the condition has its status, as one CamelCase word (ImageNotFound, Running, ...)."""
    message: str = Field(default="", max_length=32768)
    """What a person should know about the condition, e.g. what to do when it is False."""
    last_transition_time: datetime
    """When the status last changed (not when the condition was last written)."""
    observed_generation: int | None = Field(default=None, ge=0)
    """The ``metadata.generation`` the condition was computed from."""


def find_condition(conditions: Iterable[Condition], type_: str) -> Condition | None:
    """The condition of type ``type_``, or ``None`` when it has not been reported yet."""
    return next((condition for condition in conditions if condition.type == type_), None)


@dataclasses.dataclass(frozen=True, kw_only=True)
class PrinterColumn:
    """A column that ``kubectl get`` shows (a CRD ``additionalPrinterColumns`` entry)."""

    name: str
    type: str
    json_path: str
    description: str
    priority: int = 0
    """0: always shown; 1: only with ``kubectl get -o wide``."""
    format: str = ""


AGE = PrinterColumn(
    name="Age",
    type="date",
    json_path=".metadata.creationTimestamp",
    description="Time since the object was created.",
)
READY_COLUMN = PrinterColumn(
    name="Ready",
    type="string",
    json_path='.status.conditions[?(@.type=="Ready")].status',
    description="Status of the Ready condition.",
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ResourceInfo:
    """How a kind is named and shown by the API server (the ``names`` etc. of its CRD)."""

    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...]
    printer_columns: tuple[PrinterColumn, ...]
    categories: tuple[str, ...] = (CATEGORY,)

    @property
    def crd_name(self) -> str:
        """``plural.group``, the name of the CustomResourceDefinition."""
        return f"{self.plural}.{GROUP}"


class Resource(pydantic.BaseModel):
    """Base of a whole object (apiVersion, kind, metadata, spec, status).

    Subclasses declare ``kind``, ``spec`` and ``status``, and describe themselves in
    ``RESOURCE``. Parse what the API server returns with ``Workspace.model_validate(obj)``;
    fields that are not part of the schema (``metadata.managedFields``, ...) are kept.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        use_attribute_docstrings=True,
    )

    RESOURCE: ClassVar[ResourceInfo]

    api_version: str = API_VERSION
    """The version of the schema this object follows: ``wws.dev/v1alpha1``."""
    kind: str = ""
    """The kind of the object; subclasses narrow it to their own."""
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    """Standard object metadata: name, namespace, labels, annotations, ..."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form with camelCase keys and without unset (``None``) fields."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

"""The controller's own copy of every Workspace, as the last watch event showed it: what a
listing of the runtime is compared with, and what a runtime change or a Secret is matched
to. An entry keeps the object as compact JSON (about 1.5 kB; a parsed model is ten times
that, 24 MB for 1,000) plus the few fields matched on every event; the model is parsed when
a listing needs it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import orjson

from api import meta
from api.workspace import Workspace
from reconcilers import workspace


@dataclasses.dataclass(frozen=True, slots=True)
class Cached:
    """One Workspace of the cache."""

    namespace: str
    name: str
    provider: str
    deleting: bool
    secrets: frozenset[str]
    """The Secrets it reads: ``<name>-code-server`` and ``spec.github.tokenSecretRef``'s."""
    raw: bytes = dataclasses.field(repr=False)

    def model(self) -> Workspace:
        """The Workspace (raises ``pydantic.ValidationError`` as ``model_validate`` does)."""
        return Workspace.model_validate_json(self.raw)


#: Prefix of the annotations kopf keeps on every object (its diff base: a copy of the spec).
_KOPF_ANNOTATIONS = "kopf."


def _kept(body: Mapping[str, Any]) -> dict[str, Any]:
    """What the model needs of ``body``: kopf's own annotations (a second copy of the spec)
    and ``managedFields`` left out."""
    kept = dict(body)
    metadata = dict(kept.get("metadata") or {})
    metadata.pop("managedFields", None)
    annotations = metadata.get("annotations") or {}
    if any(key.startswith(_KOPF_ANNOTATIONS) for key in annotations):
        metadata["annotations"] = {
            key: value
            for key, value in annotations.items()
            if not key.startswith(_KOPF_ANNOTATIONS)
        }
    kept["metadata"] = metadata
    return kept


def entry(body: Mapping[str, Any]) -> Cached:
    """The cache entry of a Workspace's body as a watch delivers it."""
    metadata = body.get("metadata") or {}
    spec = body.get("spec") or {}
    name = str(metadata.get("name") or "")
    secrets = {workspace.code_server_secret_name(name)}
    github = (spec.get("github") or {}).get("tokenSecretRef") or {}
    if github.get("name"):
        secrets.add(str(github["name"]))
    return Cached(
        namespace=str(metadata.get("namespace") or ""),
        name=name,
        provider=str(spec.get("provider") or meta.Provider.PODMAN.value),
        deleting=metadata.get("deletionTimestamp") is not None,
        secrets=frozenset(secrets),
        raw=orjson.dumps(_kept(body)),
    )

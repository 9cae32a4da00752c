"""Applying WWS's shipped manifests (``deploy/access/``, ``deploy/webui/``) to an API server,
as ``kubectl apply -f`` would: create, or replace what exists. ``wws up`` does it at start
with the administrator's kubeconfig, so the embedded store enforces the same roles and
policies a cluster would get from the same files."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from kubernetes import config, dynamic
from kubernetes.client import exceptions

import deploy
from wws import logconfig

log = logconfig.get(__name__)

#: Shipped with wws as package data, so an installed wheel applies them too.
SHIPPED = (deploy.folder("controller"), deploy.folder("access"), deploy.folder("webui"))


def documents(folders: Iterable[Path]) -> list[dict[str, Any]]:
    """Every object of every ``*.yaml`` file in ``folders`` (in file order)."""
    found: list[dict[str, Any]] = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.yaml")):
            found.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return found


def apply(kubeconfig: Path, objects: Iterable[dict[str, Any]]) -> list[str]:
    """Create or replace each object; the ones that could not be applied, with why (a kind
    the API server does not serve is skipped, not an error)."""
    api_client = config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig)
    )
    api = dynamic.DynamicClient(api_client)  # type: ignore[no-untyped-call]
    failed: list[str] = []
    for obj in objects:
        what = f"{obj['kind']} {obj['metadata']['name']}"
        try:
            resource = api.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        except dynamic.exceptions.ResourceNotFoundError:
            failed.append(f"{what}: {obj['apiVersion']} is not served")
            continue
        namespace = obj["metadata"].get("namespace")
        try:
            resource.create(body=obj, namespace=namespace)
        except exceptions.ApiException as error:
            if error.status != 409:
                failed.append(f"{what}: {error.status} {error.reason}")
                continue
            current = resource.get(name=obj["metadata"]["name"], namespace=namespace)
            body = {**obj, "metadata": {**obj["metadata"]}}
            body["metadata"]["resourceVersion"] = current.metadata.resourceVersion
            try:
                resource.replace(body=body, namespace=namespace)
            except exceptions.ApiException as again:
                failed.append(f"{what}: {again.status} {again.reason}")
    return failed


def apply_shipped(kubeconfig: Path) -> list[str]:
    """Apply ``deploy/access`` and ``deploy/webui``; what could not be applied."""
    failed = apply(kubeconfig, documents(SHIPPED))
    for line in failed:
        log.warning("manifest not applied", detail=line)
    return failed

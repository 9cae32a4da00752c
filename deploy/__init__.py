"""Manifests WWS ships for an API server: ``access/`` (ClusterRoles, admission policies) and
``webui/`` (the UI identity's rights). The Helm chart and kustomize read the folders; an
installed ``wws`` finds them here as package data (``wws up`` applies them)."""

from __future__ import annotations

import importlib.resources
from pathlib import Path


def folder(name: str) -> Path:
    """``deploy/<name>``. NB: a real folder (wws is installed as files, never zipped)."""
    return Path(str(importlib.resources.files(__name__) / name))

"""The CustomResourceDefinitions of WWS's API (``*.wws.dev.yaml``), generated from ``api/``
by ``wws crds generate``. Shipped as package data, so an installed ``wws`` applies them
(``wws store serve --wws-crds``, ``wws up``) without a checkout."""

from __future__ import annotations

import importlib.resources
from pathlib import Path


def folder() -> Path:
    """The folder of the CRD files. NB: a real folder (wws is installed as files, never
    zipped): the store and ``wws crds generate --check`` read it by path."""
    return Path(str(importlib.resources.files(__name__)))

"""The Podman provider: workspaces as Podman containers, driven through the REST API."""

from providers.podman.provider import PodmanProvider

__all__ = ["PodmanProvider"]

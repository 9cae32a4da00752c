"""The one error of an image build: which step failed and why (with the log's path)."""

from __future__ import annotations


class ImageBuildError(RuntimeError):
    """The image could not be built; the message says which step failed and why."""

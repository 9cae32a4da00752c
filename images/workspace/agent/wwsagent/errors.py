"""The one error a step raises: its message goes to the report (never a secret)."""

from __future__ import annotations


class StepError(Exception):
    """A step failed; the message is for the report (no secrets)."""

"""WWS — Winmutt's Work Spaces. Cross-cutting pieces: the CLI, logging, ``wws up``."""

__version__ = "0.1.0"

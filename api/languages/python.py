"""Python: the interpreter with venv and pip."""

from api.languages import Definition

DEFINITION = Definition(
    name="python",
    description="CPython with venv and pip",
    versions=("3.11",),
)

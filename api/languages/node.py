"""Node.js with npm."""

from api.languages import Definition

DEFINITION = Definition(
    name="node",
    description="Node.js with npm",
    versions=("20",),
)

"""Rust: rustc with cargo."""

from api.languages import Definition

DEFINITION = Definition(
    name="rust",
    description="rustc with cargo",
    versions=("1.63",),
)

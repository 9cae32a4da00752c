"""Go: the toolchain (go build, go test, modules)."""

from api.languages import Definition

DEFINITION = Definition(
    name="go",
    description="the Go toolchain",
    versions=("1.19",),
)

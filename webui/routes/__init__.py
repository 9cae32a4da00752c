"""The UI's routes, one explicit table per area."""

"""pydantic models of every WWS resource: the single source of truth for the API."""

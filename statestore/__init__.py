"""The embedded Kubernetes-compatible state store: a generic CRD API server over SQLite."""

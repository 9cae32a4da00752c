"""The audit log: ``audit.k8s.io/v1`` Events as JSON lines, filtered by a kube audit Policy."""

"""RBAC (``rbac.authorization.k8s.io/v1``) evaluated as kube-apiserver's RBAC authorizer does."""

GROUP = "rbac.authorization.k8s.io"

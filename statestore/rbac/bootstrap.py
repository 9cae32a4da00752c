"""The default ClusterRoles and ClusterRoleBindings kube-apiserver creates at start
(bootstrappolicy, testdata/cluster-roles.yaml), limited to what the store can serve and the
roles clients expect to find: cluster-admin, admin/edit/view (aggregated), discovery,
basic-user (self reviews) and public-info-viewer."""

from __future__ import annotations

from typing import Any

import yaml

_ROLES = """
- metadata: {name: cluster-admin}
  rules:
  - {apiGroups: ["*"], resources: ["*"], verbs: ["*"]}
  - {nonResourceURLs: ["*"], verbs: ["*"]}
- metadata: {name: admin}
  aggregationRule:
    clusterRoleSelectors:
    - matchLabels: {rbac.authorization.k8s.io/aggregate-to-admin: "true"}
- metadata:
    name: edit
    labels: {rbac.authorization.k8s.io/aggregate-to-admin: "true"}
  aggregationRule:
    clusterRoleSelectors:
    - matchLabels: {rbac.authorization.k8s.io/aggregate-to-edit: "true"}
- metadata:
    name: view
    labels: {rbac.authorization.k8s.io/aggregate-to-edit: "true"}
  aggregationRule:
    clusterRoleSelectors:
    - matchLabels: {rbac.authorization.k8s.io/aggregate-to-view: "true"}
- metadata:
    name: system:aggregate-to-admin
    labels: {rbac.authorization.k8s.io/aggregate-to-admin: "true"}
  rules:
  - apiGroups: [authorization.k8s.io]
    resources: [localsubjectaccessreviews]
    verbs: [create]
  - apiGroups: [rbac.authorization.k8s.io]
    resources: [rolebindings, roles]
    verbs: [create, delete, deletecollection, get, list, patch, update, watch]
- metadata:
    name: system:aggregate-to-edit
    labels: {rbac.authorization.k8s.io/aggregate-to-edit: "true"}
  rules:
  - apiGroups: [""]
    resources: [pods/attach, pods/exec, pods/portforward, pods/proxy, secrets, services/proxy]
    verbs: [get, list, watch]
  - apiGroups: [""]
    resources: [serviceaccounts]
    verbs: [impersonate]
  - apiGroups: [""]
    resources: [pods, pods/attach, pods/exec, pods/portforward, pods/proxy]
    verbs: [create, delete, deletecollection, patch, update]
  - apiGroups: [""]
    resources: [pods/eviction]
    verbs: [create]
  - apiGroups: [""]
    resources: [configmaps, events, persistentvolumeclaims, replicationcontrollers,
                replicationcontrollers/scale, secrets, serviceaccounts, services, services/proxy]
    verbs: [create, delete, deletecollection, patch, update]
  - apiGroups: [""]
    resources: [serviceaccounts/token]
    verbs: [create]
  - apiGroups: [apps]
    resources: [daemonsets, deployments, deployments/rollback, deployments/scale, replicasets,
                replicasets/scale, statefulsets, statefulsets/scale]
    verbs: [create, delete, deletecollection, patch, update]
  - apiGroups: [batch]
    resources: [cronjobs, jobs]
    verbs: [create, delete, deletecollection, patch, update]
  - apiGroups: [coordination.k8s.io]
    resources: [leases]
    verbs: [create, delete, deletecollection, get, list, patch, update, watch]
- metadata:
    name: system:aggregate-to-view
    labels: {rbac.authorization.k8s.io/aggregate-to-view: "true"}
  rules:
  - apiGroups: [""]
    resources: [configmaps, endpoints, persistentvolumeclaims, persistentvolumeclaims/status,
                pods, replicationcontrollers, replicationcontrollers/scale, serviceaccounts,
                services, services/status]
    verbs: [get, list, watch]
  - apiGroups: [""]
    resources: [bindings, events, limitranges, namespaces/status, pods/log, pods/status,
                replicationcontrollers/status, resourcequotas, resourcequotas/status]
    verbs: [get, list, watch]
  - apiGroups: [""]
    resources: [namespaces]
    verbs: [get, list, watch]
  - apiGroups: [apps]
    resources: [controllerrevisions, daemonsets, daemonsets/status, deployments,
                deployments/scale, deployments/status, replicasets, replicasets/scale,
                replicasets/status, statefulsets, statefulsets/scale, statefulsets/status]
    verbs: [get, list, watch]
  - apiGroups: [batch]
    resources: [cronjobs, cronjobs/status, jobs, jobs/status]
    verbs: [get, list, watch]
- metadata: {name: system:auth-delegator}
  rules:
  - apiGroups: [authentication.k8s.io]
    resources: [tokenreviews]
    verbs: [create]
  - apiGroups: [authorization.k8s.io]
    resources: [subjectaccessreviews]
    verbs: [create]
- metadata: {name: system:basic-user}
  rules:
  - apiGroups: [authorization.k8s.io]
    resources: [selfsubjectaccessreviews, selfsubjectrulesreviews]
    verbs: [create]
  - apiGroups: [authentication.k8s.io]
    resources: [selfsubjectreviews]
    verbs: [create]
- metadata: {name: system:discovery}
  rules:
  - nonResourceURLs: [/api, /api/*, /apis, /apis/*, /healthz, /livez, /openapi, /openapi/*,
                      /readyz, /version, /version/]
    verbs: [get]
- metadata: {name: system:public-info-viewer}
  rules:
  - nonResourceURLs: [/healthz, /livez, /readyz, /version, /version/]
    verbs: [get]
"""

_BINDINGS = """
- metadata: {name: cluster-admin}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
  subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: "system:masters"}]
- metadata: {name: "system:basic-user"}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:basic-user"}
  subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: "system:authenticated"}]
- metadata: {name: "system:discovery"}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:discovery"}
  subjects: [{apiGroup: rbac.authorization.k8s.io, kind: Group, name: "system:authenticated"}]
- metadata: {name: "system:public-info-viewer"}
  roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole,
            name: "system:public-info-viewer"}
  subjects:
  - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: "system:authenticated"}
  - {apiGroup: rbac.authorization.k8s.io, kind: Group, name: "system:unauthenticated"}
"""


def _finish(items: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    for item in items:
        item["apiVersion"] = "rbac.authorization.k8s.io/v1"
        item["kind"] = kind
        metadata = item["metadata"]
        metadata.setdefault("labels", {})["kubernetes.io/bootstrapping"] = "rbac-defaults"
        metadata["annotations"] = {"rbac.authorization.kubernetes.io/autoupdate": "true"}
    return items


def cluster_roles() -> list[dict[str, Any]]:
    return _finish(yaml.safe_load(_ROLES), "ClusterRole")


def cluster_role_bindings() -> list[dict[str, Any]]:
    return _finish(yaml.safe_load(_BINDINGS), "ClusterRoleBinding")

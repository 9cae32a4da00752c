"""Authorization attributes of a request (k8s.io/apiserver's ``authorizer.Attributes``)."""

from __future__ import annotations

from dataclasses import dataclass

from statestore.authn.user import UserInfo


@dataclass(frozen=True)
class Attributes:
    user: UserInfo
    verb: str
    resource_request: bool
    group: str = ""
    version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""

    def forbidden_message(self, reason: str = "") -> str:
        """kube-apiserver's 403 wording (responsewriters.forbiddenMessage + NewForbidden)."""
        username = self.user.username
        if not self.resource_request:
            detail = f'User "{username}" cannot {self.verb} path "{self.path}"'
        else:
            resource = self.resource
            if self.subresource:
                resource = f"{resource}/{self.subresource}"
            if self.namespace:
                detail = (
                    f'User "{username}" cannot {self.verb} resource "{resource}" in API group '
                    f'"{self.group}" in the namespace "{self.namespace}"'
                )
            else:
                detail = (
                    f'User "{username}" cannot {self.verb} resource "{resource}" in API group '
                    f'"{self.group}" at the cluster scope'
                )
        if reason:
            detail = f"{detail}: {reason}"
        detail = detail.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        if not self.resource_request or not self.resource:
            return f"forbidden: {detail}"
        qualified = f"{self.resource}.{self.group}" if self.group else self.resource
        if self.name:
            return f'{qualified} "{self.name}" is forbidden: {detail}'
        return f"{qualified} is forbidden: {detail}"

"""Calls to the API as a person, and the question "may this person do that?".

Nothing about who may do what lives in the UI: it asks the API with a SubjectAccessReview
(RBAC's answer) and, for writes that admission policies also judge ("only your own
workspace"), a server-side dry run of the very write made as the person. The UI shows a
button only when both say yes; the API decides again when the button is used.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from webui.kube import EMAILS_EXTRA, ApiError, Kube, Person
from wws import logconfig

log = logconfig.get(__name__)

SAR_PATH = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
SSAR_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
CACHE_SECONDS = 2.0


class Api:
    """The API as people see it: the UI's identity impersonating them, or, for the
    bootstrap administrator, the admin credentials themselves."""

    def __init__(self, kube: Kube, *, bootstrap: Kube | None = None) -> None:
        self.kube = kube
        self.bootstrap = bootstrap
        self._reviews: dict[tuple[str, str, str], tuple[float, bool]] = {}
        self._no_reviews_logged = False

    async def close(self) -> None:
        await self.kube.close()
        if self.bootstrap is not None:
            await self.bootstrap.close()

    async def call(
        self,
        person: Person,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = "application/json",
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """``method path`` as ``person``; raises :class:`ApiError` as the API answers."""
        if person.bootstrap:
            if self.bootstrap is None:
                raise ApiError(401, {"message": "the bootstrap sign-in is not configured"})
            return await self.bootstrap.request(
                method, path, person=None, body=body, content_type=content_type, params=params
            )
        return await self.kube.request(
            method, path, person=person, body=body, content_type=content_type, params=params
        )

    async def can(
        self,
        person: Person,
        *,
        verb: str,
        resource: str,
        group: str = "wws.dev",
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | None = None,
    ) -> bool:
        """RBAC's answer for ``person`` (cached for a couple of seconds)."""
        attributes: dict[str, str] = {"verb": verb, "group": group, "resource": resource}
        if namespace:
            attributes["namespace"] = namespace
        if name:
            attributes["name"] = name
        if subresource:
            attributes["subresource"] = subresource
        key = (person.username, str(person.bootstrap), json.dumps(attributes, sort_keys=True))
        cached = self._reviews.get(key)
        now = time.monotonic()
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        allowed = await self._review(person, attributes)
        if len(self._reviews) > 10000:
            self._reviews.clear()
        self._reviews[key] = (now, allowed)
        return allowed

    async def may_connect(self, person: Person, namespace: str, name: str) -> bool:
        """Whether ``person`` may open the workspace's editor (``create workspaces/connect``)."""
        return await self.can(
            person,
            verb="create",
            resource="workspaces",
            subresource="connect",
            namespace=namespace,
            name=name,
        )

    async def _review(self, person: Person, attributes: dict[str, str]) -> bool:
        if person.bootstrap:
            body: dict[str, Any] = {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": attributes},
            }
            kube, review_path = self.bootstrap or self.kube, SSAR_PATH
        else:
            spec: dict[str, Any] = {
                "resourceAttributes": attributes,
                "user": person.username,
                "groups": ["system:authenticated"],
            }
            if person.emails:
                spec["extra"] = {EMAILS_EXTRA: list(person.emails)}
            body = {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SubjectAccessReview",
                "spec": spec,
            }
            kube, review_path = self.kube, SAR_PATH
        try:
            answer = await kube.request("POST", review_path, person=None, body=body)
        except ApiError as error:
            if error.status == 404:
                # NB: an API server without access reviews has no authorization either
                # (the embedded store before it learned RBAC): everything is allowed there.
                if not self._no_reviews_logged:
                    log.warning("webui.no_access_reviews", meaning="the API authorizes nothing")
                    self._no_reviews_logged = True
                return True
            raise
        return bool((answer.get("status") or {}).get("allowed"))

    async def dry_run(
        self,
        person: Person,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = "application/merge-patch+json",
    ) -> bool:
        """Whether the API would accept this write from ``person`` (admission included)."""
        try:
            await self.call(
                person, method, path, body=body, content_type=content_type, params={"dryRun": "All"}
            )
        except ApiError as error:
            if error.status in (401, 403, 404, 409, 422):
                return False
            raise
        return True

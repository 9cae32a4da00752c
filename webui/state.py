"""Everything one UI process holds: settings, the API, the live mirror, sessions, the issuer."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from authlib.integrations.starlette_client import StarletteOAuth2App
from starlette.requests import HTTPConnection

from webui import github
from webui.access import Api
from webui.kube import ApiError, Kube, Person, load_credentials, path
from webui.live import Mirror
from webui.oidc import Issuer
from webui.sessions import Session, Sessions
from webui.settings import Settings

ORGS_CACHE_SECONDS = 2.0


class UI:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.kube = Kube(load_credentials(settings.kubeconfig))
        bootstrap = (
            Kube(load_credentials(settings.bootstrap_kubeconfig))
            if settings.bootstrap_kubeconfig is not None
            else None
        )
        self.api = Api(self.kube, bootstrap=bootstrap)
        self.mirror = Mirror(self.kube, self.api)
        self.sessions = Sessions(
            idle_seconds=settings.session_idle_seconds, max_seconds=settings.session_max_seconds
        )
        self.issuer = Issuer(settings.issuer, key_file=settings.signing_key)
        self.github: StarletteOAuth2App | None = (
            github.register(settings.github) if settings.github is not None else None
        )
        self.bootstrap_token = settings.bootstrap_token
        self._orgs: tuple[float, list[dict[str, Any]]] = (0.0, [])
        self._orgs_lock = asyncio.Lock()
        self._invitations: tuple[float, list[dict[str, Any]]] = (0.0, [])
        self._invitations_lock = asyncio.Lock()

    async def start(self) -> None:
        self.mirror.start()

    async def stop(self) -> None:
        await self.mirror.stop()
        await self.api.close()

    async def all_organizations(self) -> list[dict[str, Any]]:
        """Every Organization, read as the UI itself (cached for a couple of seconds)."""
        async with self._orgs_lock:
            when, orgs = self._orgs
            if time.monotonic() - when < ORGS_CACHE_SECONDS:
                return orgs
            try:
                answer = await self.kube.request("GET", path("organizations"), person=None)
            except ApiError:
                return orgs
            orgs = sorted(answer.get("items") or [], key=lambda o: o["metadata"]["name"])
            self._orgs = (time.monotonic(), orgs)
            return orgs

    async def organizations_of(self, person: Person) -> list[dict[str, Any]]:
        """The Organizations the API lets ``person`` read."""
        mine = []
        for org in await self.all_organizations():
            name = org["metadata"]["name"]
            if await self.api.can(person, verb="get", resource="organizations", name=name):
                mine.append(org)
        return mine

    async def all_invitations(self) -> list[dict[str, Any]]:
        """Every Invitation, read as the UI itself (cached for a couple of seconds)."""
        async with self._invitations_lock:
            when, invitations = self._invitations
            if time.monotonic() - when < ORGS_CACHE_SECONDS:
                return invitations
            try:
                answer = await self.kube.request("GET", path("invitations"), person=None)
            except ApiError:
                return invitations
            invitations = list(answer.get("items") or [])
            self._invitations = (time.monotonic(), invitations)
            return invitations

    def forget_invitations(self) -> None:
        """After a write of an Invitation: the next read asks the API again."""
        self._invitations = (0.0, self._invitations[1])

    async def invitations_for(self, person: Person) -> list[dict[str, Any]]:
        """Pending Invitations addressed to the person's login or a verified e-mail."""
        addresses = {person.login, *person.emails}
        found = []
        for invitation in await self.all_invitations():
            spec, status = invitation.get("spec") or {}, invitation.get("status") or {}
            invitee = str(spec.get("invitee") or "").lower()
            pending = (status.get("phase") or "Pending") == "Pending" and not spec.get("revoked")
            if invitee in addresses and pending and not status.get("acceptedBy"):
                found.append(invitation)
        return found


def ui_of(connection: HTTPConnection) -> UI:
    ui: UI = connection.app.state.ui
    return ui


def session_of(connection: HTTPConnection) -> Session:
    """The signed-in session (the guard has made sure there is one)."""
    session: Session = connection.scope["wws.session"]
    return session


def person_of(connection: HTTPConnection) -> Person:
    person = session_of(connection).person
    assert person is not None  # NB: the guard lets no request without a person through
    return person

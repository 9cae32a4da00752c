"""The steps of a Workspace reconcile that touch the outside world, shared by the handlers
(:mod:`controller.workspaces`) and the agent's follower (:mod:`controller.follower`):
the agent's config files from Secrets, acting through the provider, reading the agent's
report, and writing the status (with the events and metrics it is worth). The decisions
are the reconciler's (:mod:`reconcilers.workspace`)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
from typing import Any

import kopf

from api.workspace import Workspace, WorkspaceStatus
from controller import kubeapi, metrics, secrets
from controller.context import Context, bound
from providers import base
from reconcilers import conditions, workspace


def path_of(ws: Workspace) -> str:
    """The Workspace's path in the API."""
    return kubeapi.custom_path(Workspace, namespace=ws.metadata.namespace, name=ws.metadata.name)


@dataclasses.dataclass(frozen=True)
class Credentials:
    """What the workspace is given from Secrets: the agent's config files (never in a repr)
    and what was found of the GitHub token."""

    github: workspace.GitHubToken
    files: dict[str, bytes] = dataclasses.field(repr=False)


def needs_password(ws: Workspace, plan: workspace.Plan) -> bool:
    """Whether code-server's password is needed now: when the workspace is to run, or has
    run before (its container holds the password file). A workspace created stopped that
    never ran gets none yet: its Secret (a create, an event, a watch event) is made at its
    first start, so a burst of new stopped workspaces costs no Secrets."""
    return plan.running or ws.status.started_at is not None


async def credentials(
    ctx: Context, body: kopf.Body, ws: Workspace, *, with_password: bool = True
) -> Credentials:
    """The GitHub token and code-server's password (made when missing), as the agent's
    config files. Without ``with_password`` (:func:`needs_password`) the Secret is neither read
    nor made and there are no config files yet (the provider is handed none: nothing runs
    that would read them). Raises :class:`secrets.SecretProblem` when the API server cannot
    be asked."""
    github = await secrets.github_token(ctx.api, ws, ctx.secret_versions)
    if not with_password:
        return Credentials(github=github, files={})
    # NB: a workspace that never had a status is new: its Secret is made without a GET first
    fresh = not (body.get("status") or {}).get("phase")
    password, made = await secrets.code_server_password(
        ctx.api, ws, ctx.secret_versions, fresh=fresh
    )
    if made:
        name = workspace.code_server_secret_name(ws.metadata.name)
        bound(body, "Workspace").info("code-server password secret made", secret=name)
        kopf.info(
            body, reason="SecretCreated", message=f"secret {name} holds code-server's password"
        )
    files = workspace.config_files_of(ws, code_server_password=password, github=github)
    return Credentials(github=github, files=files)


async def act(ctx: Context, ws: Workspace, plan: workspace.Plan) -> workspace.Outcome:
    """Do what ``plan`` says through the workspace's provider, in one of its slots (bounded
    and fair between organizations: :mod:`controller.slots`); never raises."""
    provider: base.Provider | None = None
    try:
        provider = await ctx.providers.get(ws.spec.provider.value)
        async with ctx.slots.hold(
            provider=provider.name, host=provider.host, organization=plan.ref.organization
        ):
            if plan.restart:
                await asyncio.wait_for(provider.stop(plan.ref), ctx.call_timeout)
            observed = await asyncio.wait_for(provider.ensure(plan.desired), ctx.call_timeout)
        return workspace.Outcome(observed)
    except Exception as error:  # every failure becomes a condition and a retry
        failure = workspace.failure_of(error, timeout=ctx.call_timeout)
        if failure.reason == "InternalError":
            bound(ws.to_dict(), "Workspace").exception("reconcile failed unexpectedly")
        return await observe_only(ctx, ws, plan, failure)


async def observe_only(
    ctx: Context, ws: Workspace, plan: workspace.Plan, failure: workspace.Failure
) -> workspace.Outcome:
    """The outcome of a failure: what the provider sees, if it can be asked."""
    observed = None
    with contextlib.suppress(Exception):
        provider = await ctx.providers.get(ws.spec.provider.value)
        observed = await asyncio.wait_for(provider.observe(plan.ref), 30)
    return workspace.Outcome(observed, failure)


async def read_agent(ctx: Context, ws: Workspace, outcome: workspace.Outcome) -> workspace.Outcome:
    """``outcome`` with the agent's report, when the workspace runs."""
    observed = outcome.observed
    if observed is None or observed.state is not base.State.RUNNING:
        return outcome
    try:
        provider = await ctx.providers.get(ws.spec.provider.value)
        raw = await asyncio.wait_for(provider.read_report(workspace.ref_of(ws)), ctx.call_timeout)
    except Exception as error:
        bound(ws.to_dict(), "Workspace").warning("agent report not read", error=str(error))
        return outcome
    ctx.fingerprints[ws.metadata.uid or ""] = workspace.report_fingerprint(raw)
    return dataclasses.replace(outcome, agent=workspace.agent_snapshot(raw))


def announce(
    body: kopf.Body, old: Workspace, new_status: WorkspaceStatus, outcome: workspace.Outcome
) -> None:
    """Post the events (and log lines) the reconciler says the change is worth."""
    logger = bound(body, "Workspace")
    for said in workspace.announcements(old, new_status, outcome):
        write: Any = logger.warning if said.level == "warning" else logger.info
        write(said.log, **said.fields)
        if not said.event:
            continue
        post = kopf.warn if said.warning else kopf.info
        post(body, reason=said.reason, message=said.message)


async def write_status(
    ctx: Context,
    body: kopf.Body,
    ws: Workspace,
    status: WorkspaceStatus,
    outcome: workspace.Outcome,
    *,
    began: datetime.datetime,
    original: Workspace | None = None,
) -> bool:
    """Write the smallest merge patch from ``ws.status`` to ``status`` through the API (the
    caller holds the workspace's lock, so the agent's follower and the handlers write one
    after the other); then the events and metrics. False when nothing changed."""
    diff = conditions.merge_patch(ws.status.to_dict(), status.to_dict())
    if not diff:
        return False
    await ctx.api.patch_status(path_of(ws), diff)
    announce(body, ws, status, outcome)
    seconds = workspace.start_seconds(
        original or ws, status, began=began, now=datetime.datetime.now(datetime.UTC)
    )
    if seconds is not None:
        metrics.WORKSPACE_START_SECONDS.labels(provider=ws.spec.provider.value).observe(seconds)
    metrics.workspace_seen(
        ws.metadata.uid or "", phase=status.phase, provider=ws.spec.provider.value
    )
    if status.stop_reason is not None and status.stop_reason != ws.status.stop_reason:
        metrics.WORKSPACE_STOPS.labels(reason=status.stop_reason).inc()
    return True

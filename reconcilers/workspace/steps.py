"""The controller's own steps as conditions: ImageReady, HomeReady and ContainerReady."""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from api import meta
from api.workspace import (
    RESTARTED_AT_ANNOTATION,
    StopReason,
    Workspace,
)
from providers import base
from reconcilers import conditions
from reconcilers.workspace.outcome import Outcome
from reconcilers.workspace.planning import Plan
from reconcilers.workspace.vocabulary import (
    CONTAINER_READY,
    FALSE,
    HELD_REASONS,
    HOME_READY,
    IMAGE_READY,
    TRUE,
    UNKNOWN,
)


def _kept(
    previous: Sequence[meta.Condition],
    type_: str,
    *,
    reason: str,
    message: str,
    generation: int | None,
    at: datetime.datetime,
) -> meta.Condition:
    """The previous condition of ``type_`` (for a step that could not be looked at now), or
    Unknown with ``reason`` when there is none."""
    old = meta.find_condition(previous, type_)
    if old is not None:
        return old.model_copy(update={"observed_generation": generation})
    return conditions.condition(
        previous,
        type_=type_,
        status=UNKNOWN,
        reason=reason,
        message=message,
        generation=generation,
        at=at,
    )


def _container_condition(
    plan_: Plan, observed: base.Observed
) -> tuple[meta.ConditionStatus, str, str]:
    state = observed.state
    if state is base.State.RUNNING:
        return TRUE, "Running", ""
    if not plan_.running and state in (base.State.ABSENT, base.State.STOPPED, base.State.CREATED):
        why = plan_.refusal.message if plan_.refusal else _why_stopped(plan_.stop_reason)
        return FALSE, "Stopped", f"the workspace is stopped: {why}"
    if state is base.State.ABSENT:
        return FALSE, "Creating", "the container does not exist yet"
    if state is base.State.CREATED:
        return FALSE, "Starting", "the container is created and starting"
    if state is base.State.STOPPED:
        return FALSE, "Stopped", "the container is stopped; starting it"
    if state is base.State.EXITED:
        return FALSE, "ContainerExited", f"the container {observed.message or 'exited'}"
    return FALSE, "ContainerFailed", f"the container failed: {observed.message or 'unknown error'}"


def _why_stopped(stop_reason: str | None) -> str:
    if stop_reason == StopReason.REQUESTED:
        return "spec.running is false"
    if stop_reason in HELD_REASONS:
        return (
            f"{stop_reason.lower()}; set the annotation {RESTARTED_AT_ANNOTATION} to a new"
            " timestamp to start it again"
        )
    return f"stop reason {stop_reason}"


def step_conditions(
    workspace: Workspace, plan_: Plan, outcome: Outcome, *, at: datetime.datetime
) -> list[meta.Condition]:
    """ImageReady, HomeReady and ContainerReady after ``outcome``."""
    previous = workspace.status.conditions
    generation = workspace.metadata.generation
    observed, failure = outcome.observed, outcome.failure
    wanted_hash = plan_.desired.effective_config_hash()

    def cond(
        type_: str, status: meta.ConditionStatus, reason: str, message: str = ""
    ) -> meta.Condition:
        return conditions.condition(
            previous,
            type_=type_,
            status=status,
            reason=reason,
            message=message,
            generation=generation,
            at=at,
        )

    def unknown(type_: str, reason: str, message: str) -> meta.Condition:
        return _kept(previous, type_, reason=reason, message=message, generation=generation, at=at)

    # ImageReady
    if failure is not None and failure.image_missing:
        image = cond(IMAGE_READY, FALSE, "ImageNotFound", failure.message)
    elif (
        plan_.running
        and observed is not None
        and observed.state is not base.State.ABSENT
        and (failure is None or observed.config_hash == wanted_hash)
    ):
        # NB: ensure() checks the image before it creates or re-creates a container.
        image = cond(IMAGE_READY, TRUE, "Present")
    else:
        image = unknown(IMAGE_READY, "NotChecked", "the image is checked when the workspace starts")

    # HomeReady
    if outcome.home is not None:
        home = cond(
            HOME_READY,
            meta.ConditionStatus(outcome.home.status),
            outcome.home.reason,
            outcome.home.message,
        )
    elif observed is None:
        home = unknown(HOME_READY, "Unknown", "the provider could not be asked")
    elif observed.home_exists:
        home = cond(HOME_READY, TRUE, "Present")
    elif failure is not None and failure.image_missing:
        home = cond(HOME_READY, FALSE, "WaitingForImage", "created once the image exists")
    else:
        home = cond(HOME_READY, FALSE, "Missing", "the home volume does not exist yet")

    # ContainerReady
    if observed is None:
        container = unknown(CONTAINER_READY, "Unknown", "the provider could not be asked")
    elif observed.state is base.State.ABSENT and failure is not None and failure.image_missing:
        container = cond(CONTAINER_READY, FALSE, "WaitingForImage", "created once the image exists")
    else:
        container = cond(CONTAINER_READY, *_container_condition(plan_, observed))
    return [image, home, container]

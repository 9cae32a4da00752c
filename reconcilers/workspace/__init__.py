"""The Workspace reconciler: from spec, status and what the provider sees to actions and status.

One reconcile is three steps, of which only the middle one talks to a runtime (the
controller does it, see ``controller/workspaces.py``); a module per job:

1. :func:`plan` (:mod:`.planning`) — what the workspace should be now: the
   :class:`~providers.base.DesiredWorkspace` (from the spec), whether it should run
   (``spec.running``, unless the controller holds it stopped for a reason such as Idle), and
   whether a restart was asked for (the annotation ``wws.dev/restartedAt`` differs from
   ``status.observedRestartedAt``);
2. the controller acts — ``provider.stop`` when restarting, then ``provider.ensure`` — and
   hands back an :class:`Outcome` (:mod:`.outcome`; :mod:`.drift` says what changed behind
   WWS's back): what the provider sees afterwards, or why it failed;
3. :func:`status_after` (:mod:`.status`, from :mod:`.steps`, :mod:`.agentside` and
   :mod:`.readiness`) — the new status: conditions, ``phase`` derived from them, ``message``,
   ``endpoints``, ``stopReason``, and the restart it acted on; :mod:`.announcing` says which
   events that change is worth; :mod:`.attention` whether a listing or a report calls for
   a closer look.

Conditions, in this order (``status.message`` is the first failing one's message):

- ``Ready`` — the summary: the workspace is as its spec asks (True with reason Running, or
  Stopped when it should not run); ``kubectl wait --for=condition=Ready`` reads it;
- ``ImageReady`` — the image exists (False, reason ImageNotFound, says how to build it);
- ``HomeReady`` — the persistent home exists;
- ``ContainerReady`` — the container runs;
- ``UserReady``, ``SSHReady``, ``EditorReady``, ``LanguagesReady``, ``DotfilesReady``,
  ``BootstrapReady`` — copied from the in-workspace agent's report (docs/workspace-agent.md),
  each with the ``observedGeneration`` the agent has applied (so a report of an older
  generation never counts for a newer one); Unknown (WaitingForAgent) until this boot's
  agent reports, False (AgentNotReporting) when it has not within :attr:`Timeouts.agent`;
- ``GitHubReady`` — the Secret of ``spec.github.tokenSecretRef`` was found (False, reason
  SecretNotFound or KeyNotFound, names it).

Running, Ready needs ImageReady, HomeReady, ContainerReady, UserReady, LanguagesReady and
the turned-on editors' EditorReady and SSHReady, True for the current generation
(:data:`REQUIRED_AGENT_CONDITIONS`). DotfilesReady, BootstrapReady and GitHubReady are
reported (with reason, message and log path) but never make Ready False: a broken dotfiles
repository, a failing setup script or a missing token leave a workspace that is usable, and
the owner is better served by using it and reading the log than by a workspace that is "not
Ready". ``phase`` follows the container (Running once it runs), as a Pod's does; Ready says
when it is usable.

Every state in which a workspace can be stuck has a deadline: a workspace that should run
and has not been Ready for :attr:`Timeouts.start` is Failed (reason StartTimeout, stopReason
Failed, with the cause in the message); one that should stop and still runs after
:attr:`Timeouts.stop` is Failed with StopTimeout; a deletion that has not finished after
:attr:`Timeouts.delete` says how to give up on it. A running workspace whose agent has not
reported within :attr:`Timeouts.agent` of the container's start (or whose last report is that
old) is Failed with reason AgentNotReporting. The controller keeps retrying in every case, so
a Failed workspace recovers on its own once the cause is gone (an image built, a runtime
back, an agent reporting).
"""

from __future__ import annotations

from reconcilers.workspace.agentside import (
    REQUIRED_AGENT_CONDITIONS,
    agent_blocker,
    agent_conditions,
    agent_settled,
    github_condition,
    required_agent_conditions,
    this_boot,
)
from reconcilers.workspace.announcing import REPORTED, Announcement, announcements, start_seconds
from reconcilers.workspace.attention import needs_attention, report_needs_look
from reconcilers.workspace.drift import container_converged, drift
from reconcilers.workspace.outcome import (
    AgentSnapshot,
    Failure,
    HomeMove,
    Outcome,
    agent_snapshot,
    failure_of,
    report_fingerprint,
)
from reconcilers.workspace.planning import (
    GitHubToken,
    Plan,
    code_server_secret_name,
    config_files_of,
    desired_of,
    files_digest,
    plan,
    ports_of,
    ref_of,
)
from reconcilers.workspace.readiness import derive_phase, ready_condition
from reconcilers.workspace.status import (
    deleting_status,
    endpoints_of,
    linux_user,
    provisioning_status,
    status_after,
)
from reconcilers.workspace.steps import step_conditions
from reconcilers.workspace.vocabulary import (
    AGENT_CONDITIONS,
    AGENT_LOG_HINT,
    AGENT_NOT_REPORTING,
    APPLYING_CHANGES,
    BOOTSTRAP_READY,
    CODE_SERVER_PASSWORD_KEY,
    CODE_SERVER_PORT,
    CONTAINER_READY,
    DEFAULT_TIMEOUTS,
    DELETE_TIMEOUT,
    DOTFILES_READY,
    EDITOR_READY,
    FAILED_REASONS,
    FALSE,
    GITHUB_READY,
    HELD_REASONS,
    HOME_READY,
    IMAGE_READY,
    LANGUAGES_READY,
    LIVE_AGENT_CONDITIONS,
    READY,
    SSH_PORT,
    SSH_READY,
    START_TIMEOUT,
    STOP_TIMEOUT,
    TRUE,
    UNKNOWN,
    USER_READY,
    WAITING_FOR_AGENT,
    Timeouts,
    human,
    iso,
    sane_reason,
)

__all__ = [
    "AGENT_CONDITIONS",
    "AGENT_LOG_HINT",
    "AGENT_NOT_REPORTING",
    "APPLYING_CHANGES",
    "BOOTSTRAP_READY",
    "CODE_SERVER_PASSWORD_KEY",
    "CODE_SERVER_PORT",
    "CONTAINER_READY",
    "DEFAULT_TIMEOUTS",
    "DELETE_TIMEOUT",
    "DOTFILES_READY",
    "EDITOR_READY",
    "FAILED_REASONS",
    "FALSE",
    "GITHUB_READY",
    "HELD_REASONS",
    "HOME_READY",
    "IMAGE_READY",
    "LANGUAGES_READY",
    "LIVE_AGENT_CONDITIONS",
    "READY",
    "REPORTED",
    "REQUIRED_AGENT_CONDITIONS",
    "SSH_PORT",
    "SSH_READY",
    "START_TIMEOUT",
    "STOP_TIMEOUT",
    "TRUE",
    "UNKNOWN",
    "USER_READY",
    "WAITING_FOR_AGENT",
    "AgentSnapshot",
    "Announcement",
    "Failure",
    "GitHubToken",
    "HomeMove",
    "Outcome",
    "Plan",
    "Timeouts",
    "agent_blocker",
    "agent_conditions",
    "agent_settled",
    "agent_snapshot",
    "announcements",
    "code_server_secret_name",
    "config_files_of",
    "container_converged",
    "deleting_status",
    "derive_phase",
    "desired_of",
    "drift",
    "endpoints_of",
    "failure_of",
    "files_digest",
    "github_condition",
    "human",
    "iso",
    "linux_user",
    "needs_attention",
    "plan",
    "ports_of",
    "provisioning_status",
    "ready_condition",
    "ref_of",
    "report_fingerprint",
    "report_needs_look",
    "required_agent_conditions",
    "sane_reason",
    "start_seconds",
    "status_after",
    "step_conditions",
    "this_boot",
]

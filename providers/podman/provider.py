"""Workspaces as Podman containers, through Podman's REST API (the ``podman`` package).

One workspace is three objects, all labelled back to its Workspace (see :mod:`naming`):

- the container ``wws-<uid>``: the image's init as PID 1, cpu/memory limits, the ports of
  :attr:`DesiredWorkspace.ports` published on ``127.0.0.1`` on host ports that Podman picks
  (kept across stop/start), restart policy ``no`` (the controller handles drift);
- the home volume ``wws-home-<uid>`` mounted at ``/home``: it outlives the container and
  goes only with :meth:`PodmanProvider.delete`;
- the organization's network ``wws-org-<org>`` (bridge ``wwsp<hash>``, ``isolate=true``:
  no traffic with other organizations' networks), whose ports are isolated
  (:mod:`providers.bridgeports`): a workspace reaches the internet through the gateway,
  never another workspace, and the host only as :mod:`providers.hostfirewall` allows.

And one folder on the host, ``<data-dir>/workspaces/<uid>/``, for the in-workspace agent
(docs/workspace-agent.md): ``config/`` holds :attr:`DesiredWorkspace.config_files`
(secrets mode 0600), bind-mounted read-only at ``/run/wws/config`` and rewritten in place
when they change (no re-creation); ``status/`` is bind-mounted writable at
``/run/wws/status``, where the agent writes ``report.json`` (:meth:`read_report`). The
folder goes with :meth:`PodmanProvider.delete`.

``DesiredWorkspace.disk_bytes`` and ``home_size_bytes`` are not enforced here: Podman's
local volumes and overlay storage have no size limits without XFS project quotas.

The ``podman`` client is synchronous: each public method runs one blocking function in a
worker thread of the provider's own pool (:data:`WORKERS` threads, so many starts and
deletes at once are not held up by the event loop's small default pool), with one client per
thread. The hot path of
:meth:`ensure` on a converged workspace is a single inspect call.

Modules beside this one, by job: :mod:`.calls` (the API, errors, locks), :mod:`.folders`
(the agent's folder), :mod:`.containers` (the container's spec), :mod:`.observing` (what an
inspect means), :mod:`.inventory` (what WWS holds here), :mod:`.naming` (names, labels),
:mod:`.service` (``podman system service``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import time
from collections.abc import AsyncIterator, Callable, Collection
from pathlib import Path
from typing import Any, Self, TypeVar

from providers import base, bridgeports, homes, hostfirewall
from providers.podman import (
    calls,
    containers,
    events,
    folders,
    inventory,
    naming,
    observing,
    service,
)
from wws import logconfig

log = logconfig.get(__name__)

#: Threads for calls to Podman: more than the controller's bound on actions at once per
#: provider, so listings and observes are never queued behind starts and deletes.
WORKERS = 24

T = TypeVar("T")


def _is_true(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class PodmanProvider(base.Provider):
    """The ``podman`` provider. ``socket_path`` is the API socket; with ``start_service``
    (the default) :meth:`open` starts ``podman system service`` there when none answers.
    ``data_dir`` holds the agents' config and status folders (default: the folder above
    the socket's, i.e. the data dir of the default socket ``<data-dir>/podman/podman.sock``).
    """

    name = "podman"
    reports_changes = True

    def __init__(
        self,
        *,
        socket_path: Path,
        start_service: bool = True,
        publish_ip: str = "127.0.0.1",
        stop_timeout: int = 10,
        home_mount: str = naming.HOME_MOUNT,
        data_dir: Path | None = None,
    ) -> None:
        self.socket_path = socket_path
        self.data_dir = (data_dir or socket_path.parent.parent).resolve()
        self.start_service = start_service
        self.publish_ip = publish_ip
        self.stop_timeout = stop_timeout
        self.home_mount = home_mount
        self.folders = folders.AgentFolders(self.data_dir)
        self._service: service.Service | None = None
        self._api = calls.PodmanApi(socket_path)
        self._pool = concurrent.futures.ThreadPoolExecutor(WORKERS, thread_name_prefix="podman")
        #: organization → its network's bridge (read once per network)
        self._bridges: dict[str, str] = {}

    @classmethod
    def from_settings(cls, settings: base.ProviderSettings) -> Self:
        """Options: ``socket`` (default ``$WWS_PODMAN_SOCKET`` or
        ``<data-dir>/podman/podman.sock``), ``start_service`` (default true),
        ``publish_ip`` (default ``127.0.0.1``), ``stop_timeout`` seconds (default 10)."""
        options = settings.options
        socket_option = options.get("socket")
        return cls(
            socket_path=Path(socket_option)
            if socket_option
            else service.default_socket(settings.data_dir),
            start_service=_is_true(options.get("start_service"), True),
            publish_ip=options.get("publish_ip") or "127.0.0.1",
            stop_timeout=int(options.get("stop_timeout") or 10),
            data_dir=settings.data_dir,
        )

    # --- lifecycle ------------------------------------------------------------------------

    async def open(self) -> None:
        if self._service is not None:
            return
        if self.start_service:
            self._service = await asyncio.to_thread(
                service.ensure_service, socket_path=self.socket_path
            )
        elif await asyncio.to_thread(service.ping, self.socket_path):
            self._service = service.Service(socket_path=self.socket_path)
        else:
            raise base.ProviderUnavailable(f"no Podman API service answers on {self.socket_path}")
        await asyncio.to_thread(hostfirewall.ensure)
        self._api.service_running = True

    async def close(self) -> None:
        self._api.close()
        self._api.service_running = False
        if self._service is not None:
            await asyncio.to_thread(self._service.stop)
            self._service = None

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in the provider's thread pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(function, *args))

    # --- the interface --------------------------------------------------------------------

    async def ensure(self, desired: base.DesiredWorkspace) -> base.Observed:
        return await self._run(self._ensure, desired)

    async def stop(self, ref: base.WorkspaceRef) -> None:
        await self._run(self._stop, ref)

    async def delete(self, ref: base.WorkspaceRef) -> None:
        await self._run(self._delete, ref)

    async def observe(self, ref: base.WorkspaceRef) -> base.Observed:
        return await self._run(self._observe, ref)

    async def list_managed(self) -> list[base.ManagedObject]:
        return await self._run(inventory.list_managed, self._api)

    async def list_leftovers(
        self, managed: Collection[base.ManagedObject]
    ) -> list[base.ManagedObject]:
        return await self._run(inventory.list_leftovers, self.folders, list(managed))

    async def export_home(self, ref: base.WorkspaceRef, dest: Path) -> None:
        await self._run(self._export_home, ref, dest)

    async def import_home(
        self, ref: base.WorkspaceRef, source: Path, *, size_bytes: int = 0
    ) -> None:
        await self._run(self._import_home, ref, source)

    async def read_report(self, ref: base.WorkspaceRef) -> dict[str, Any] | None:
        return await self._run(self.folders.read_report, ref.uid)

    async def list(self) -> dict[str, base.Observed]:
        return await self._run(inventory.list_workspaces, self._api)

    async def subscribe(self) -> AsyncIterator[base.Change]:
        async for change in events.subscribe(self.socket_path, self.folders):
            yield change

    # --- ensure ---------------------------------------------------------------------------

    def _ensure(self, desired: base.DesiredWorkspace) -> base.Observed:
        ref = desired.ref
        wanted_hash = desired.effective_config_hash()
        bound = log.bind(namespace=ref.namespace, name=ref.name, uid=ref.uid)
        with self._api.lock(f"workspace/{ref.uid}"):
            if self.folders.sync_config(ref.uid, desired.config_files):
                bound.info("agent config updated", files=len(desired.config_files))
            info = self._api.inspect(ref.uid)
            if not desired.running:
                if info is None:
                    self._ensure_home(ref)
                elif info["State"].get("Running"):
                    self._stop_container(ref, bound)
                    info = self._api.inspect(ref.uid)
                return self._observed(ref, info)
            left: set[str] = set()
            if info is not None:
                labels = info.get("Config", {}).get("Labels") or {}
                if labels.get(naming.LABEL_CONFIG_HASH) != wanted_hash:
                    # NB: check the new image first, so a typo in it never takes the old
                    # container down.
                    self._require_image(desired.image)
                    bound.info(
                        "re-creating container: config changed",
                        old_hash=labels.get(naming.LABEL_CONFIG_HASH, ""),
                        new_hash=wanted_hash,
                    )
                    self._remove_container(ref)
                    left = self._networks_of(info) - {
                        naming.network_of(ref.organization, desired.network_group)
                    }
                    info = None
                elif info["State"].get("Status") in {"dead", "removing"}:
                    bound.warning("re-creating container: runtime reports it dead")
                    self._remove_container(ref)
                    info = None
            if info is None:
                self._create(desired, wanted_hash, bound)
                self._start(
                    ref, bound, {naming.network_of(ref.organization, desired.network_group)}
                )
                info = self._api.inspect(ref.uid)
                for network in sorted(left):  # a team's network it left (policy changed)
                    self._remove_network_if_unused(network)
            elif not info["State"].get("Running"):
                if info["State"].get("Paused"):
                    self._api.call("post", f"/containers/{naming.container_name(ref.uid)}/unpause")
                else:
                    self._start(ref, bound, self._networks_of(info))
                info = self._api.inspect(ref.uid)
            return self._observed(ref, info)

    def _create(self, desired: base.DesiredWorkspace, wanted_hash: str, bound: Any) -> None:
        ref = desired.ref
        started = time.monotonic()
        self._require_image(desired.image)
        self._ensure_home(ref)
        self.folders.prepare(ref.uid)
        spec = self._container_spec(desired, wanted_hash)
        # NB: the network lock keeps remove_orphans/delete from removing the workspace's
        # network between its creation here and the container's.
        network = naming.network_of(ref.organization, desired.network_group)
        with self._api.lock(f"network/{network}"):
            self._ensure_network(ref.organization, desired.network_group)
            try:
                self._api.call("post", "/containers/create", body=spec)
            except calls.CallFailed as failed:
                if not failed.conflict:  # another caller created it just now
                    raise failed.provider_error("create container") from None
        bound.info(
            "container created",
            container=spec["name"],
            image=desired.image,
            seconds=round(time.monotonic() - started, 3),
        )

    def _require_image(self, image: str) -> None:
        if not self._api.exists("images", image):
            raise base.ImageNotFound(image, containers.image_hint(image))

    def _start(self, ref: base.WorkspaceRef, bound: Any, networks: Collection[str]) -> None:
        """init, isolate the port on the organization's network (when ``networks``, those
        the container is attached to, include it), start."""
        started = time.monotonic()
        # NB: the previous boot's report says nothing about this boot.
        self.folders.drop_report(ref.uid)
        container = naming.container_name(ref.uid)
        try:
            # init attaches the network (a new bridge port each boot) before any process
            # of the image runs: the port is isolated before start.
            self._api.call("post", f"/containers/{container}/init")
            self._isolate(ref, networks)
            self._api.call("post", f"/containers/{container}/start")
        except calls.CallFailed as failed:
            raise failed.provider_error("start container") from None
        bound.info("container started", seconds=round(time.monotonic() - started, 3))

    def _ensure_home(self, ref: base.WorkspaceRef) -> None:
        volume = naming.home_volume_name(ref.uid)
        if self._api.exists("volumes", volume):
            return
        try:
            self._api.call(
                "post",
                "/volumes/create",
                body={"Name": volume, "Labels": naming.workspace_labels(ref)},
            )
        except calls.CallFailed as failed:
            if not failed.conflict:
                raise failed.provider_error("create home volume") from None
        log.info("home volume created", namespace=ref.namespace, name=ref.name, volume=volume)

    def _isolate(self, ref: base.WorkspaceRef, networks: Collection[str]) -> None:
        """Isolate the container's port on its organization's network. (On a team's
        network, where the policy lets the team's workspaces meet, ports stay open.)"""
        network = naming.network_name(ref.organization)
        if network not in networks:
            return
        bridge = self._bridge_of(ref.organization, network)
        marked = bridgeports.isolate_all(bridge)
        if marked:
            log.debug("bridge ports isolated", uid=ref.uid, bridge=bridge, ports=marked)

    def _bridge_of(self, organization: str, network: str) -> str:
        """The bridge of the organization's network (``wwsp<hash>``; an older network
        keeps the name Podman gave it)."""
        known = self._bridges.get(network)
        if known is not None:
            return known
        response = self._api.call("get", f"/networks/{network}/json", missing_ok=True)
        if response is None:
            raise base.ProviderError(f"podman: network {network} is gone")
        bridge = str(response.json().get("network_interface") or "")
        if not bridge.startswith("wwsp"):
            # NB: made before isolation: its ports are isolated, but hostfirewall's rules
            # do not know its bridge; it is re-made when its last workspace goes.
            log.warning(
                "organization network predates isolation: the host's services stay"
                " reachable from it until it is re-made",
                organization=organization,
                network=network,
                bridge=bridge,
            )
        self._bridges[network] = bridge
        return bridge

    def _ensure_network(self, organization: str, group: str = "") -> None:
        network = naming.network_of(organization, group)
        if self._api.exists("networks", network):
            return
        self._bridges.pop(network, None)
        try:
            self._api.call(
                "post",
                "/networks/create",
                body={
                    "name": network,
                    "driver": "bridge",
                    "network_interface": naming.bridge_of(organization, group),
                    "labels": naming.network_labels(organization, group),
                    # Traffic between isolated networks is dropped: organizations can't meet.
                    "options": {"isolate": "true"},
                },
            )
        except calls.CallFailed as failed:
            if not failed.conflict:
                raise failed.provider_error("create network") from None
        log.info("network created", organization=organization, network=network, team=group)

    # --- stop / delete --------------------------------------------------------------------

    def _stop(self, ref: base.WorkspaceRef) -> None:
        bound = log.bind(namespace=ref.namespace, name=ref.name, uid=ref.uid)
        with self._api.lock(f"workspace/{ref.uid}"):
            self._stop_container(ref, bound)

    def _stop_container(self, ref: base.WorkspaceRef, bound: Any) -> None:
        started = time.monotonic()
        response = self._api.call(
            "post",
            f"/containers/{naming.container_name(ref.uid)}/stop",
            params={"timeout": self.stop_timeout},
            missing_ok=True,
        )
        if response is not None and response.status_code != 304:  # 304: was not running
            bound.info("container stopped", seconds=round(time.monotonic() - started, 3))

    def _remove_container(self, ref: base.WorkspaceRef) -> bool:
        response = self._api.call(
            "delete",
            f"/containers/{naming.container_name(ref.uid)}",
            params={"force": "true", "timeout": self.stop_timeout},
            missing_ok=True,
        )
        return response is not None

    def _delete(self, ref: base.WorkspaceRef) -> None:
        bound = log.bind(namespace=ref.namespace, name=ref.name, uid=ref.uid)
        with self._api.lock(f"workspace/{ref.uid}"):
            networks = self._networks_of(self._api.inspect(ref.uid))
            if self._remove_container(ref):
                bound.info("container removed")
            if self._remove_volume(naming.home_volume_name(ref.uid)):
                bound.info("home volume removed")
            if self.folders.remove(ref.uid):
                bound.info("agent folder removed")
        if ref.organization:  # NB: "" for a leftover folder that names no workspace
            networks.add(naming.network_name(ref.organization))
        for network in sorted(networks):
            self._remove_network_if_unused(network)

    @staticmethod
    def _networks_of(info: dict[str, Any] | None) -> set[str]:
        """The WWS networks a container is attached to."""
        attached = ((info or {}).get("NetworkSettings") or {}).get("Networks") or {}
        return {str(name) for name in attached if str(name).startswith(("wws-org-", "wws-team-"))}

    # --- moving the home (providers.homes) -------------------------------------------------

    def _home_mountpoint(self, ref: base.WorkspaceRef) -> Path | None:
        response = self._api.call(
            "get", f"/volumes/{naming.home_volume_name(ref.uid)}/json", missing_ok=True
        )
        if response is None:
            return None
        return Path(str(response.json()["Mountpoint"]))

    def _require_stopped(self, ref: base.WorkspaceRef) -> None:
        info = self._api.inspect(ref.uid)
        if info is not None and (info.get("State") or {}).get("Running"):
            raise base.ProviderError("the workspace runs: stop it before its home is moved")

    def _export_home(self, ref: base.WorkspaceRef, dest: Path) -> None:
        with self._api.lock(f"workspace/{ref.uid}"):
            self._require_stopped(ref)
            mountpoint = self._home_mountpoint(ref)
            if mountpoint is None:
                raise homes.HomeMoveFailed(f"no home volume {naming.home_volume_name(ref.uid)}")
            homes.copy_tree(mountpoint, dest)

    def _import_home(self, ref: base.WorkspaceRef, source: Path) -> None:
        with self._api.lock(f"workspace/{ref.uid}"):
            self._require_stopped(ref)
            if self._remove_container(ref):  # it mounts the volume; re-made by ensure()
                log.info("container removed to replace its home", uid=ref.uid)
            self._remove_volume(naming.home_volume_name(ref.uid))
            self._ensure_home(ref)
            mountpoint = self._home_mountpoint(ref)
            if mountpoint is None:
                raise homes.HomeMoveFailed("the new home volume has no mount point")
            homes.copy_tree(source, mountpoint)

    def _remove_volume(self, volume: str) -> bool:
        response = self._api.call(
            "delete", f"/volumes/{volume}", params={"force": "true"}, missing_ok=True
        )
        return response is not None

    def _remove_network_if_unused(self, network: str) -> bool:
        """Remove an organization's or team's network when no container uses it any more."""
        with self._api.lock(f"network/{network}"):
            users = self._api.call(
                "get",
                "/containers/json",
                params={"all": "true", "filters": calls.api_json({"network": [network]})},
            )
            if users is not None and users.json():
                return False
            try:
                removed = self._api.call("delete", f"/networks/{network}", missing_ok=True)
            except calls.CallFailed:  # in use after all (a container outside WWS): keep it
                return False
        self._bridges.pop(network, None)
        if removed is not None:
            log.info("network removed", network=network)
        return removed is not None

    # --- observe --------------------------------------------------------------------------

    def _observe(self, ref: base.WorkspaceRef) -> base.Observed:
        return self._observed(ref, self._api.inspect(ref.uid))

    def _observed(self, ref: base.WorkspaceRef, info: dict[str, Any] | None) -> base.Observed:
        if info is None:
            home = self._api.exists("volumes", naming.home_volume_name(ref.uid))
            return base.Observed(state=base.State.ABSENT, home_exists=home)
        return observing.observed(info)

    def _container_spec(self, desired: base.DesiredWorkspace, wanted_hash: str) -> dict[str, Any]:
        return containers.container_spec(
            desired,
            wanted_hash,
            folders=self.folders,
            publish_ip=self.publish_ip,
            home_mount=self.home_mount,
            stop_timeout=self.stop_timeout,
        )

"""Workspaces as Podman containers, through Podman's REST API (the ``podman`` package).

One workspace is three objects, all labelled back to its Workspace (see :mod:`naming`):

- the container ``wws-<uid>``: the image's init as PID 1, cpu/memory limits, the ports of
  :attr:`DesiredWorkspace.ports` published on ``127.0.0.1`` on host ports that Podman picks
  (kept across stop/start), restart policy ``no`` (the controller handles drift);
- the home volume ``wws-home-<uid>`` mounted at ``/home``: it outlives the container and
  goes only with :meth:`PodmanProvider.delete`;
- the organization's network ``wws-org-<org>`` (bridge, ``isolate=true``): containers of
  one organization reach each other, never another organization's.

And one folder on the host, ``<data-dir>/workspaces/<uid>/``, for the in-workspace agent
(docs/workspace-agent.md): ``config/`` holds :attr:`DesiredWorkspace.config_files`
(secrets mode 0600), bind-mounted read-only at ``/run/wws/config`` and rewritten in place
when they change (no re-creation); ``status/`` is bind-mounted writable at
``/run/wws/status``, where the agent writes ``report.json`` (:meth:`read_report`). The
folder goes with :meth:`PodmanProvider.delete`.

``DesiredWorkspace.disk_bytes`` and ``home_size_bytes`` are not enforced here: Podman's
local volumes and overlay storage have no size limits without XFS project quotas.

The ``podman`` client is synchronous: each public method runs one blocking function in a
worker thread (``asyncio.to_thread``), with one client per thread. The hot path of
:meth:`ensure` on a converged workspace is a single inspect call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Collection, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Self

from podman import PodmanClient
from podman.api.client import APIClient, APIResponse

from providers import base
from providers.podman import naming, service
from wws import logconfig

log = logconfig.get(__name__)

IMAGE_HINT = "run `wws image build` (or `make up`, which builds it) and the workspace starts"
_JSON = {"Content-Type": "application/json"}


def _is_true(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _parse_time(value: str | None) -> datetime | None:
    """Podman's RFC 3339 times (nanoseconds, ``Z`` or offset); the zero time is ``None``."""
    if not value or value.startswith("0001-01-01"):
        return None
    text = value.replace("Z", "+00:00")
    date, sep, rest = text.partition(".")
    if sep:  # trim the fraction to microseconds, keep the offset
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        text = f"{date}.{digits[:6].ljust(6, '0')}{rest}"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _error_text(response: APIResponse) -> str:
    try:
        body = response.json()
    except ValueError:
        return str(response.text).strip()
    if isinstance(body, dict):
        return str(body.get("message") or body.get("cause") or body)
    return str(body)


class PodmanProvider(base.Provider):
    """The ``podman`` provider. ``socket_path`` is the API socket; with ``start_service``
    (the default) :meth:`open` starts ``podman system service`` there when none answers.
    ``data_dir`` holds the agents' config and status folders (default: the folder above
    the socket's, i.e. the data dir of the default socket ``<data-dir>/podman/podman.sock``).
    """

    name = "podman"

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
        self._service: service.Service | None = None
        self._local = threading.local()
        self._clients: list[PodmanClient] = []
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

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

    async def close(self) -> None:
        for client in self._clients:
            with contextlib.suppress(Exception):
                client.close()  # type: ignore[no-untyped-call]
        self._clients.clear()
        self._local = threading.local()
        if self._service is not None:
            await asyncio.to_thread(self._service.stop)
            self._service = None

    # --- the interface --------------------------------------------------------------------

    async def ensure(self, desired: base.DesiredWorkspace) -> base.Observed:
        return await asyncio.to_thread(self._ensure, desired)

    async def stop(self, ref: base.WorkspaceRef) -> None:
        await asyncio.to_thread(self._stop, ref)

    async def delete(self, ref: base.WorkspaceRef) -> None:
        await asyncio.to_thread(self._delete, ref)

    async def observe(self, ref: base.WorkspaceRef) -> base.Observed:
        return await asyncio.to_thread(self._observe, ref)

    async def list_managed(self) -> list[base.ManagedObject]:
        return await asyncio.to_thread(self._list_managed)

    async def remove_orphans(self, known_uids: Collection[str]) -> list[base.ManagedObject]:
        return await asyncio.to_thread(self._remove_orphans, frozenset(known_uids))

    async def read_report(self, ref: base.WorkspaceRef) -> dict[str, Any] | None:
        return await asyncio.to_thread(self._read_report, ref)

    # --- plumbing -------------------------------------------------------------------------

    def _api(self) -> APIClient:
        """This thread's API client (``requests`` sessions are not shared across threads)."""
        client: PodmanClient | None = getattr(self._local, "client", None)
        if client is None:
            if self._service is None and not service.ping(self.socket_path):
                raise base.ProviderUnavailable(
                    f"no Podman API service answers on {self.socket_path}"
                )
            client = PodmanClient(base_url=f"unix://{self.socket_path}", timeout=120)
            self._local.client = client
            self._clients.append(client)
        return client.api

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        ok: Collection[int] = (200, 201, 204, 304),
        missing_ok: bool = False,
    ) -> APIResponse | None:
        """One API call. ``None`` for a 404 when ``missing_ok``; other errors raise."""
        api = self._api()
        kwargs: dict[str, Any] = {"params": dict(params or {})}
        if body is not None:
            kwargs["data"] = api_json(body)
            kwargs["headers"] = _JSON
        try:
            response: APIResponse = getattr(api, method)(path, **kwargs)
        except OSError as error:  # includes the client's APIError for connection failures
            raise base.ProviderUnavailable(f"Podman API at {self.socket_path}: {error}") from error
        if response.status_code in ok:
            return response
        if response.status_code == 404 and missing_ok:
            return None
        raise _CallFailed(method, path, response)

    @contextlib.contextmanager
    def _lock(self, key: str) -> Iterator[None]:
        with self._locks_guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            yield

    def _inspect(self, uid: str) -> dict[str, Any] | None:
        response = self._call(
            "get", f"/containers/{naming.container_name(uid)}/json", missing_ok=True
        )
        return None if response is None else dict(response.json())

    def _exists(self, kind: str, name: str) -> bool:
        return self._call("get", f"/{kind}/{name}/exists", missing_ok=True) is not None

    # --- ensure ---------------------------------------------------------------------------

    def _ensure(self, desired: base.DesiredWorkspace) -> base.Observed:
        ref = desired.ref
        wanted_hash = desired.effective_config_hash()
        bound = log.bind(namespace=ref.namespace, name=ref.name, uid=ref.uid)
        with self._lock(f"workspace/{ref.uid}"):
            if self._sync_config(ref.uid, desired.config_files):
                bound.info("agent config updated", files=len(desired.config_files))
            info = self._inspect(ref.uid)
            if not desired.running:
                if info is None:
                    self._ensure_home(ref)
                elif info["State"].get("Running"):
                    self._stop_container(ref, bound)
                    info = self._inspect(ref.uid)
                return self._observed(ref, info)
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
                    info = None
                elif info["State"].get("Status") in {"dead", "removing"}:
                    bound.warning("re-creating container: runtime reports it dead")
                    self._remove_container(ref)
                    info = None
            if info is None:
                self._create(desired, wanted_hash, bound)
                self._start(ref, bound)
                info = self._inspect(ref.uid)
            elif not info["State"].get("Running"):
                if info["State"].get("Paused"):
                    self._call("post", f"/containers/{naming.container_name(ref.uid)}/unpause")
                else:
                    self._start(ref, bound)
                info = self._inspect(ref.uid)
            return self._observed(ref, info)

    def _create(self, desired: base.DesiredWorkspace, wanted_hash: str, bound: Any) -> None:
        ref = desired.ref
        started = time.monotonic()
        self._require_image(desired.image)
        self._ensure_home(ref)
        self._config_dir(ref.uid).mkdir(parents=True, exist_ok=True)
        self._status_dir(ref.uid).mkdir(parents=True, exist_ok=True)
        spec = self._container_spec(desired, wanted_hash)
        # NB: the network lock keeps remove_orphans/delete from removing the organization's
        # network between its creation here and the container's.
        with self._lock(f"network/{ref.organization}"):
            self._ensure_network(ref.organization)
            try:
                self._call("post", "/containers/create", body=spec)
            except _CallFailed as failed:
                if not failed.conflict:  # another caller created it just now
                    raise failed.provider_error("create container") from None
        bound.info(
            "container created",
            container=spec["name"],
            image=desired.image,
            seconds=round(time.monotonic() - started, 3),
        )

    def _require_image(self, image: str) -> None:
        if not self._exists("images", image):
            raise base.ImageNotFound(image, _image_hint(image))

    def _container_spec(self, desired: base.DesiredWorkspace, wanted_hash: str) -> dict[str, Any]:
        ref = desired.ref
        labels = naming.workspace_labels(ref)
        labels[naming.LABEL_CONFIG_HASH] = wanted_hash
        labels[naming.LABEL_PORTS] = naming.encode_ports(desired.ports)
        env = {
            "WWS_NAMESPACE": ref.namespace,
            "WWS_NAME": ref.name,
            "WWS_UID": ref.uid,
            "WWS_ORGANIZATION": ref.organization,
            **desired.env,
        }
        spec: dict[str, Any] = {
            "name": naming.container_name(ref.uid),
            "image": desired.image,
            "hostname": ref.name,
            "labels": labels,
            "env": env,
            "netns": {"nsmode": "bridge"},
            "Networks": {naming.network_name(ref.organization): {}},
            "portmappings": [
                {
                    "container_port": port.container_port,
                    "host_ip": port.host_ip or self.publish_ip,
                    # 0: Podman picks a free port; it stays across restarts
                    "host_port": port.host_port,
                    "protocol": port.protocol,
                }
                for port in desired.ports
            ],
            "volumes": [
                {"Name": naming.home_volume_name(ref.uid), "Dest": self.home_mount, "Options": []}
            ],
            "mounts": [
                {
                    "destination": base.AGENT_CONFIG_DIR,
                    "type": "bind",
                    "source": str(self._config_dir(ref.uid)),
                    "options": ["rbind", "ro"],
                },
                {
                    "destination": base.AGENT_STATUS_DIR,
                    "type": "bind",
                    "source": str(self._status_dir(ref.uid)),
                    "options": ["rbind", "rw"],
                },
            ],
            "restart_policy": "no",
            "stop_timeout": self.stop_timeout,
        }
        limits: dict[str, Any] = {}
        if desired.cpu > 0:
            period = 100_000
            limits["cpu"] = {"period": period, "quota": max(1_000, round(desired.cpu * period))}
        if desired.memory_bytes > 0:
            # NB: swap limit == memory limit: a workspace does not swap past its memory.
            limits["memory"] = {"limit": desired.memory_bytes, "swap": desired.memory_bytes}
        if limits:
            spec["resource_limits"] = limits
        return spec

    def _start(self, ref: base.WorkspaceRef, bound: Any) -> None:
        started = time.monotonic()
        # NB: the previous boot's report says nothing about this boot.
        self._status_dir(ref.uid).mkdir(parents=True, exist_ok=True)
        (self._status_dir(ref.uid) / base.AGENT_REPORT_FILE).unlink(missing_ok=True)
        try:
            self._call("post", f"/containers/{naming.container_name(ref.uid)}/start")
        except _CallFailed as failed:
            raise failed.provider_error("start container") from None
        bound.info("container started", seconds=round(time.monotonic() - started, 3))

    def _ensure_home(self, ref: base.WorkspaceRef) -> None:
        volume = naming.home_volume_name(ref.uid)
        if self._exists("volumes", volume):
            return
        try:
            self._call(
                "post",
                "/volumes/create",
                body={"Name": volume, "Labels": naming.workspace_labels(ref)},
            )
        except _CallFailed as failed:
            if not failed.conflict:
                raise failed.provider_error("create home volume") from None
        log.info("home volume created", namespace=ref.namespace, name=ref.name, volume=volume)

    def _ensure_network(self, organization: str) -> None:
        network = naming.network_name(organization)
        if self._exists("networks", network):
            return
        try:
            self._call(
                "post",
                "/networks/create",
                body={
                    "name": network,
                    "driver": "bridge",
                    "labels": naming.network_labels(organization),
                    # Traffic between isolated networks is dropped: organizations can't meet.
                    "options": {"isolate": "true"},
                },
            )
        except _CallFailed as failed:
            if not failed.conflict:
                raise failed.provider_error("create network") from None
        log.info("network created", organization=organization, network=network)

    # --- stop / delete --------------------------------------------------------------------

    def _stop(self, ref: base.WorkspaceRef) -> None:
        bound = log.bind(namespace=ref.namespace, name=ref.name, uid=ref.uid)
        with self._lock(f"workspace/{ref.uid}"):
            self._stop_container(ref, bound)

    def _stop_container(self, ref: base.WorkspaceRef, bound: Any) -> None:
        started = time.monotonic()
        response = self._call(
            "post",
            f"/containers/{naming.container_name(ref.uid)}/stop",
            params={"timeout": self.stop_timeout},
            missing_ok=True,
        )
        if response is not None and response.status_code != 304:  # 304: was not running
            bound.info("container stopped", seconds=round(time.monotonic() - started, 3))

    def _remove_container(self, ref: base.WorkspaceRef) -> bool:
        response = self._call(
            "delete",
            f"/containers/{naming.container_name(ref.uid)}",
            params={"force": "true", "timeout": self.stop_timeout},
            missing_ok=True,
        )
        return response is not None

    def _delete(self, ref: base.WorkspaceRef) -> None:
        bound = log.bind(namespace=ref.namespace, name=ref.name, uid=ref.uid)
        with self._lock(f"workspace/{ref.uid}"):
            if self._remove_container(ref):
                bound.info("container removed")
            if self._remove_volume(naming.home_volume_name(ref.uid)):
                bound.info("home volume removed")
            if self._remove_workspace_dir(ref.uid):
                bound.info("agent folder removed")
        self._remove_network_if_unused(ref.organization)

    def _remove_volume(self, volume: str) -> bool:
        response = self._call(
            "delete", f"/volumes/{volume}", params={"force": "true"}, missing_ok=True
        )
        return response is not None

    def _remove_network_if_unused(self, organization: str) -> bool:
        """Remove the organization's network when no container uses it any more."""
        network = naming.network_name(organization)
        with self._lock(f"network/{organization}"):
            users = self._call(
                "get",
                "/containers/json",
                params={"all": "true", "filters": api_json({"network": [network]})},
            )
            if users is not None and users.json():
                return False
            try:
                removed = self._call("delete", f"/networks/{network}", missing_ok=True)
            except _CallFailed:  # in use after all (a container outside WWS): keep it
                return False
        if removed is not None:
            log.info("network removed", organization=organization, network=network)
        return removed is not None

    # --- the agent's folders --------------------------------------------------------------

    def _workspace_dir(self, uid: str) -> Path:
        return self.data_dir / "workspaces" / uid

    def _config_dir(self, uid: str) -> Path:
        return self._workspace_dir(uid) / "config"

    def _status_dir(self, uid: str) -> Path:
        return self._workspace_dir(uid) / "status"

    def _sync_config(self, uid: str, files: Mapping[str, bytes]) -> bool:
        """Make ``config/`` hold exactly ``files``; True when something changed. Each file
        is replaced atomically (the agent never reads half a file); secrets are 0600."""
        root = self._config_dir(uid)
        changed = False
        if not root.is_dir():
            root.mkdir(parents=True, exist_ok=True)
            root.chmod(0o755)
        for rel, content in files.items():
            target = root / base.check_config_path(rel)
            secret = base.is_secret_path(rel)
            mode = 0o600 if secret else 0o644
            with contextlib.suppress(FileNotFoundError):
                if target.read_bytes() == content and (target.stat().st_mode & 0o777) == mode:
                    continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if secret:
                target.parent.chmod(0o700)
            fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            try:
                os.fchmod(fd, mode)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(content)
                os.replace(temp, target)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp)
                raise
            changed = True
        wanted = {str(base.check_config_path(rel)) for rel in files}
        for path in sorted(root.rglob("*"), reverse=True):
            rel = path.relative_to(root).as_posix()
            if path.is_dir() and not path.is_symlink():
                if not any(w.startswith(rel + "/") for w in wanted):
                    shutil.rmtree(path, ignore_errors=True)
            elif rel not in wanted:
                path.unlink(missing_ok=True)
                changed = True
        return changed

    def _remove_workspace_dir(self, uid: str) -> bool:
        folder = self._workspace_dir(uid)
        if not folder.exists():
            return False
        shutil.rmtree(folder, ignore_errors=True)
        return True

    def _workspace_dir_uids(self) -> list[str]:
        parent = self.data_dir / "workspaces"
        return sorted(p.name for p in parent.iterdir() if p.is_dir()) if parent.is_dir() else []

    def _read_report(self, ref: base.WorkspaceRef) -> dict[str, Any] | None:
        path = self._status_dir(ref.uid) / base.AGENT_REPORT_FILE
        try:
            data = json.loads(path.read_bytes())
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (OSError, ValueError) as error:
            log.warning("agent report unreadable", uid=ref.uid, path=str(path), error=str(error))
            return None
        return data if isinstance(data, dict) else None

    # --- observe --------------------------------------------------------------------------

    def _observe(self, ref: base.WorkspaceRef) -> base.Observed:
        return self._observed(ref, self._inspect(ref.uid))

    def _observed(self, ref: base.WorkspaceRef, info: dict[str, Any] | None) -> base.Observed:
        if info is None:
            home = self._exists("volumes", naming.home_volume_name(ref.uid))
            return base.Observed(state=base.State.ABSENT, home_exists=home)
        state_info = info.get("State") or {}
        config = info.get("Config") or {}
        labels = config.get("Labels") or {}
        state, message = _state_of(state_info)
        exit_code = state_info.get("ExitCode")
        return base.Observed(
            state=state,
            ports=self._ports_of(info, labels),
            started_at=_parse_time(state_info.get("StartedAt")),
            message=message,
            config_hash=labels.get(naming.LABEL_CONFIG_HASH, ""),
            image=str(info.get("ImageName") or config.get("Image") or ""),
            exit_code=int(exit_code) if exit_code is not None else None,
            # NB: the container mounts the home volume, so while it exists the home does.
            home_exists=True,
            runtime_id=str(info.get("Id", "")),
        )

    @staticmethod
    def _ports_of(
        info: dict[str, Any], labels: Mapping[str, str]
    ) -> tuple[base.PublishedPort, ...]:
        names = naming.decode_ports(labels.get(naming.LABEL_PORTS, ""))
        bindings = (info.get("NetworkSettings") or {}).get("Ports") or {}
        if not bindings:
            bindings = (info.get("HostConfig") or {}).get("PortBindings") or {}
        published = []
        for key, hosts in sorted(bindings.items()):
            number, _, protocol = key.partition("/")
            for host in hosts or []:
                host_port = int(host.get("HostPort") or 0)
                if not number.isdigit() or host_port == 0:
                    continue
                port = int(number)
                published.append(
                    base.PublishedPort(
                        name=names.get((port, protocol or "tcp"), f"{port}/{protocol}"),
                        container_port=port,
                        host_ip=str(host.get("HostIp") or ""),
                        host_port=host_port,
                        protocol=protocol or "tcp",
                    )
                )
        order = {name: index for index, name in enumerate(names.values())}
        published.sort(key=lambda p: (order.get(p.name, len(order)), p.container_port))
        return tuple(published)

    # --- inventory ------------------------------------------------------------------------

    def _list_managed(self) -> list[base.ManagedObject]:
        label_filter = api_json({"label": [naming.LABEL_UID]})
        objects: list[base.ManagedObject] = []
        containers = self._call(
            "get", "/containers/json", params={"all": "true", "filters": label_filter}
        )
        for item in containers.json() if containers is not None else []:
            name = (item.get("Names") or [item.get("Id", "")])[0]
            objects.append(naming.managed_object("container", name, item.get("Labels")))
        volumes = self._call("get", "/volumes/json", params={"filters": label_filter})
        for item in volumes.json() if volumes is not None else []:
            objects.append(naming.managed_object("volume", item["Name"], item.get("Labels")))
        networks = self._call(
            "get",
            "/networks/json",
            params={
                "filters": api_json({"label": [f"{naming.LABEL_MANAGED_BY}={naming.MANAGED_BY}"]})
            },
        )
        for item in networks.json() if networks is not None else []:
            name = item.get("name") or item.get("Name", "")
            objects.append(
                naming.managed_object("network", name, item.get("labels") or item.get("Labels"))
            )
        return objects

    def _remove_orphans(self, known_uids: frozenset[str]) -> list[base.ManagedObject]:
        removed: list[base.ManagedObject] = []
        managed = self._list_managed()
        for obj in managed:
            if obj.kind == "container" and obj.uid and obj.uid not in known_uids:
                with self._lock(f"workspace/{obj.uid}"):
                    self._call(
                        "delete",
                        f"/containers/{obj.name}",
                        params={"force": "true", "timeout": self.stop_timeout},
                        missing_ok=True,
                    )
                removed.append(obj)
        for obj in managed:
            if obj.kind == "volume" and obj.uid and obj.uid not in known_uids:
                with self._lock(f"workspace/{obj.uid}"):
                    self._remove_volume(obj.name)
                removed.append(obj)
        active = {obj.uid for obj in managed if obj.uid}
        for uid in self._workspace_dir_uids():
            if uid not in known_uids and uid not in active:
                with self._lock(f"workspace/{uid}"):
                    self._remove_workspace_dir(uid)
                removed.append(base.ManagedObject(kind="folder", name=uid, uid=uid))
        for obj in managed:
            if (
                obj.kind == "network"
                and obj.organization
                and self._remove_network_if_unused(obj.organization)
            ):
                removed.append(obj)
        for obj in removed:
            log.info(
                "orphan removed",
                kind=obj.kind,
                object=obj.name,
                namespace=obj.namespace,
                name=obj.workspace,
                uid=obj.uid,
            )
        return removed


# --- helpers --------------------------------------------------------------------------------


def api_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _image_hint(image: str) -> str:
    if image.startswith("localhost/wws/"):
        return IMAGE_HINT
    return f"build or pull it on the Podman host (`podman pull {image}`), or use the default image"


def _state_of(state: Mapping[str, Any]) -> tuple[base.State, str]:
    status = str(state.get("Status", "")).lower()
    error = str(state.get("Error") or "")
    exit_code = int(state.get("ExitCode") or 0)
    if status in {"running", "stopping"}:
        return base.State.RUNNING, ""
    if status == "paused":
        return base.State.STOPPED, "paused"
    if status in {"created", "configured", "initialized"}:
        if error:
            return base.State.FAILED, error
        return base.State.CREATED, ""
    if status in {"exited", "stopped"}:
        if state.get("OOMKilled"):
            return base.State.FAILED, "killed: out of memory (raise spec.resources.memory)"
        if error:
            return base.State.FAILED, error
        if exit_code == 0:
            return base.State.STOPPED, ""
        return base.State.EXITED, f"exited with code {exit_code}"
    return base.State.FAILED, error or f"container is {status or 'in an unknown state'}"


class _CallFailed(base.ProviderError):
    """A Podman API call answered with an unexpected status (a :class:`ProviderError`, so
    callers that do not expect a particular status need no handling of their own)."""

    def __init__(self, method: str, path: str, response: APIResponse) -> None:
        self.status = response.status_code
        self.text = _error_text(response)
        super().__init__(f"{method.upper()} {path}: {self.status} {self.text}")

    @property
    def conflict(self) -> bool:
        """The object exists already (409, or Podman 4's 500 "... already exists/in use")."""
        text = self.text.lower()
        return self.status == 409 or ("already" in text and ("exist" in text or "in use" in text))

    def provider_error(self, action: str) -> base.ProviderError:
        return base.ProviderError(f"podman: {action}: {self.text}")

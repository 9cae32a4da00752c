"""Workspaces as libvirt/QEMU virtual machines (``spec.provider: kvm``).

Seen from outside, a VM workspace behaves like a Podman one: same image, same agent, same
conditions and endpoints. One workspace is:

- the domain ``wws-<uid>`` (:mod:`domain`): persistent, so it exists while stopped; its
  ``<metadata>`` names its Workspace, config hash, image and published ports;
- its disks (:mod:`disks`): the image's shared base disk, the root overlay
  ``workspaces/<uid>/root.qcow2`` and the home ``homes/wws-home-<uid>.img``;
- the agent's folders ``workspaces/<uid>/config`` and ``status`` (virtiofs shares);
- the organization's network ``wws-org-<org>`` (:mod:`network`), shared by its VMs.

All under ``<data-dir>/kvm/``. The kernel and initramfs (:mod:`bootfiles`) serve every
image; the domain type (``kvm`` or ``qemu``) is decided once per host (:mod:`acceleration`)
and reported in ``status.runtime.accelerator`` and the ``wws_kvm_acceleration_info`` metric.

Stopping is graceful: the ACPI power button (the guest's PID 1 stops the workspace, syncs
and powers off), then ``destroy`` after ``stop_timeout`` seconds. libvirt-python is
blocking: each public method runs in a worker thread, one lock per workspace.

NB: over 500 lines on purpose: this is the one class that implements the provider interface
for VMs, and each method is the short sequence of calls into :mod:`domain`, :mod:`disks`,
:mod:`network`, :mod:`bootfiles` and :mod:`acceleration`, where the work itself lives.
Splitting the methods across modules would scatter one lifecycle over several files.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import threading
import time
from collections.abc import AsyncIterator, Collection, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import libvirt
import prometheus_client

from providers import agentfiles, base, hostfirewall
from providers.libvirt import acceleration as accel
from providers.libvirt import bootfiles, daemon, disks, domain, events, naming, network
from providers.podman.folders import AgentFolders
from wws import logconfig

log = logconfig.get(__name__)

ACCELERATION_INFO = prometheus_client.Gauge(
    "wws_kvm_acceleration_info",
    "The domain type of this host's workspace VMs (1 for the one in use).",
    ["domain_type"],
)

#: libvirt error codes that mean the daemon is gone (not that a call was refused).
_UNAVAILABLE_CODES = {
    libvirt.VIR_ERR_SYSTEM_ERROR,
    libvirt.VIR_ERR_NO_CONNECT,
    libvirt.VIR_ERR_INVALID_CONN,
    libvirt.VIR_ERR_RPC,
    libvirt.VIR_ERR_AUTH_FAILED,
}
_RUNNING_STATES = {
    libvirt.VIR_DOMAIN_RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED,
    libvirt.VIR_DOMAIN_SHUTDOWN,  # shutting down: still running until it is off
}


def _is_true(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class LibvirtProvider(base.Provider):
    """The ``kvm`` provider. ``data_dir`` is WWS's data dir (files go to ``<it>/kvm``)."""

    name = "kvm"
    reports_changes = True

    def __init__(
        self,
        *,
        data_dir: Path,
        uri: str = daemon.DEFAULT_URI,
        start_daemon: bool = True,
        publish_ip: str = "127.0.0.1",
        stop_timeout: float = 30.0,
        kernel_package: str = bootfiles.KERNEL_PACKAGE,
        acceleration: str = "",
    ) -> None:
        self.layout = naming.Layout(data_dir.resolve() / "kvm")
        #: The agents' folders: the same layout as Podman's, under ``<data-dir>/kvm``.
        self.folders = AgentFolders(self.layout.root)
        self.uri = uri
        self.start_daemon = start_daemon
        self.publish_ip = publish_ip
        self.stop_timeout = stop_timeout
        self.kernel_package = kernel_package
        self.forced_acceleration = acceleration
        self._conn: libvirt.virConnect | None = None
        self._conn_guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._boot: bootfiles.BootFiles | None = None
        self._decision: accel.Decision | None = None

    @classmethod
    def from_settings(cls, settings: base.ProviderSettings) -> Self:
        """Options: ``uri`` (default ``qemu:///system``), ``start_daemon`` (default true),
        ``publish_ip``, ``stop_timeout`` seconds (default 30), ``kernel_package`` (default
        ``linux-image-cloud-amd64``), ``acceleration`` (``kvm``/``qemu``: skip the probe)."""
        options = settings.options
        return cls(
            data_dir=settings.data_dir,
            uri=options.get("uri") or os.environ.get("WWS_LIBVIRT_URI") or daemon.DEFAULT_URI,
            start_daemon=_is_true(options.get("start_daemon"), True),
            publish_ip=options.get("publish_ip") or "127.0.0.1",
            stop_timeout=float(options.get("stop_timeout") or 30),
            kernel_package=options.get("kernel_package") or bootfiles.KERNEL_PACKAGE,
            acceleration=options.get("acceleration") or "",
        )

    # --- lifecycle ------------------------------------------------------------------------

    async def open(self) -> None:
        await asyncio.to_thread(self._open)

    def _open(self) -> None:
        if self.start_daemon:
            daemon.ensure_daemon(self.uri)
        hostfirewall.ensure()
        self._connection()

    async def close(self) -> None:
        with self._conn_guard:
            if self._conn is not None:
                with contextlib.suppress(libvirt.libvirtError):
                    self._conn.close()
                self._conn = None

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

    async def list_leftovers(
        self, managed: Collection[base.ManagedObject]
    ) -> list[base.ManagedObject]:
        return await asyncio.to_thread(self._list_leftovers, list(managed))

    async def read_report(self, ref: base.WorkspaceRef) -> dict[str, Any] | None:
        path = self.layout.status_dir(ref.uid) / base.AGENT_REPORT_FILE
        return await asyncio.to_thread(agentfiles.read_report, path, uid=ref.uid)

    async def export_home(self, ref: base.WorkspaceRef, dest: Path) -> None:
        await asyncio.to_thread(self._export_home, ref, dest)

    async def import_home(
        self, ref: base.WorkspaceRef, source: Path, *, size_bytes: int = 0
    ) -> None:
        await asyncio.to_thread(self._import_home, ref, source, size_bytes)

    async def subscribe(self) -> AsyncIterator[base.Change]:
        async for change in events.subscribe(self.uri, self.folders):
            yield change

    async def acceleration(self) -> accel.Decision:
        """This host's decision (probing once when needed)."""
        return await asyncio.to_thread(self._acceleration)

    # --- plumbing -------------------------------------------------------------------------

    def _connection(self) -> libvirt.virConnect:
        with self._conn_guard:
            conn = self._conn
            if conn is not None:
                try:
                    if conn.isAlive():
                        return conn
                except libvirt.libvirtError:
                    pass
                with contextlib.suppress(libvirt.libvirtError):
                    conn.close()
                self._conn = None
            self._conn = daemon.connect(self.uri)
            return self._conn

    @contextlib.contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """libvirt errors as provider errors: a daemon that is gone is ProviderUnavailable."""
        try:
            yield
        except libvirt.libvirtError as error:
            code = error.get_error_code()
            message = error.get_error_message() or str(error)
            if code in _UNAVAILABLE_CODES or not self._alive():
                with self._conn_guard:
                    self._conn = None
                raise base.ProviderUnavailable(f"libvirt at {self.uri}: {message}") from error
            raise base.ProviderError(f"libvirt: {action}: {message}") from error

    def _alive(self) -> bool:
        conn = self._conn
        if conn is None:
            return False
        try:
            return bool(conn.isAlive())
        except libvirt.libvirtError:
            return False

    @contextlib.contextmanager
    def _lock(self, key: str) -> Iterator[None]:
        with self._locks_guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            yield

    def _lookup(self, uid: str) -> libvirt.virDomain | None:
        conn = self._connection()
        try:
            return conn.lookupByName(naming.domain_name(uid))
        except libvirt.libvirtError as error:
            if error.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise

    def _boot_files(self) -> bootfiles.BootFiles:
        if self._boot is None or not self._boot.initrd.is_file():
            self._boot = bootfiles.ensure_boot_files(self.layout.cache, package=self.kernel_package)
        return self._boot

    def _acceleration(self) -> accel.Decision:
        if self._decision is None:
            self._decision = accel.decide(
                self.layout.root / "acceleration.json",
                self._boot_files(),
                forced=self.forced_acceleration,
            )
            for kind in (accel.KVM, accel.TCG):
                ACCELERATION_INFO.labels(domain_type=kind).set(
                    1 if kind == self._decision.domain_type else 0
                )
        return self._decision

    # --- ensure ---------------------------------------------------------------------------

    def _ensure(self, desired: base.DesiredWorkspace) -> base.Observed:
        ref = desired.ref
        uid = ref.uid
        bound = log.bind(namespace=ref.namespace, name=ref.name, uid=uid)
        wanted_hash = desired.effective_config_hash()
        with self._lock(f"workspace/{uid}"), self._guard("ensure"):
            if self.folders.sync_config(uid, desired.config_files):
                bound.info("agent config updated", files=len(desired.config_files))
            dom = self._lookup(uid)
            if not desired.running:
                if dom is None:
                    disks.ensure_home(self.layout.home_disk(uid), desired.home_size_bytes, ref=ref)
                elif dom.isActive():
                    self._shutdown(dom, bound)
                return self._observed(ref, dom)
            previous_ports: tuple[base.PublishedPort, ...] = ()
            if dom is not None:
                meta = domain.meta_of_xml(dom.XMLDesc(0))
                previous_ports = meta.ports
                if meta.config_hash != wanted_hash:
                    # NB: the new image first, so a typo in it never takes the old VM down.
                    disks.image_info(desired.image)
                    bound.info(
                        "re-creating VM: config changed",
                        old_hash=meta.config_hash,
                        new_hash=wanted_hash,
                    )
                    self._remove_domain(dom, bound)
                    dom = None
            if dom is None:
                dom = self._create(desired, wanted_hash, previous_ports, bound)
            if not dom.isActive():
                dom = self._start(desired, dom, bound)
            elif dom.state()[0] == libvirt.VIR_DOMAIN_PAUSED:
                dom.resume()
            return self._observed(ref, dom)

    def _create(
        self,
        desired: base.DesiredWorkspace,
        wanted_hash: str,
        previous_ports: tuple[base.PublishedPort, ...],
        bound: Any,
    ) -> libvirt.virDomain:
        ref = desired.ref
        uid = ref.uid
        started = time.monotonic()
        base_disk, digest = disks.ensure_base_disk(self.layout, desired.image)
        decision = self._acceleration()
        self.layout.workspace_dir(uid).mkdir(parents=True, exist_ok=True)
        self.layout.status_dir(uid).mkdir(parents=True, exist_ok=True)
        if disks.ensure_home(self.layout.home_disk(uid), desired.home_size_bytes, ref=ref):
            bound.info("home disk created", path=str(self.layout.home_disk(uid)))
        disks.make_root_overlay(self.layout.root_disk(uid), base_disk)
        with self._lock(f"network/{ref.organization}"):
            self._ensure_network(ref.organization)
            meta = domain.Meta(
                namespace=ref.namespace,
                name=ref.name,
                uid=uid,
                organization=ref.organization,
                config_hash=wanted_hash,
                image=desired.image,
                image_digest=digest,
                ports=self._ports(desired.ports, previous_ports),
                acceleration=decision.domain_type,
            )
            dom = self._define(desired, meta)
        bound.info(
            "VM defined",
            domain=naming.domain_name(uid),
            image=desired.image,
            domain_type=decision.domain_type,
            seconds=round(time.monotonic() - started, 2),
        )
        return dom

    def _ports(
        self,
        wanted: tuple[base.PortSpec, ...],
        previous: tuple[base.PublishedPort, ...],
        *,
        fresh: bool = False,
    ) -> tuple[base.PublishedPort, ...]:
        """Host ports for ``wanted``: as asked, else the previous ones (stable endpoints
        across re-creation), else free ones."""
        before = {(p.name, p.container_port, p.protocol): p for p in previous}
        ports = []
        for spec in wanted:
            host_ip = spec.host_ip or self.publish_ip
            old = before.get((spec.name, spec.container_port, spec.protocol))
            if spec.host_port:
                host_port = spec.host_port
            elif old is not None and old.host_ip == host_ip and not fresh:
                host_port = old.host_port
            else:
                host_port = _free_port(host_ip)
            ports.append(
                base.PublishedPort(
                    name=spec.name,
                    container_port=spec.container_port,
                    host_ip=host_ip,
                    host_port=host_port,
                    protocol=spec.protocol,
                )
            )
        return tuple(ports)

    def _define(
        self, desired: base.DesiredWorkspace, meta: domain.Meta, uuid: str = ""
    ) -> libvirt.virDomain:
        ref = desired.ref
        uid = ref.uid
        boot = self._boot_files()
        env = {
            "WWS_NAMESPACE": ref.namespace,
            "WWS_NAME": ref.name,
            "WWS_UID": uid,
            "WWS_ORGANIZATION": ref.organization,
            **desired.env,
        }
        spec = domain.DomainSpec(
            ref=ref,
            meta=meta,
            domain_type=meta.acceleration or self._acceleration().domain_type,
            kernel=boot.kernel,
            initrd=boot.initrd,
            root_disk=self.layout.root_disk(uid),
            home_disk=self.layout.home_disk(uid),
            config_dir=self.layout.config_dir(uid),
            status_dir=self.layout.status_dir(uid),
            console_log=self.layout.console_log(uid),
            network=naming.network_name(ref.organization),
            vcpus=domain.vcpus_for(desired.cpu, os.cpu_count() or 1),
            memory_bytes=desired.memory_bytes or domain.DEFAULT_MEMORY_BYTES,
            env=env,
            uuid=uuid,
        )
        return self._connection().defineXML(domain.domain_xml(spec))

    def _start(
        self, desired: base.DesiredWorkspace, dom: libvirt.virDomain, bound: Any
    ) -> libvirt.virDomain:
        uid = desired.ref.uid
        started = time.monotonic()
        meta = domain.meta_of_xml(dom.XMLDesc(0))
        if not self.layout.root_disk(uid).is_file():  # removed behind WWS's back
            base_disk, _ = disks.ensure_base_disk(self.layout, meta.image or desired.image)
            disks.make_root_overlay(self.layout.root_disk(uid), base_disk)
        disks.ensure_home(self.layout.home_disk(uid), desired.home_size_bytes, ref=desired.ref)
        self.layout.status_dir(uid).mkdir(parents=True, exist_ok=True)
        # NB: the previous boot's report says nothing about this boot.
        (self.layout.status_dir(uid) / base.AGENT_REPORT_FILE).unlink(missing_ok=True)
        with self._lock(f"network/{desired.ref.organization}"):
            self._ensure_network(desired.ref.organization)
            # Redefined at every start: the current kernel/initramfs, and the ports checked.
            busy = [p for p in meta.ports if not _port_free(p.host_ip, p.host_port)]
            ports = meta.ports
            if busy:
                bound.warning("published ports taken: new ones", ports=[p.name for p in busy])
                ports = self._ports(desired.ports, tuple(p for p in meta.ports if p not in busy))
            meta = domain.Meta(**{**meta.__dict__, "ports": ports})
            dom = self._define(desired, meta, dom.UUIDString())
            try:
                dom.create()
            except libvirt.libvirtError as error:
                message = error.get_error_message() or ""
                if "hostfwd" not in message and "forwarding rule" not in message:
                    raise
                bound.warning("published port taken at start: new ones", error=message)
                meta = domain.Meta(**{**meta.__dict__, "ports": self._ports(desired.ports, ())})
                dom = self._define(desired, meta, dom.UUIDString())
                dom.create()
        bound.info("VM started", seconds=round(time.monotonic() - started, 2))
        return dom

    def _ensure_network(self, organization: str) -> None:
        conn = self._connection()
        name = naming.network_name(organization)
        try:
            net = conn.networkLookupByName(name)
        except libvirt.libvirtError as error:
            if error.get_error_code() != libvirt.VIR_ERR_NO_NETWORK:
                raise
            net = self._define_network(organization)
        if not net.isActive():
            net.create()
        if not net.autostart():
            net.setAutostart(True)
        self._apply_isolation()

    def _define_network(self, organization: str) -> libvirt.virNetwork:
        conn = self._connection()
        used = set()
        for other in conn.listAllNetworks():
            subnet = network.subnet_of(other.XMLDesc(0))
            if subnet is not None:
                used.add(subnet)
        last = ""
        for subnet in network.subnet_candidates(organization):
            if any(subnet.overlaps(other) for other in used):
                continue
            net = conn.networkDefineXML(network.network_xml(organization, subnet))
            try:
                net.create()
            except libvirt.libvirtError as error:  # the subnet is in use on the host
                last = error.get_error_message() or ""
                net.undefine()
                used.add(subnet)
                continue
            log.info("network created", organization=organization, subnet=str(subnet))
            return net
        raise base.ProviderError(f"no free subnet for organization {organization}: {last}")

    def _apply_isolation(self) -> None:
        conn = self._connection()
        networks = {}
        for net in conn.listAllNetworks():
            if net.name().startswith(naming.NETWORK_PREFIX):
                subnet = network.subnet_of(net.XMLDesc(0))
                if subnet is not None:
                    networks[net.bridgeName()] = subnet
        network.apply_isolation(networks)

    # --- stop / delete --------------------------------------------------------------------

    def _stop(self, ref: base.WorkspaceRef) -> None:
        bound = log.bind(namespace=ref.namespace, name=ref.name, uid=ref.uid)
        with self._lock(f"workspace/{ref.uid}"), self._guard("stop"):
            dom = self._lookup(ref.uid)
            if dom is not None and dom.isActive():
                self._shutdown(dom, bound)

    def _shutdown(self, dom: libvirt.virDomain, bound: Any) -> None:
        """ACPI power button, then ``destroy`` after :attr:`stop_timeout` seconds."""
        started = time.monotonic()
        with contextlib.suppress(libvirt.libvirtError):
            dom.shutdownFlags(libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN)
        deadline = started + self.stop_timeout
        while time.monotonic() < deadline:
            if not dom.isActive():
                bound.info("VM shut down", seconds=round(time.monotonic() - started, 2))
                return
            time.sleep(0.2)
        with contextlib.suppress(libvirt.libvirtError):
            dom.destroy()
        bound.warning("VM did not shut down in time: destroyed", timeout_seconds=self.stop_timeout)

    def _remove_domain(self, dom: libvirt.virDomain, bound: Any) -> None:
        """Shut down and undefine (the root overlay is replaced by the next create)."""
        if dom.isActive():
            self._shutdown(dom, bound)
        with contextlib.suppress(libvirt.libvirtError):
            dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
        bound.info("VM removed", domain=dom.name())

    def _delete(self, ref: base.WorkspaceRef) -> None:
        bound = log.bind(namespace=ref.namespace, name=ref.name, uid=ref.uid)
        with self._lock(f"workspace/{ref.uid}"), self._guard("delete"):
            dom = self._lookup(ref.uid)
            if dom is not None:
                with contextlib.suppress(libvirt.libvirtError):
                    if dom.isActive():
                        dom.destroy()  # NB: deleting: nothing in the VM is worth waiting for
                with contextlib.suppress(libvirt.libvirtError):
                    dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
                bound.info("VM removed")
            home = self.layout.home_disk(ref.uid)
            if home.exists():
                home.unlink()
                bound.info("home disk removed")
            if self.layout.workspace_dir(ref.uid).exists():
                shutil.rmtree(self.layout.workspace_dir(ref.uid), ignore_errors=True)
                bound.info("VM folder removed")
        with self._guard("delete network"):
            self._remove_network_if_unused(ref.organization)

    def _remove_network_if_unused(self, organization: str) -> bool:
        conn = self._connection()
        name = naming.network_name(organization)
        with self._lock(f"network/{organization}"):
            for dom in conn.listAllDomains():
                if not dom.name().startswith(naming.DOMAIN_PREFIX):
                    continue
                try:
                    if domain.meta_of_xml(dom.XMLDesc(0)).organization == organization:
                        return False
                except libvirt.libvirtError:  # undefined meanwhile
                    continue
            try:
                net = conn.networkLookupByName(name)
            except libvirt.libvirtError:
                return False
            with contextlib.suppress(libvirt.libvirtError):
                if net.isActive():
                    net.destroy()
            with contextlib.suppress(libvirt.libvirtError):
                net.undefine()
            self._apply_isolation()
        log.info("network removed", organization=organization, network=name)
        return True

    # --- moving the home (providers.homes) -------------------------------------------------

    def _require_stopped(self, ref: base.WorkspaceRef) -> None:
        dom = self._lookup(ref.uid)
        if dom is not None and dom.isActive():
            raise base.ProviderError("the workspace runs: stop it before its home is moved")

    def _export_home(self, ref: base.WorkspaceRef, dest: Path) -> None:
        with self._lock(f"workspace/{ref.uid}"), self._guard("export home"):
            self._require_stopped(ref)
            disks.export_home(self.layout.home_disk(ref.uid), dest)

    def _import_home(self, ref: base.WorkspaceRef, source: Path, size_bytes: int) -> None:
        with self._lock(f"workspace/{ref.uid}"), self._guard("import home"):
            self._require_stopped(ref)
            disks.import_home(self.layout.home_disk(ref.uid), source, size_bytes, ref=ref)

    # --- observe --------------------------------------------------------------------------

    def _observe(self, ref: base.WorkspaceRef) -> base.Observed:
        with self._guard("observe"):
            return self._observed(ref, self._lookup(ref.uid))

    def _observed(self, ref: base.WorkspaceRef, dom: libvirt.virDomain | None) -> base.Observed:
        home = self.layout.home_disk(ref.uid).is_file()
        if dom is None:
            return base.Observed(state=base.State.ABSENT, home_exists=home)
        state, reason = dom.state()
        meta = domain.meta_of_xml(dom.XMLDesc(0))
        kind, message = _state_of(state, reason, self.layout.console_log(ref.uid))
        started_at = None
        if kind is base.State.RUNNING:
            pid_file = Path("/run/libvirt/qemu") / f"{dom.name()}.pid"
            with contextlib.suppress(OSError):
                started_at = datetime.fromtimestamp(pid_file.stat().st_mtime, tz=UTC)
        return base.Observed(
            state=kind,
            ports=meta.ports if kind is base.State.RUNNING else (),
            started_at=started_at,
            message=message,
            config_hash=meta.config_hash,
            image=meta.image,
            home_exists=home,
            runtime_id=dom.UUIDString(),
            accelerator=meta.acceleration,
        )

    # --- inventory ------------------------------------------------------------------------

    def _list_managed(self) -> list[base.ManagedObject]:
        with self._guard("list"):
            conn = self._connection()
            objects: list[base.ManagedObject] = []
            for dom in conn.listAllDomains():
                uid = naming.uid_of_domain(dom.name())
                if not uid:
                    continue
                try:
                    meta = domain.meta_of_xml(dom.XMLDesc(0))
                except libvirt.libvirtError:
                    continue
                objects.append(
                    base.ManagedObject(
                        kind="vm",
                        name=dom.name(),
                        uid=meta.uid or uid,
                        namespace=meta.namespace,
                        workspace=meta.name,
                        organization=meta.organization,
                    )
                )
            for net in conn.listAllNetworks():
                if net.name().startswith(naming.NETWORK_PREFIX):
                    objects.append(
                        base.ManagedObject(
                            kind="network",
                            name=net.name(),
                            organization=net.name().removeprefix(naming.NETWORK_PREFIX),
                        )
                    )
        homes = self.layout.homes
        for path in sorted(homes.glob("wws-home-*.img")) if homes.is_dir() else []:
            uid = path.name.removeprefix("wws-home-").removesuffix(".img")
            labels = disks.read_labels(path)
            objects.append(
                base.ManagedObject(
                    kind="disk",
                    name=path.name,
                    uid=uid,
                    namespace=labels.get("namespace", ""),
                    workspace=labels.get("name", ""),
                    organization=labels.get("organization", ""),
                )
            )
        return objects

    def _list_leftovers(self, managed: list[base.ManagedObject]) -> list[base.ManagedObject]:
        """Folders under ``workspaces/`` of UIDs with neither a domain nor a home disk."""
        held = {obj.uid for obj in managed if obj.uid}
        objects = []
        for uid in self.folders.uids():
            if uid in held:
                continue
            namespace, name = self.folders.owner(uid)
            objects.append(
                base.ManagedObject(
                    kind="folder",
                    name=uid,
                    uid=uid,
                    namespace=namespace,
                    workspace=name,
                    organization=namespace,
                )
            )
        return objects


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _console_tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    tail = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    return " | ".join(tail)[-300:]


def _state_of(state: int, reason: int, console: Path) -> tuple[base.State, str]:
    if state in _RUNNING_STATES:
        return base.State.RUNNING, ""
    if state == libvirt.VIR_DOMAIN_PAUSED:
        return base.State.STOPPED, "paused"
    if state == libvirt.VIR_DOMAIN_PMSUSPENDED:
        return base.State.STOPPED, "suspended"
    if state == libvirt.VIR_DOMAIN_CRASHED or (
        state == libvirt.VIR_DOMAIN_SHUTOFF and reason == libvirt.VIR_DOMAIN_SHUTOFF_CRASHED
    ):
        tail = _console_tail(console)
        return base.State.FAILED, f"the VM crashed (see {console}){': ' + tail if tail else ''}"
    if state == libvirt.VIR_DOMAIN_SHUTOFF:
        if reason == libvirt.VIR_DOMAIN_SHUTOFF_FAILED:
            return base.State.FAILED, f"the VM failed to start (see {console})"
        if reason == libvirt.VIR_DOMAIN_SHUTOFF_UNKNOWN:
            return base.State.CREATED, ""
        return base.State.STOPPED, ""
    return base.State.FAILED, f"the VM is in libvirt state {state} (reason {reason})"

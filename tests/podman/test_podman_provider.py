"""The Podman provider against a real Podman: containers, homes, networks, orphans."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from providers import base
from providers.podman import PodmanProvider, naming, service
from tests.support.podman import Factory, podman

pytestmark = pytest.mark.podman

GiB = 1024**3
MiB = 1024**2


def inspect(container: str) -> dict[str, Any]:
    result: list[dict[str, Any]] = json.loads(podman("container", "inspect", container).stdout)
    return result[0]


def sh(container: str, script: str, *, check: bool = True) -> str:
    return podman("exec", container, "bash", "-c", script, check=check).stdout


def events_of(uid: str) -> list[str]:
    """Podman's events about a workspace's container (create, init, start, ...)."""
    fmt = "{{.Type}} {{.Status}} {{.ID}}"
    label = f"label={naming.LABEL_UID}={uid}"
    return podman("events", "--stream=false", "--filter", label, "--format", fmt).stdout.split("\n")


def exists(kind: str, name: str) -> bool:
    return podman(kind, "exists", name, check=False).returncode == 0


async def test_ensure_runs_container_with_limits_labels_ports_and_home(
    provider: PodmanProvider, make_workspace: Factory
) -> None:
    desired = make_workspace("alice-api", cpu=1.5, memory_bytes=768 * MiB)
    ref = desired.ref

    observed = await provider.ensure(desired)

    assert observed.state is base.State.RUNNING, observed.message
    assert observed.home_exists
    assert observed.config_hash == desired.effective_config_hash()
    assert observed.started_at is not None
    name = naming.container_name(ref.uid)
    info = inspect(name)
    labels = info["Config"]["Labels"]
    assert labels[naming.LABEL_NAMESPACE] == ref.namespace
    assert labels[naming.LABEL_NAME] == "alice-api"
    assert labels[naming.LABEL_UID] == ref.uid
    assert labels[naming.LABEL_ORGANIZATION] == ref.organization
    assert labels[naming.LABEL_CONFIG_HASH] == observed.config_hash
    host_config = info["HostConfig"]
    assert host_config["Memory"] == 768 * MiB
    assert host_config["CpuQuota"] == 150_000 and host_config["CpuPeriod"] == 100_000
    assert host_config["RestartPolicy"]["Name"] in ("", "no")
    # The limits are those the kernel enforces (cgroup v1 inside the container).
    assert sh(name, "cat /sys/fs/cgroup/memory/memory.limit_in_bytes").strip() == str(768 * MiB)
    assert sh(name, "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us").strip() == "150000"
    # Ports: code-server and ssh on 127.0.0.1, host ports chosen by Podman and reported.
    assert {p.name for p in observed.ports} == {"code-server", "ssh"}
    for port in observed.ports:
        assert port.host_ip == "127.0.0.1" and port.host_port > 0
    assert observed.host_port("ssh") != observed.host_port("code-server")
    bindings = info["NetworkSettings"]["Ports"]
    assert int(bindings["22/tcp"][0]["HostPort"]) == observed.host_port("ssh")
    # The home volume, labelled, at /home; the organization's network.
    mounts = {m["Destination"]: m for m in info["Mounts"]}
    assert mounts["/home"]["Name"] == naming.home_volume_name(ref.uid)
    volume = json.loads(podman("volume", "inspect", naming.home_volume_name(ref.uid)).stdout)[0]
    assert volume["Labels"][naming.LABEL_UID] == ref.uid
    assert list(info["NetworkSettings"]["Networks"]) == [naming.network_name(ref.organization)]
    # The image's init is PID 1 and the base tools are there.
    assert sh(name, "cat /proc/1/comm").strip() == "wws-init"
    assert sh(name, "command -v zsh git sudo >/dev/null && echo ok").strip() == "ok"
    assert sh(name, "cat /run/wws/ready") != ""
    assert sh(name, "echo $WWS_NAMESPACE/$WWS_NAME").strip() == f"{ref.namespace}/alice-api"


async def test_ensure_is_idempotent(provider: PodmanProvider, make_workspace: Factory) -> None:
    desired = make_workspace()
    first = await provider.ensure(desired)
    events_before = events_of(desired.ref.uid)

    started = time.monotonic()
    second = await provider.ensure(desired)
    seconds = time.monotonic() - started

    assert second == first  # same container, same start time, same ports
    events_after = events_of(desired.ref.uid)
    assert events_after == events_before, "a converged ensure() must not touch the container"
    assert seconds < 0.5


async def test_home_survives_stop_start_and_recreate(
    provider: PodmanProvider, make_workspace: Factory
) -> None:
    desired = make_workspace(memory_bytes=512 * MiB)
    ref = desired.ref
    name = naming.container_name(ref.uid)
    first = await provider.ensure(desired)
    sh(name, "mkdir -p /home/alice && echo precious > /home/alice/notes.txt")

    await provider.stop(ref)
    stopped = await provider.observe(ref)
    assert stopped.state is base.State.STOPPED and stopped.exit_code == 0
    assert stopped.ports == first.ports  # published ports are kept while stopped

    restarted = await provider.ensure(desired)
    assert restarted.state is base.State.RUNNING
    assert restarted.runtime_id == first.runtime_id  # same container, started again
    assert sh(name, "cat /home/alice/notes.txt").strip() == "precious"

    changed = dataclasses.replace(desired, memory_bytes=1 * GiB, cpu=1.0)
    recreated = await provider.ensure(changed)
    assert recreated.state is base.State.RUNNING
    assert recreated.runtime_id != first.runtime_id  # a new container ...
    assert recreated.config_hash == changed.effective_config_hash()
    assert inspect(name)["HostConfig"]["Memory"] == 1 * GiB
    assert sh(name, "cat /home/alice/notes.txt").strip() == "precious"  # ... the same home


async def test_running_false_stops_and_true_starts_again(
    provider: PodmanProvider, make_workspace: Factory
) -> None:
    desired = make_workspace()
    name = naming.container_name(desired.ref.uid)
    await provider.ensure(desired)
    sh(name, "echo kept > /home/file")

    off = await provider.ensure(dataclasses.replace(desired, running=False))
    assert off.state is base.State.STOPPED
    assert (await provider.ensure(dataclasses.replace(desired, running=False))) == off

    on = await provider.ensure(desired)
    assert on.state is base.State.RUNNING
    assert sh(name, "cat /home/file").strip() == "kept"


async def test_not_running_from_scratch_makes_only_the_home(
    provider: PodmanProvider, make_workspace: Factory
) -> None:
    desired = make_workspace(running=False)
    observed = await provider.ensure(desired)
    assert observed.state is base.State.ABSENT and observed.home_exists
    assert not exists("container", naming.container_name(desired.ref.uid))


async def test_stop_is_quick_and_init_reaps_orphans(
    provider: PodmanProvider, make_workspace: Factory
) -> None:
    desired = make_workspace()
    name = naming.container_name(desired.ref.uid)
    await provider.ensure(desired)
    # An orphan: its parent exits at once, so it is re-parented to PID 1 and must be reaped.
    sh(name, "(sleep 0.2 &) ; true")
    time.sleep(1.0)
    states = sh(name, "cat /proc/[0-9]*/stat 2>/dev/null | awk '{print $2, $3}'")
    assert " Z" not in states, f"zombie left behind:\n{states}"

    started = time.monotonic()
    await provider.stop(desired.ref)
    assert time.monotonic() - started < 3.0, "SIGTERM must stop the workspace at once"
    observed = await provider.observe(desired.ref)
    assert observed.state is base.State.STOPPED and observed.exit_code == 0


async def test_delete_removes_container_home_and_network(
    provider: PodmanProvider, make_workspace: Factory
) -> None:
    desired = make_workspace()
    ref = desired.ref
    await provider.ensure(desired)
    assert exists("volume", naming.home_volume_name(ref.uid))

    await provider.delete(ref)

    assert not exists("container", naming.container_name(ref.uid))
    assert not exists("volume", naming.home_volume_name(ref.uid))
    assert not exists("network", naming.network_name(ref.organization))
    assert (await provider.observe(ref)) == base.Observed(state=base.State.ABSENT)
    await provider.delete(ref)  # deleting what is gone is fine


async def test_delete_from_failed_state(provider: PodmanProvider, make_workspace: Factory) -> None:
    desired = make_workspace()
    ref = desired.ref
    await provider.ensure(desired)
    podman("kill", naming.container_name(ref.uid))
    killed = await provider.observe(ref)
    assert killed.state is base.State.EXITED and killed.exit_code == 137

    await provider.delete(ref)
    assert not exists("container", naming.container_name(ref.uid))
    assert not exists("volume", naming.home_volume_name(ref.uid))


async def test_drift_removed_container_comes_back_with_home(
    provider: PodmanProvider, make_workspace: Factory
) -> None:
    desired = make_workspace()
    name = naming.container_name(desired.ref.uid)
    await provider.ensure(desired)
    sh(name, "echo survived > /home/f")
    podman("rm", "-f", "-t", "0", name)
    assert (await provider.observe(desired.ref)).state is base.State.ABSENT

    back = await provider.ensure(desired)
    assert back.state is base.State.RUNNING
    assert sh(name, "cat /home/f").strip() == "survived"


async def test_orphans_are_removed(provider: PodmanProvider, make_workspace: Factory) -> None:
    kept = make_workspace("kept")
    orphan = make_workspace("orphan")
    await provider.ensure(kept)
    await provider.ensure(orphan)
    managed = await provider.list_managed()
    assert {(m.kind, m.uid) for m in managed} >= {
        ("container", kept.ref.uid),
        ("volume", kept.ref.uid),
        ("container", orphan.ref.uid),
        ("volume", orphan.ref.uid),
    }
    # Everything WWS-labelled that is not ours (other tests, a developer's `wws up`) is known.
    others = {m.uid for m in managed if m.uid and m.uid != orphan.ref.uid}

    removed = await provider.remove_orphans(others)

    assert {(m.kind, m.uid) for m in removed if m.uid} == {
        ("container", orphan.ref.uid),
        ("volume", orphan.ref.uid),
    }
    assert not exists("container", naming.container_name(orphan.ref.uid))
    assert not exists("volume", naming.home_volume_name(orphan.ref.uid))
    assert (await provider.observe(kept.ref)).state is base.State.RUNNING


async def test_missing_image_raises_image_not_found(
    provider: PodmanProvider, make_workspace: Factory
) -> None:
    desired = make_workspace(image="localhost/wws/workspace:does-not-exist")
    with pytest.raises(base.ImageNotFound) as caught:
        await provider.ensure(desired)
    assert caught.value.image == "localhost/wws/workspace:does-not-exist"
    assert "wws image build" in caught.value.hint
    assert caught.value.reason == "ImageNotFound"
    assert not exists("container", naming.container_name(desired.ref.uid))


async def test_changing_to_a_missing_image_keeps_the_running_container(
    provider: PodmanProvider, make_workspace: Factory
) -> None:
    desired = make_workspace()
    before = await provider.ensure(desired)
    typo = dataclasses.replace(desired, image="localhost/wws/workspace:typo")
    with pytest.raises(base.ImageNotFound):
        await provider.ensure(typo)
    after = await provider.observe(desired.ref)
    assert after.state is base.State.RUNNING and after.runtime_id == before.runtime_id


async def test_ensure_is_close_to_raw_podman_run(
    provider: PodmanProvider,
    make_workspace: Factory,
    workspace_image: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """create+start through the provider vs ``podman run -d`` of the same image and command."""
    network = naming.network_name(f"raw{uuid.uuid4().hex[:6]}")
    podman("network", "create", "--opt", "isolate=true", network)
    raw_times, ensure_times = [], []
    # The organization's network exists in both cases (the raw one made it just above).
    await provider.ensure(make_workspace("warm-up"))
    try:
        for i in range(3):
            name = f"wws-rawbench-{uuid.uuid4().hex[:8]}"
            started = time.monotonic()
            podman(
                "run", "-d", "--name", name, "--network", network,
                "-p", "127.0.0.1::8080", "-p", "127.0.0.1::22",
                "--cpus", "1", "--memory", "512m", "-v", f"{name}-home:/home",
                workspace_image,
            )  # fmt: skip
            raw_times.append(time.monotonic() - started)
            podman("rm", "-f", "-t", "0", "-v", name)
            podman("volume", "rm", "-f", f"{name}-home")

            desired = make_workspace(f"bench{i}", cpu=1.0, memory_bytes=512 * MiB)
            started = time.monotonic()
            observed = await provider.ensure(desired)
            ensure_times.append(time.monotonic() - started)
            assert observed.state is base.State.RUNNING
    finally:
        podman("network", "rm", "-f", network, check=False)
    raw, ours = min(raw_times), min(ensure_times)
    with capsys.disabled():
        print(f"\n  raw podman run -d: {raw:.3f}s  ensure(): {ours:.3f}s  ratio {ours / raw:.2f}")
    assert ours <= max(1.5 * raw, raw + 0.3)


def test_service_is_started_when_no_socket_answers(podman_ready: None, tmp_path: Path) -> None:
    socket_path = tmp_path / "podman.sock"
    assert not service.ping(socket_path)
    svc = service.ensure_service(socket_path=socket_path)
    try:
        assert svc.process is not None and service.ping(socket_path)
        again = service.ensure_service(socket_path=socket_path)
        assert again.process is None  # found the running one, started nothing
    finally:
        svc.stop()
    assert not service.ping(socket_path)


async def test_closed_socket_is_provider_unavailable(tmp_path: Path) -> None:
    prov = PodmanProvider(socket_path=tmp_path / "none.sock", start_service=False)
    with pytest.raises(base.ProviderUnavailable):
        await prov.open()
    ref = base.WorkspaceRef("ns", "n", str(uuid.uuid4()), "org")
    with pytest.raises(base.ProviderUnavailable):
        await prov.observe(ref)


async def test_concurrent_ensures_share_one_network(
    provider: PodmanProvider, podman_service: service.Service, make_workspace: Factory
) -> None:
    """Many workspaces of a new organization at once, from two provider instances (as two
    controller processes would): every one runs, on the one network, on distinct ports."""
    other = PodmanProvider(socket_path=podman_service.socket_path, start_service=False)
    await other.open()
    try:
        wanted = [make_workspace(f"c{i}") for i in range(6)]
        results = await asyncio.gather(
            *((provider if i % 2 else other).ensure(d) for i, d in enumerate(wanted))
        )
    finally:
        await other.close()
    assert all(r.state is base.State.RUNNING for r in results), [r.message for r in results]
    host_ports = [p.host_port for r in results for p in r.ports]
    assert len(set(host_ports)) == len(host_ports)
    networks = podman("network", "ls", "--format", "{{.Name}}").stdout.split()
    assert networks.count(naming.network_name(wanted[0].ref.organization)) == 1

"""Moving a home between Podman and KVM (providers.homes): podman → kvm → podman with
every file's content, owner, mode, link and timestamps checked, and a failed move that
leaves the old home untouched. Real Podman volumes, real ext4 home disks (loop-mounted);
no workspace needs to boot, since a home moves while its workspace is stopped."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from providers import base, homes
from providers.libvirt import LibvirtProvider
from providers.podman import PodmanProvider, naming, service
from tests.support.podman import podman

pytestmark = [pytest.mark.kvm, pytest.mark.podman]

STAMP = 981_173_106_123_456_789  # 2001-02-03 04:05:06.123456789 UTC, in ns


def populate(home: Path) -> None:
    """A home with what homes have: owners, modes, links, times, sparse and binary files."""
    alice = home / "alice"
    (alice / ".ssh").mkdir(parents=True)
    (alice / "src" / "deep" / "er").mkdir(parents=True)
    (alice / ".zshrc").write_text("export EDITOR=vim\n")
    (alice / ".ssh" / "id_ed25519").write_bytes(os.urandom(400))
    (alice / ".ssh" / "id_ed25519").chmod(0o600)
    (alice / ".ssh").chmod(0o700)
    (alice / "src" / "deep" / "er" / "main.py").write_text("print('hi')\n")
    (alice / "src" / "run.sh").write_text("#!/bin/sh\necho run\n")
    (alice / "src" / "run.sh").chmod(0o755)
    (alice / "src" / "empty").write_bytes(b"")
    (alice / "src" / "name with spaces ü.txt").write_text("unicode\n")
    with (alice / "src" / "sparse.img").open("wb") as handle:
        handle.seek(32 * 1024 * 1024)
        handle.write(b"end")
    (alice / "link-rel").symlink_to("src/run.sh")
    (alice / "link-abs").symlink_to("/etc/hostname")
    (alice / "link-dangling").symlink_to("nowhere")
    os.link(alice / "src" / "run.sh", alice / "src" / "run-hardlink.sh")
    (home / ".wws" / "state").mkdir(parents=True)
    (home / ".wws" / "state" / "bootstrap.json").write_text('{"done": true}\n')
    for path in [p for p in alice.rglob("*")] + [alice]:
        os.chown(path, 1000, 1000, follow_symlinks=False)
    os.chown(alice / "src" / "empty", 1234, 5678)
    (home / ".wws").chmod(0o700)
    for path in sorted(home.rglob("*"), key=lambda p: -len(p.parts)):
        os.utime(path, ns=(STAMP, STAMP), follow_symlinks=False)


@pytest.fixture
async def both(
    podman_service: service.Service,
    data_dir: Path,
) -> AsyncIterator[tuple[PodmanProvider, LibvirtProvider]]:
    pod = PodmanProvider(
        socket_path=podman_service.socket_path, start_service=False, data_dir=data_dir
    )
    kvm = LibvirtProvider(data_dir=data_dir, start_daemon=False)
    await pod.open()
    await kvm.open()
    yield pod, kvm
    await kvm.close()
    await pod.close()


def _ref() -> base.WorkspaceRef:
    org = f"t{uuid.uuid4().hex[:8]}"
    return base.WorkspaceRef(namespace=org, name="mover", uid=str(uuid.uuid4()), organization=org)


def volume_path(uid: str) -> Path:
    out = podman("volume", "inspect", "--format", "{{.Mountpoint}}", naming.home_volume_name(uid))
    return Path(out.stdout.strip())


async def test_podman_to_kvm_and_back_keeps_every_file(
    both: tuple[PodmanProvider, LibvirtProvider],
    workspace_image: str,
    tmp_path: Path,
) -> None:
    pod, kvm = both
    ref = _ref()
    try:
        # a stopped Podman workspace: its home volume, filled
        await pod.ensure(base.DesiredWorkspace(ref=ref, image=workspace_image, running=False))
        populate(volume_path(ref.uid))
        original = homes.manifest(volume_path(ref.uid))
        assert len(original) > 15

        steps: list[str] = []

        async def progress(message: str) -> None:
            steps.append(message)

        moved = await homes.move_home(
            pod, kvm, ref, work=tmp_path / "w1", size_bytes=1024**3, progress=progress
        )
        assert moved == len(original)
        assert [s.split(" ")[0] for s in steps] == [
            "stopping", "copying", "copying", "verifying", "removing",
        ]  # fmt: skip
        # the old runtime's objects are gone, the new home is there
        assert not (await pod.observe(ref)).home_exists
        assert (await kvm.observe(ref)).home_exists
        assert podman("volume", "exists", naming.home_volume_name(ref.uid), check=False).returncode

        # ... and back
        await homes.move_home(kvm, pod, ref, work=tmp_path / "w2")
        assert not (await kvm.observe(ref)).home_exists
        back = homes.manifest(volume_path(ref.uid))
        assert homes.differences(original, back) == []
        assert back == original  # content, owners, modes, links, times of every entry
        link = volume_path(ref.uid) / "alice" / "src" / "run-hardlink.sh"
        assert link.stat().st_nlink == 2  # hard links stay hard links
        sparse = volume_path(ref.uid) / "alice" / "src" / "sparse.img"
        assert sparse.stat().st_blocks * 512 < 1024 * 1024  # and sparse files sparse
    finally:
        await pod.delete(ref)
        await kvm.delete(ref)


async def test_a_failed_move_leaves_the_old_home_untouched(
    both: tuple[PodmanProvider, LibvirtProvider],
    workspace_image: str,
    tmp_path: Path,
) -> None:
    pod, _ = both
    ref = _ref()
    # a kvm provider whose homes folder cannot be made (a file is in its way)
    blocked = tmp_path / "blocked"
    (blocked / "kvm").mkdir(parents=True)
    (blocked / "kvm" / "homes").write_text("not a folder")
    kvm = LibvirtProvider(data_dir=blocked, start_daemon=False)
    await kvm.open()
    try:
        await pod.ensure(base.DesiredWorkspace(ref=ref, image=workspace_image, running=False))
        populate(volume_path(ref.uid))
        original = homes.manifest(volume_path(ref.uid))
        with pytest.raises(homes.HomeMoveFailed, match="untouched") as caught:
            await homes.move_home(pod, kvm, ref, work=tmp_path / "w")
        assert caught.value.reason == "HomeMoveFailed"
        assert (await pod.observe(ref)).home_exists
        assert homes.manifest(volume_path(ref.uid)) == original
    finally:
        await pod.delete(ref)
        await kvm.close()


def test_manifest_sees_a_changed_mode_owner_time_and_content(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        root.mkdir()
        (root / "f").write_text("x")
        os.utime(root / "f", ns=(STAMP, STAMP))
    assert homes.differences(homes.manifest(a), homes.manifest(b)) == []
    (b / "f").chmod(0o600)
    os.chown(b / "f", 1000, 1000)
    assert homes.differences(homes.manifest(a), homes.manifest(b)) == ["f: mode, uid, gid differ"]
    (b / "f").write_text("y")
    assert "sha256" in homes.differences(homes.manifest(a), homes.manifest(b))[0]
    asyncio.run(asyncio.sleep(0))

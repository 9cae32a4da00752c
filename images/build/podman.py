"""Podman's side of an image build: the base layer imported from a root (``tar | podman
import``), the small top layer built on it (``podman build``, COPY only), the images'
labels, and old images removed once nothing uses them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from images.build import errors, recipe, rootfs, runner
from providers.podman import service as podman_service

RECIPE_LABEL = "wws.dev/recipe-hash"
BASE_LABEL = "wws.dev/base-hash"


def run_podman(*args: str) -> subprocess.CompletedProcess[str]:
    podman = shutil.which("podman")
    if podman is None:
        raise errors.ImageBuildError("podman is not installed (run `bash deploy/host-setup.sh`)")
    return subprocess.run(
        [podman, *args],
        env=podman_service.podman_env(),
        capture_output=True,
        text=True,
        check=False,
    )


def image_recipe_hash(image: str) -> str | None:
    """The recipe hash label of ``image`` ("" when unlabelled); ``None`` when missing."""
    result = run_podman("image", "inspect", image)
    if result.returncode != 0:
        return None
    info = json.loads(result.stdout or "[]")
    if not info:
        return None
    labels = (info[0].get("Config") or {}).get("Labels") or info[0].get("Labels") or {}
    return str(labels.get(RECIPE_LABEL, ""))


def _image_id(image: str) -> str | None:
    result = run_podman("image", "inspect", "--format", "{{.Id}}", image)
    return result.stdout.strip() if result.returncode == 0 else None


def base_image_name(image: str, base_hash: str) -> str:
    """``localhost/wws/workspace:bookworm`` → ``localhost/wws/workspace-base:<hash>``."""
    repository = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    return f"{repository}-base:{base_hash[:16]}"


def import_base(
    rootfs: Path, *, image: str, base_hash: str, log_path: Path, progress: runner.Progress
) -> None:
    podman = shutil.which("podman")
    if podman is None:
        raise errors.ImageBuildError("podman is not installed (run `bash deploy/host-setup.sh`)")
    previous = _image_id(image)
    progress(f"import: podman import → {image}")
    tar = subprocess.Popen(
        ["tar", "-C", str(rootfs), "--numeric-owner", "--xattrs", "-cf", "-", "."],
        stdout=subprocess.PIPE,
    )
    assert tar.stdout is not None
    try:
        runner.run(
            [
                podman,
                "import",
                "--change",
                f'CMD ["{recipe.INIT_PATH}"]',
                "--change",
                "STOPSIGNAL SIGTERM",
                "--change",
                f"ENV LANG={recipe.LOCALE}",
                "--change",
                f"LABEL {BASE_LABEL}={base_hash}",
                "--change",
                "LABEL wws.dev/image=workspace-base",
                "--message",
                f"wws image build: base {base_hash[:12]}",
                "-",
                image,
            ],
            step="import",
            log_path=log_path,
            progress=progress,
            env=podman_service.podman_env(),
            stdin=tar.stdout.fileno(),
        )
    finally:
        tar.stdout.close()
        if tar.wait() != 0:
            raise errors.ImageBuildError(f"tar of {rootfs} failed (exit {tar.returncode})")
    current = _image_id(image)
    if previous and previous != current:
        # The old build is now untagged; it stays only while containers still use it.
        run_podman("rmi", previous)


def build_top(
    *, base_image: str, image: str, digest: str, build_dir: Path, recipe_dir: Path,
    log_path: Path, progress: runner.Progress,
) -> None:  # fmt: skip
    """``podman build`` of the top layer on ``base_image`` (no container runs: COPY only)."""
    podman = shutil.which("podman")
    if podman is None:
        raise errors.ImageBuildError("podman is not installed (run `bash deploy/host-setup.sh`)")
    context = build_dir / "top"
    rootfs.remove_tree(context)
    top_context(context, recipe_dir=recipe_dir, image=image, digest=digest)
    (context / "Containerfile").write_text(
        f"FROM {base_image}\n"
        f"COPY wws-init {recipe.INIT_PATH}\n"
        f"COPY lib/ {recipe.LIB_PATH}/\n"
        "COPY image /etc/wws/image\n"
        f'LABEL {RECIPE_LABEL}="{digest}" wws.dev/image="workspace" '
        f'wws.dev/base-image="{base_image}"\n'
    )
    previous = _image_id(image)
    progress(f"top layer: init, agent, languages, boot hooks → {image}")
    runner.run(
        [podman, "build", "--pull=never", "--quiet", "--layers=false", "-t", image,
         "-f", str(context / "Containerfile"), str(context)],
        step="top layer",
        log_path=log_path,
        progress=progress,
        env=podman_service.podman_env(),
    )  # fmt: skip
    current = _image_id(image)
    if previous and previous != current:
        run_podman("rmi", previous)  # untagged now; kept only while containers use it


def remove_old_bases(base_image: str) -> None:
    """Other bases of the same repository that no image or container uses any more."""
    repository = base_image.rsplit(":", 1)[0]
    listed = run_podman("images", "--format", "{{.Repository}}:{{.Tag}}", repository)
    for name in listed.stdout.split():
        if name != base_image and name.startswith(repository + ":"):
            run_podman("rmi", name)  # refused (and kept) while something still uses it


def image_base_hash(image: str) -> str | None:
    """The base hash label of a base image; ``None`` when missing."""
    result = run_podman("image", "inspect", "--format", "{{json .Labels}}", image)
    if result.returncode != 0:
        return None
    labels = json.loads(result.stdout or "null") or {}
    return str(labels.get(BASE_LABEL, ""))


def top_context(context: Path, *, recipe_dir: Path, image: str, digest: str) -> None:
    """The build context of the top layer: the init, ``lib/`` (agent, languages, boot
    hooks) and the image's identity file."""
    lib = context / "lib"
    lib.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*~", "*.swp")
    for folder in recipe.TOP_FOLDERS:
        if (recipe_dir / folder).is_dir():
            shutil.copytree(recipe_dir / folder, lib / folder, ignore=ignore)
    (lib / "boot.d").mkdir(exist_ok=True)
    shutil.copy2(recipe_dir / "init" / "wws-init", context / "wws-init")
    (context / "wws-init").chmod(0o755)
    (context / "image").write_text(f"image={image}\nrecipe_hash={digest}\n")

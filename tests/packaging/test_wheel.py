"""The built wheel works outside the checkout: its packaged CRDs, recipe and configuration.

The wheel is built from a copy of the sources (so the checkout gets no ``build/`` or
``*.egg-info``) and installed with ``--no-deps`` into a fresh virtualenv in a temporary
folder; the dependencies come from this run's virtualenv through a ``.pth`` line (fast, and
no index needed). Everything then runs from that temporary folder, where no checkout is.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import sysconfig
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.storeproc import REPO

pytestmark = pytest.mark.slow

#: Never copied into the wheel's build: caches anywhere; data, virtualenvs and earlier
#: builds at the top (NB: only there, ``images/build/`` is a package).
CACHES = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
TOP = {".git", ".venv", ".data", "data", "build", "dist", ".mypy_cache", ".ruff_cache",
       ".pytest_cache", ".import_linter_cache"}  # fmt: skip


def ignored(folder: str, names: list[str]) -> set[str]:
    found = set(CACHES(folder, names))
    return found | (TOP & set(names)) if Path(folder) == REPO else found


def run(*argv: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{argv} exited {result.returncode}:\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """(the fresh virtualenv, an environment that finds nothing of the checkout)."""
    folder = tmp_path_factory.mktemp("wheel")
    source = folder / "source"
    shutil.copytree(REPO, source, ignore=ignored)
    run(
        sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
        "--no-index", "--wheel-dir", folder / "dist", source, cwd=folder,
    )  # fmt: skip
    (wheel,) = (folder / "dist").glob("wws-*.whl")
    venv = folder / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    run(base, "-m", "venv", "--without-pip", venv, cwd=folder)
    python = venv / "bin" / "python"
    purelib = run(
        python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=folder
    )
    # The dependencies of this run's virtualenv, after the wheel's own packages on sys.path.
    Path(purelib.strip(), "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    run(
        sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps",
        "--no-index", wheel, cwd=folder,
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    yield venv, env


def test_the_installed_packages_are_the_wheels(installed: tuple[Path, dict[str, str]]) -> None:
    venv, env = installed
    script = (
        "import json, api, crds, images, statestore, wws\n"
        "from images.build import recipe\n"
        "from providers.podman import service\n"
        "from wws import manifests\n"
        "print(json.dumps({'wws': wws.__file__, 'crds': str(crds.folder()),"
        " 'manifests': len(manifests.documents(manifests.SHIPPED)),"
        " 'recipe': str(recipe.RECIPE_DIR), 'conf': str(service.CONTAINERS_CONF),"
        " 'hash': recipe.recipe_hash()}))"
    )
    where = json.loads(run(venv / "bin" / "python", "-c", script, cwd=venv, env=env))
    for key in ("wws", "crds", "recipe", "conf"):
        assert Path(where[key]).is_relative_to(venv), (key, where[key])
        assert not Path(where[key]).is_relative_to(REPO), (key, where[key])
    assert sorted(p.name for p in Path(where["crds"]).glob("*.yaml")) == sorted(
        p.name for p in (REPO / "crds").glob("*.yaml")
    )
    assert (
        Path(where["conf"]).read_text()
        == (REPO / "providers" / "podman" / "containers.conf").read_text()
    )
    # The roles, policies and rights that wws up applies are there (none is skipped).
    from wws import manifests

    assert where["manifests"] == len(manifests.documents(manifests.SHIPPED)) > 0
    # The recipe (agent, scripts, executable bits) arrived whole: the same image is built.
    from images.build import recipe

    assert where["hash"] == recipe.recipe_hash()


#: The folders of the Python distribution: every file git tracks in them ships in the wheel.
PACKAGES = ("api", "statestore", "controller", "reconcilers", "providers", "webui", "wws",
            "devgithub", "images", "crds", "deploy")  # fmt: skip


def test_every_file_of_the_packages_is_in_the_wheel(
    installed: tuple[Path, dict[str, str]],
) -> None:
    """Templates, static files, recipes, manifests: whatever the code reads at run time is
    installed (a new kind of file that the package-data globs miss fails here)."""
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout: the tracked files are not known")
    venv, env = installed
    site = Path(run(venv / "bin" / "python", "-c", "import wws; print(wws.__file__)",
                    cwd=venv, env=env).strip()).parents[1]  # fmt: skip
    tracked = run("git", "ls-files", "--", *PACKAGES, cwd=REPO).split()
    missing = [rel for rel in tracked if not (site / rel).is_file() and (REPO / rel).is_file()]
    assert tracked and missing == []


def test_crds_generate_check_passes_from_the_wheel(installed: tuple[Path, dict[str, str]]) -> None:
    venv, env = installed
    result = subprocess.run(
        [venv / "bin" / "wws", "crds", "generate", "--check"],
        cwd=venv, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    stale = venv / "stale"
    shutil.copytree(Path(run(venv / "bin" / "python", "-c", "import crds; print(crds.folder())",
                             cwd=venv, env=env).strip()), stale)  # fmt: skip
    (stale / "workspaces.wws.dev.yaml").write_text("# edited by hand\n")
    result = subprocess.run(
        [venv / "bin" / "wws", "crds", "generate", "--check", "--out", stale],
        cwd=venv, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1
    assert "workspaces.wws.dev.yaml: differs from what api/ generates" in result.stderr


def test_store_serve_applies_the_packaged_crds(installed: tuple[Path, dict[str, str]]) -> None:
    venv, env = installed
    data = venv / "store"
    log = (venv / "store.log").open("wb")
    process = subprocess.Popen(
        [venv / "bin" / "wws", "store", "serve", "--data-dir", data, "--listen", "127.0.0.1:0",
         "--wws-crds"],
        cwd=venv, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        kubeconfig = data / "kubeconfig"
        resources: list[str] = []
        while time.monotonic() < deadline and "workspaces" not in resources:
            assert process.poll() is None, (venv / "store.log").read_text()[-3000:]
            time.sleep(0.2)
            if not kubeconfig.exists():
                continue
            config = yaml.safe_load(kubeconfig.read_text())
            server = config["clusters"][0]["cluster"]["server"]
            token = config["users"][0]["user"]["token"]
            context = ssl.create_default_context(cafile=str(data / "tls" / "ca.crt"))
            try:
                with urllib.request.urlopen(server + "/readyz", context=context, timeout=2) as r:
                    assert r.status == 200
                request = urllib.request.Request(
                    server + "/apis/wws.dev/v1alpha1", headers={"Authorization": f"Bearer {token}"}
                )
                with urllib.request.urlopen(request, context=context, timeout=2) as r:
                    resources = [item["name"] for item in json.load(r)["resources"]]
            except OSError:
                continue
        assert {"workspaces", "organizations", "teams"} <= set(resources), resources
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
    # NB: uvicorn ends by raising the SIGTERM again after a clean shutdown.
    assert process.returncode in (0, -signal.SIGTERM), (venv / "store.log").read_text()[-3000:]

"""LanguagesReady: the image's ``languages/<name>.sh`` installers, once per home and
version, with the Debian packages they ask for fetched once per home by the agent."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from wwsagent import errors, files, logs, processes, settings
from wwsagent.configuration import Config
from wwsagent.owner import User
from wwsagent.steps import Context


def run(ctx: Context, config: Config, user: User) -> None:
    wanted = [lang for lang in config.data.get("languages") or [] if isinstance(lang, dict)]
    entries = {
        str(lang["name"]): {"name": str(lang["name"]), "state": "Pending",
                            "version": None, "message": ""}
        for lang in wanted if lang.get("name")
    }  # fmt: skip
    # Keep what is already known of languages still wanted.
    for name in list(entries):
        known = ctx.report.languages.get(name)
        if known and known.get("state") == "Installed":
            entries[name] = dict(known)
    ctx.report.set_languages(entries)
    if not entries:
        ctx.report.set("LanguagesReady", "True", "NotRequested", "no languages")
        return
    failed: list[str] = []
    for lang in wanted:
        name = str(lang.get("name") or "")
        if not name or ctx.stopping.is_set():
            continue
        version = str(lang.get("version") or "")
        try:
            installed = install_language(ctx, user, name, version)
            ctx.report.set_language(name, state="Installed", version=installed, message="")
        except errors.StepError as error:
            failed.append(name)
            ctx.report.set_language(name, state="Failed", message=str(error))
        _summarise_languages(ctx)
    _summarise_languages(ctx)


def _summarise_languages(ctx: Context) -> None:
    entries = list(ctx.report.languages.values())
    failed = [e for e in entries if e.get("state") == "Failed"]
    pending = [e for e in entries if e.get("state") in ("Pending", "Installing")]
    if failed:
        ctx.report.set(
            "LanguagesReady",
            "False",
            "InstallFailed",
            "; ".join(f"{e['name']}: {e.get('message')}" for e in failed),
        )
    elif pending:
        ctx.report.set(
            "LanguagesReady",
            "Unknown",
            "Installing",
            "installing " + ", ".join(e["name"] for e in pending),
        )
    else:
        ctx.report.set(
            "LanguagesReady",
            "True",
            "Installed",
            ", ".join(f"{e['name']} {e.get('version')}" for e in entries),
        )


def _language_env(
    ctx: Context, user: User, name: str, version: str, debs: Path | None
) -> dict[str, str]:
    return user.env(
        WWS_LANGUAGE=name,
        WWS_LANGUAGE_VERSION=version,
        WWS_LANG_PREFIX=str(user.home / ".wws" / "languages" / name),
        WWS_DEBS=str(debs or ""),
        WWS_LIB_DIR=str(settings.LIB_DIR),
    )


def install_language(ctx: Context, user: User, name: str, version: str) -> str:
    """Install (once per home and version) and return the installed version."""
    script = settings.LANGUAGES_DIR / f"{name}.sh"
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name) or not script.is_file():
        raise errors.StepError(f"no installer for {name} in this image ({settings.LANGUAGES_DIR})")
    log_path = user.logs / "languages" / f"{name}.log"
    marker_name = f"language-{name}.json"
    marker = files.read_marker(marker_name)
    env = _language_env(ctx, user, name, version, None)
    if marker.get("requested") == version and marker.get("installed"):
        code, out = user.output([str(script), "version"], env=env)
        if code == 0 and out:
            return out.splitlines()[-1].strip()
        logs.log(
            f"language {name}: installed, but `version` fails now ({out[-200:]}): reinstalling"
        )
    ctx.report.set_language(name, state="Installing", message=f"log: {log_path}")
    _summarise_languages(ctx)
    logs.log_header(log_path, user, f"install {name} {version or '(default)'}")
    debs = fetch_debian_packages(ctx, user, name, version, script, log_path)
    env = _language_env(ctx, user, name, version, debs)
    user.mkdir(user.home / ".wws" / "languages")
    exit_code = ctx.run(
        user,
        [str(script), "install"],
        log_path=log_path,
        env=env,
        timeout=settings.LANGUAGE_TIMEOUT,
    )
    if debs is not None:
        shutil.rmtree(debs, ignore_errors=True)
    if exit_code != 0:
        what = "timed out" if exit_code is None else f"failed (exit {exit_code})"
        raise errors.StepError(f"install {what}; log: {log_path}")
    code, out = user.output([str(script), "version"], env=env)
    if code != 0 or not out:
        raise errors.StepError(
            f"installed, but `{name}.sh version` fails: {out[-200:]}; log: {log_path}"
        )
    installed = out.splitlines()[-1].strip()
    if version and installed != version and not installed.startswith(version + "."):
        raise errors.StepError(f"installed {name} {installed}, but {version} was asked for")
    logs.append_log(log_path, f"--- installed {name} {installed}")
    files.write_marker(
        marker_name, {"requested": version, "installed": installed, "at": logs.now_iso()}
    )
    logs.log(f"language {name} {installed} installed")
    return installed


def fetch_debian_packages(
    ctx: Context, user: User, name: str, version: str, script: Path, log_path: Path
) -> Path | None:
    """The Debian packages a language asks for (``<name>.sh packages``), with what they
    need beyond the image, downloaded once per home into /home/.wws/cache/apt and
    handed to the installer as a folder of .deb files (it extracts them into the home)."""
    env = _language_env(ctx, user, name, version, None)
    code, out = user.output([str(script), "packages"], env=env)
    if code != 0:
        raise errors.StepError(f"`{name}.sh packages` failed: {out[-200:]}")
    packages = out.split()
    if not packages:
        return None
    cache = settings.STATE_ROOT / "cache" / "apt"
    lists = cache / "lists"
    archives = cache / "archives"
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    (archives / "partial").mkdir(parents=True, exist_ok=True)
    options = [
        "-o", f"Dir::State::Lists={lists}",
        "-o", f"Dir::Cache::Archives={archives}",
        "-o", "Dir::Cache::pkgcache=", "-o", "Dir::Cache::srcpkgcache=",
        "-o", "APT::Sandbox::User=root",
    ]  # fmt: skip
    stamp = lists / ".updated"
    fresh = stamp.exists() and time.time() - stamp.stat().st_mtime < settings.APT_LISTS_MAX_AGE
    with open(log_path, "a", encoding="utf-8") as out_log:

        def apt(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
            out_log.write(f"$ apt-get {' '.join(args)}\n")
            out_log.flush()
            result = processes.run_root(["apt-get", *options, *args], check=False, timeout=timeout)
            out_log.write(result.stdout + result.stderr)
            out_log.flush()
            return result

        if not fresh:
            result = apt("update", "-q")
            if result.returncode != 0:
                raise errors.StepError(f"apt-get update failed; log: {log_path}")
            stamp.touch()
        simulate = apt("install", "-s", "-q", "--no-install-recommends", *packages)
        if simulate.returncode != 0:
            raise errors.StepError(
                f"Debian packages {' '.join(packages)} cannot be installed; log: {log_path}"
            )
        needed = re.findall(
            r"^Inst (\S+) (?:\[\S+\] )?\((\S+) .*?\[(\S+)\]\)", simulate.stdout, re.M
        )
        download = apt(
            "install", "--download-only", "-y", "-q", "--no-install-recommends", *packages
        )
        if download.returncode != 0:
            raise errors.StepError(f"downloading {' '.join(packages)} failed; log: {log_path}")
    debs = Path(tempfile.mkdtemp(prefix=f"wws-debs-{name}-"))
    debs.chmod(0o755)
    for package, pkg_version, arch in needed:
        filename = f"{package}_{pkg_version.replace(':', '%3a')}_{arch}.deb"
        source = archives / filename
        if not source.exists():
            shutil.rmtree(debs, ignore_errors=True)
            raise errors.StepError(f"{filename} is missing after the download; log: {log_path}")
        os.symlink(source, debs / filename)
    return debs

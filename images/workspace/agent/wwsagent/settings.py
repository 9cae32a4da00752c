"""Where the agent reads and writes, and its limits: one place for every path, port and
timeout (paths can be moved with ``WWS_*`` variables, for tests outside a workspace)."""

from __future__ import annotations

import os
from pathlib import Path

CONFIG_DIR = Path(os.environ.get("WWS_CONFIG_DIR", "/run/wws/config"))
STATUS_DIR = Path(os.environ.get("WWS_STATUS_DIR", "/run/wws/status"))
HOME_ROOT = Path(os.environ.get("WWS_HOME_ROOT", "/home"))
STATE_ROOT = HOME_ROOT / ".wws"
LIB_DIR = Path(os.environ.get("WWS_LIB_DIR", "/usr/local/lib/wws"))
LANGUAGES_DIR = LIB_DIR / "languages"
CODE_SERVER = Path(os.environ.get("WWS_CODE_SERVER", "/usr/lib/wws/bin/code-server"))
AUTHORIZED_KEYS_DIR = Path("/etc/wws/ssh/authorized_keys")
BOOT_ID_FILE = Path(os.environ.get("WWS_BOOT_ID_FILE", "/run/wws/boot-id"))
SUDOERS_FILE = Path("/etc/sudoers.d/wws-owner")

CONFIG_FILE = "workspace.json"
PASSWORD_FILE = "secrets/code-server-password"
TOKEN_FILE = "secrets/github-token"
CONFIG_VERSION = 1
REPORT_VERSION = 1

CODE_SERVER_PORT = 8080
SSH_PORT = 22
USER_ID = 1000
HEARTBEAT_SECONDS = 15.0
POLL_SECONDS = 1.0
DOTFILES_TIMEOUT = 120.0
BOOTSTRAP_TIMEOUT = 1800.0
LANGUAGE_TIMEOUT = 1200.0
APT_LISTS_MAX_AGE = 7 * 86400
LOG_LIMIT = 5 * 1024 * 1024
LOCALE = "en_US.UTF-8"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

CONDITIONS = (
    "UserReady",
    "SSHReady",
    "EditorReady",
    "DotfilesReady",
    "LanguagesReady",
    "BootstrapReady",
)

SSH_HOST_KEY_TYPES = ("ed25519", "ecdsa", "rsa")
#: Made in the background after sshd started with the others, then sshd reloaded: an RSA
#: key (for old clients only) took 13 s of a first boot under software emulation.
SSH_HOST_KEYS_LATER = ("rsa",)

#: The background steps' conditions and the part of workspace.json each one applies.
BACKGROUND_INPUTS = (
    ("DotfilesReady", "dotfiles"),
    ("LanguagesReady", "languages"),
    ("BootstrapReady", "bootstrap"),
)

"""Encryption at rest, configured as kube-apiserver's ``--encryption-provider-config``.

The file is an ``EncryptionConfiguration`` (``apiserver.config.k8s.io/v1``), so the same file
works for both. Providers: ``aesgcm`` (AES-GCM, 16/24/32-byte keys, with ``cryptography``),
``secretbox`` (XSalsa20-Poly1305, 32-byte keys, with PyNaCl, as ``cryptography`` has no
XSalsa20) and ``identity`` (plain). As in kube-apiserver, the first provider of a resource
encrypts what is written and every provider is tried for what is read, by the prefix the
value carries: ``k8s:enc:PROVIDER:v1:KEYNAME:`` then the nonce (12 bytes for AES-GCM, 24 for
secretbox) and the sealed data. AES-GCM authenticates the storage key with the value, so a
value cannot be moved to another object's row.

Unlike kube-apiserver, the store re-encrypts whatever was written with another provider or key
at start (see ``storage.Storage.reencrypt``), so after a rotation the old key can go from the
file after one restart.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.secret
import yaml
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

API_VERSIONS = ("apiserver.config.k8s.io/v1", "apiserver.config.k8s.io/v1beta1")
_SUPPORTED = ("aesgcm", "secretbox", "identity")
_KNOWN_UNSUPPORTED = ("aescbc", "kms")


class ConfigError(ValueError):
    """The configuration file is unusable; the message names the field."""


class DecryptError(ValueError):
    """A stored value no configured provider can read."""


@dataclass(frozen=True)
class _Key:
    provider: str
    name: str
    prefix: bytes
    seal: Callable[[bytes, bytes], bytes]
    open: Callable[[bytes, bytes], bytes]


def _aesgcm(name: str, secret: bytes) -> _Key:
    cipher = AESGCM(secret)

    def seal(data: bytes, context: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + cipher.encrypt(nonce, data, context)

    def open_(payload: bytes, context: bytes) -> bytes:
        return cipher.decrypt(payload[:12], payload[12:], context)

    return _Key("aesgcm", name, f"k8s:enc:aesgcm:v1:{name}:".encode(), seal, open_)


def _secretbox(name: str, secret: bytes) -> _Key:
    box = nacl.secret.SecretBox(secret)

    def seal(data: bytes, context: bytes) -> bytes:
        return bytes(box.encrypt(data))  # nonce (24 bytes) + MAC + ciphertext

    def open_(payload: bytes, context: bytes) -> bytes:
        return bytes(box.decrypt(payload))

    return _Key("secretbox", name, f"k8s:enc:secretbox:v1:{name}:".encode(), seal, open_)


@dataclass(frozen=True)
class Transformer:
    """The providers of one set of resources, in the file's order."""

    #: ``None`` for identity, else the key that encrypts writes.
    writer: _Key | None
    readers: tuple[_Key, ...]
    identity_reads: bool

    def to_storage(self, data: bytes, key: str) -> bytes:
        if self.writer is None:
            return data
        return self.writer.prefix + self.writer.seal(data, key.encode())

    def from_storage(self, value: bytes, key: str) -> tuple[bytes, bool]:
        """The plain value, and whether it is *stale* (not in the writer's form)."""
        if value.startswith(b"k8s:enc:"):
            for reader in self.readers:
                if value.startswith(reader.prefix):
                    try:
                        plain = reader.open(value[len(reader.prefix) :], key.encode())
                    except (InvalidTag, nacl.exceptions.CryptoError, ValueError) as error:
                        raise DecryptError(
                            f"{key}: the value does not decrypt with {reader.provider} key "
                            f"{reader.name!r} (wrong key?): {error or 'authentication failed'}"
                        ) from error
                    return plain, reader is not self.writer
            # k8s:enc:PROVIDER:v1:KEYNAME — the rest is ciphertext.
            shown = b":".join(value.split(b":", 5)[:5]).decode(errors="replace")
            raise DecryptError(
                f"{key}: stored with {shown!r}, which no provider in the encryption "
                "configuration has (add its key back as a later provider)"
            )
        if self.identity_reads:
            return value, self.writer is not None
        raise DecryptError(
            f"{key}: stored unencrypted, and the encryption configuration has no identity "
            "provider to read it (add `- identity: {}` as the last provider)"
        )


@dataclass(frozen=True)
class Config:
    """Which transformer serves which stored key (``GROUP/PLURAL/...``)."""

    rules: tuple[tuple[str, Transformer], ...]  # (resource pattern, transformer)

    def for_key(self, key: str) -> Transformer | None:
        group, plural, _ = key.split("/", 2)
        for pattern, transformer in self.rules:
            if _matches(pattern, group, plural):
                return transformer
        return None

    def covers(self, group: str, plural: str) -> bool:
        return any(_matches(p, group, plural) for p, _ in self.rules)


def _matches(pattern: str, group: str, plural: str) -> bool:
    """kube's resource names: ``secrets`` (core), ``widgets.example.com``, ``*.`` (every core
    resource), ``*.example.com`` (every resource of a group), ``*.*`` (everything)."""
    resource, _, pattern_group = pattern.partition(".")
    if resource == "*":
        return pattern_group in ("*", group)
    return resource == plural and pattern_group == group


def _decode_key(secret: Any, where: str, sizes: tuple[int, ...]) -> bytes:
    if not isinstance(secret, str) or not secret:
        raise ConfigError(f"{where}.secret: Required value: a base64-encoded key")
    try:
        raw = base64.b64decode(secret, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ConfigError(f"{where}.secret: Invalid value: not base64: {error}") from error
    if len(raw) not in sizes:
        raise ConfigError(
            f"{where}.secret: Invalid value: the key is {len(raw)} bytes; it must be "
            + " or ".join(str(s) for s in sizes)
            + " bytes"
        )
    return raw


def _provider_keys(kind: str, body: Any, where: str) -> list[_Key]:
    keys = body.get("keys") if isinstance(body, dict) else None
    if not isinstance(keys, list) or not keys:
        raise ConfigError(f"{where}.keys: Required value: at least one key")
    made: list[_Key] = []
    for index, entry in enumerate(keys):
        at = f"{where}.keys[{index}]"
        if not isinstance(entry, dict) or not entry.get("name"):
            raise ConfigError(f"{at}.name: Required value")
        name = str(entry["name"])
        if ":" in name:
            raise ConfigError(f"{at}.name: Invalid value: {name!r}: may not contain ':'")
        if kind == "aesgcm":
            made.append(_aesgcm(name, _decode_key(entry.get("secret"), at, (16, 24, 32))))
        else:
            made.append(_secretbox(name, _decode_key(entry.get("secret"), at, (32,))))
    return made


def parse(document: Any) -> Config:
    if not isinstance(document, dict):
        raise ConfigError("the file is not a YAML mapping")
    if document.get("kind") != "EncryptionConfiguration":
        raise ConfigError(
            f"kind: Invalid value: {document.get('kind')!r}: must be EncryptionConfiguration"
        )
    if document.get("apiVersion") not in API_VERSIONS:
        raise ConfigError(
            f"apiVersion: Invalid value: {document.get('apiVersion')!r}: must be "
            + " or ".join(API_VERSIONS)
        )
    entries = document.get("resources")
    if not isinstance(entries, list) or not entries:
        raise ConfigError("resources: Required value")
    rules: list[tuple[str, Transformer]] = []
    for index, entry in enumerate(entries):
        where = f"resources[{index}]"
        names = entry.get("resources") if isinstance(entry, dict) else None
        providers = entry.get("providers") if isinstance(entry, dict) else None
        if not isinstance(names, list) or not names:
            raise ConfigError(f"{where}.resources: Required value")
        if not isinstance(providers, list) or not providers:
            raise ConfigError(f"{where}.providers: Required value")
        readers: list[_Key] = []
        writer: _Key | None = None
        identity_reads = False
        for number, provider in enumerate(providers):
            at = f"{where}.providers[{number}]"
            if not isinstance(provider, dict) or len(provider) != 1:
                raise ConfigError(f"{at}: Invalid value: exactly one provider per entry")
            [(kind, body)] = provider.items()
            if kind in _KNOWN_UNSUPPORTED:
                raise ConfigError(
                    f"{at}.{kind}: Unsupported value: the WWS store supports "
                    + ", ".join(_SUPPORTED)
                )
            if kind not in _SUPPORTED:
                raise ConfigError(f"{at}: Unsupported value: {kind!r}")
            if kind == "identity":
                identity_reads = True
                continue
            keys = _provider_keys(kind, body, f"{at}.{kind}")
            if number == 0:
                writer = keys[0]
            readers.extend(keys)
        transformer = Transformer(writer, tuple(readers), identity_reads)
        for name_index, name in enumerate(names):
            if not isinstance(name, str) or not name:
                raise ConfigError(f"{where}.resources[{name_index}]: Invalid value")
            rules.append((name if "." in name else f"{name}.", transformer))
    return Config(tuple(rules))


def load(path: Path) -> Config:
    """Read ``--encryption-provider-config``; it holds keys, so it must be private (0600)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from error
    if mode & 0o077:
        raise ConfigError(
            f"{path} is readable by others (mode {oct(mode)}); it holds keys: chmod 600 {path}"
        )
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from error
    return parse(document)

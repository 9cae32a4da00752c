"""The store's TLS: a private CA kept in ``DIR/tls`` and serving certificates signed by it.

The CA key is kept (0600) so that a serving certificate can be renewed without clients having
to trust anything new: it is renewed well before it expires (a third of its life left) and
whenever the names it must carry change (the listen address, ``--tls-san``). Other serving
certificates (the web UI's OIDC issuer) come from the same CA through
:func:`sign_serving_cert`, so one ``ca.crt`` is all a client needs.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from statestore import filemodes
from wws import logconfig

log = logconfig.get(__name__)

CA_LIFETIME = datetime.timedelta(days=3650)
#: A CA with less than this left is replaced (clients get it from the rewritten kubeconfig).
CA_RENEW_BEFORE = datetime.timedelta(days=365)
SERVING_LIFETIME = datetime.timedelta(days=365)
#: Renewed with a third of its life left, as cert-manager does by default.
SERVING_RENEW_BEFORE = SERVING_LIFETIME / 3
_WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})


@dataclass(frozen=True)
class TLSFiles:
    cert: Path
    key: Path
    ca: Path | None  # the CA clients must trust (None: the cert is from a CA they know)


@dataclass(frozen=True)
class _CA:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _write(path: Path, data: bytes) -> None:
    """Write a file that only the owner may read, never briefly readable by others."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=filemodes.DIR_MODE)
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, filemodes.FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(temporary, filemodes.FILE_MODE)
    # NB: renamed into place, so a crash never leaves a half-written key or certificate.
    os.replace(temporary, path)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_ca(folder: Path) -> _CA | None:
    cert_path, key_path = folder / "ca.crt", folder / "ca.key"
    if not (cert_path.exists() and key_path.exists()):
        return None
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except ValueError as error:
        log.warning("store.tls_ca_unreadable", folder=str(folder), error=str(error))
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return None
    if cert.not_valid_after_utc - _now() < CA_RENEW_BEFORE:
        log.warning("store.tls_ca_expiring", expires=cert.not_valid_after_utc.isoformat())
        return None
    return _CA(cert, key)


def ensure_ca(folder: Path) -> _CA:
    """The CA of ``folder``, made (or remade) when missing, unreadable or near its end."""
    ca = _load_ca(folder)
    if ca is not None:
        return ca
    if (folder / "ca.crt").exists() and not (folder / "ca.key").exists():
        # Made by a version that threw the CA key away: nothing can be signed with it.
        log.warning("store.tls_ca_replaced", reason="the CA key was not kept")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "wws-store-ca")])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    _write(folder / "ca.key", _pem_key(key))
    _write(folder / "ca.crt", cert.public_bytes(serialization.Encoding.PEM))
    log.info("store.tls_ca_created", folder=str(folder))
    return _CA(cert, key)


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _names_of(cert: x509.Certificate) -> set[str]:
    try:
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return set()
    names = {str(n) for n in extension.value.get_values_for_type(x509.DNSName)}
    names |= {str(a) for a in extension.value.get_values_for_type(x509.IPAddress)}
    return names


def _canonical(names: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for name in names:
        name = name.strip().strip("[]")
        if not name:
            continue
        try:
            name = str(ipaddress.ip_address(name))
        except ValueError:
            name = name.lower()
        seen.setdefault(name, None)
    return list(seen)


def host_names() -> list[str]:
    """This host's names and addresses, for a store listening on every address."""
    names = [socket.gethostname(), socket.getfqdn()]
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            infos = socket.getaddrinfo(socket.gethostname(), None, family)
        except OSError:
            infos = []
        names.extend(str(info[4][0]) for info in infos)
    # The address of the default route (nothing is sent: a UDP socket only picks a route).
    for family, probe in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as udp:
                udp.connect((probe, 9))
                names.append(str(udp.getsockname()[0]))
        except OSError:
            pass
    return [n for n in _canonical(names) if not n.startswith("fe80:")]


def serving_names(host: str, extra: Iterable[str] = ()) -> list[str]:
    """The names the store's certificate must carry for ``--listen HOST:...`` and
    ``--tls-san``: never 0.0.0.0 (no client connects to it), but what clients dial."""
    names = ["localhost", "127.0.0.1", "::1"]
    if host in _WILDCARD_HOSTS:
        names.extend(host_names())
    else:
        names.append(host)
    names.extend(extra)
    return _canonical(names)


def renewal_reason(cert_path: Path, key_path: Path, ca: _CA, names: list[str]) -> str | None:
    """Why the certificate at ``cert_path`` must be made again (``None``: it is fine)."""
    if not (cert_path.exists() and key_path.exists()):
        return "missing"
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except ValueError:
        return "unreadable"
    if cert.issuer != ca.cert.subject:
        return "signed by another CA"
    try:
        cert.verify_directly_issued_by(ca.cert)
    except (ValueError, TypeError, InvalidSignature):
        return "signed by another CA"
    if cert.not_valid_after_utc - _now() < SERVING_RENEW_BEFORE:
        return "expiring"
    if _names_of(cert) != set(names):
        return "names changed"
    return None


def _issue(ca: _CA, names: list[str], common_name: str) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(min(now + SERVING_LIFETIME, ca.cert.not_valid_after_utc))
        .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), False
        )
        .sign(ca.key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _pem_key(key)


def sign_serving_cert(data_dir: Path, *, stem: str, names: Iterable[str]) -> TLSFiles:
    """A serving certificate ``DIR/tls/STEM.crt`` (key ``STEM.key``, 0600) for ``names``,
    signed by the store's CA, made again only when missing, expiring, or for other names.

    For ``wws up``: the web UI's HTTPS (its OIDC issuer) is then trusted by whatever trusts
    the store (``DIR/tls/ca.crt``, also in the kubeconfig)."""
    folder = data_dir / "tls"
    ca = ensure_ca(folder)
    wanted = _canonical(names)
    if not wanted:
        raise ValueError("a serving certificate needs at least one name")
    cert_path, key_path = folder / f"{stem}.crt", folder / f"{stem}.key"
    reason = renewal_reason(cert_path, key_path, ca, wanted)
    if reason is not None:
        cert, key = _issue(ca, wanted, f"wws-{stem}")
        _write(key_path, key)
        _write(cert_path, cert)
        log.info("store.tls_cert_issued", cert=str(cert_path), reason=reason, names=wanted)
    return TLSFiles(cert_path, key_path, folder / "ca.crt")


def self_signed(data_dir: Path, host: str, extra_names: Iterable[str] = ()) -> TLSFiles:
    """The store's own serving certificate (``DIR/tls/server.crt``) for ``--listen HOST``."""
    if host in _WILDCARD_HOSTS:
        log.warning(
            "store.listening_on_every_address",
            host=host or "*",
            detail="other hosts can reach the store; its certificate names this host's "
            "names and addresses (add others with --tls-san)",
        )
    return sign_serving_cert(data_dir, stem="server", names=serving_names(host, extra_names))

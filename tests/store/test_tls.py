"""The store's TLS (issue 8): a kept CA, renewal, the names in the certificate, one's own
certificate, and other serving certificates from the same CA."""

from __future__ import annotations

import datetime
import socket
import ssl
import stat
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from statestore import tls
from tests.support import tlscerts
from tests.support.kubeapi import Api
from tests.support.storeproc import StoreProcess


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _names(cert: x509.Certificate) -> set[str]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(n) for n in san.get_values_for_type(x509.DNSName)} | {
        str(a) for a in san.get_values_for_type(x509.IPAddress)
    }


def _served_cert(store: StoreProcess) -> x509.Certificate:
    host, port = store.url.removeprefix("https://").rsplit(":", 1)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((host, int(port)), timeout=10) as raw,
        context.wrap_socket(raw) as sock,
    ):
        der = sock.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def test_the_ca_key_is_kept_private_and_the_cert_names_the_address(tmp_path: Path) -> None:
    store = StoreProcess(tmp_path / "data").start()
    try:
        folder = store.data_dir / "tls"
        assert stat.S_IMODE((folder / "ca.key").stat().st_mode) == 0o600
        assert stat.S_IMODE((folder / "server.key").stat().st_mode) == 0o600
        served = _served_cert(store)
        assert served == _cert(folder / "server.crt")
        assert {"localhost", "127.0.0.1"} <= _names(served)
        life = served.not_valid_after_utc - served.not_valid_before_utc
        assert life <= datetime.timedelta(days=366)
        served.verify_directly_issued_by(_cert(folder / "ca.crt"))
    finally:
        store.stop()


def _forge_expiring(folder: Path) -> None:
    """Replace server.crt with one from the same CA that ends in ten days."""
    ca_cert = _cert(folder / "ca.crt")
    ca_key = serialization.load_pem_private_key((folder / "ca.key").read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    old = _cert(folder / "server.crt")
    key = serialization.load_pem_private_key((folder / "server.key").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(old.subject)
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=355))
        .not_valid_after(now + datetime.timedelta(days=10))
        .add_extension(
            old.extensions.get_extension_for_class(x509.SubjectAlternativeName).value, False
        )
        .sign(ca_key, hashes.SHA256())
    )
    (folder / "server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def test_the_serving_cert_is_renewed_before_expiry_and_when_names_change(
    tmp_path: Path,
) -> None:
    store = StoreProcess(tmp_path / "data")
    folder = store.data_dir / "tls"
    store.start()
    store.stop()
    ca_before = (folder / "ca.crt").read_bytes()
    _forge_expiring(folder)
    expiring = _cert(folder / "server.crt")
    store.start()
    try:
        renewed = _served_cert(store)
        assert renewed.serial_number != expiring.serial_number
        assert renewed.not_valid_after_utc - datetime.datetime.now(datetime.UTC) > (
            datetime.timedelta(days=300)
        )
        assert (folder / "ca.crt").read_bytes() == ca_before  # clients trust it still
        api = Api(store)
        try:
            assert api.get("/api/v1/namespaces").status_code == 200
        finally:
            api.close()
    finally:
        store.stop()
    # Unchanged names and a long life: the same certificate on the next start.
    store.start()
    store.stop()
    assert _cert(folder / "server.crt").serial_number == renewed.serial_number
    # Another name asked for: a new certificate with it.
    store.extra_args = ("--tls-san", "store.example.internal", "--tls-san", "10.1.2.3")
    store.start()
    try:
        names = _names(_served_cert(store))
        assert {"store.example.internal", "10.1.2.3", "127.0.0.1"} <= names
    finally:
        store.stop()


def test_listening_on_every_address_names_this_host_not_0_0_0_0(tmp_path: Path) -> None:
    store = StoreProcess(tmp_path / "data", listen="0.0.0.0:0").start()
    try:
        names = _names(_served_cert(store))
        assert "0.0.0.0" not in names
        assert socket.gethostname().lower() in names
        assert "127.0.0.1" in names
        assert "store.listening_on_every_address" in store.log_path.read_text()
    finally:
        store.stop()


def _own_ca_and_cert(folder: Path) -> tuple[Path, Path, Path]:
    return tlscerts.write_ca_and_server_cert(
        folder, ca_name="my-own-ca", server_name="mine", stem="mine"
    )


def test_a_certificate_of_ones_own(tmp_path: Path) -> None:
    ca, cert, key = _own_ca_and_cert(tmp_path / "mine")
    data_dir = tmp_path / "data"
    # The test harness trusts DIR/tls/ca.crt: there, it is the CA of one's own certificate.
    (data_dir / "tls").mkdir(parents=True)
    (data_dir / "tls" / "ca.crt").write_bytes(ca.read_bytes())
    store = StoreProcess(
        data_dir,
        extra_args=("--tls-cert-file", str(cert), "--tls-private-key-file", str(key)),
    ).start()
    try:
        assert _served_cert(store) == _cert(cert)
        config = store.config()
        cluster = config["clusters"][0]["cluster"]  # type: ignore[index]
        assert "certificate-authority-data" not in cluster
        api = Api(store)
        try:
            assert api.get("/api/v1/namespaces").status_code == 200
        finally:
            api.close()
        assert not (data_dir / "tls" / "server.crt").exists()
    finally:
        store.stop()


def test_another_serving_cert_from_the_same_ca(tmp_path: Path) -> None:
    files = tls.sign_serving_cert(tmp_path, stem="webui", names=["localhost", "127.0.0.1"])
    assert files.ca == tmp_path / "tls" / "ca.crt"
    cert = _cert(files.cert)
    cert.verify_directly_issued_by(_cert(files.ca))
    assert _names(cert) == {"localhost", "127.0.0.1"}
    assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
    # Made once: asked again for the same names, the same certificate.
    again = tls.sign_serving_cert(tmp_path, stem="webui", names=["127.0.0.1", "localhost"])
    assert _cert(again.cert).serial_number == cert.serial_number
    # The store's own certificate comes from the same CA.
    server = tls.self_signed(tmp_path, "127.0.0.1")
    _cert(server.cert).verify_directly_issued_by(_cert(files.ca))

"""A real mosquitto for the MQTT tests (and the outbox benchmark), started on free ports.

Each broker gets a generated config in a temporary directory: a plain listener and a TLS
listener, both on 127.0.0.1 with password auth (``allow_anonymous false``); the TLS listener
uses a server certificate for ``localhost``/``127.0.0.1`` signed by a CA generated at test time
with the ``cryptography`` package. A second, unrelated CA is made for "untrusted certificate"
tests. Persistence is on so a restarted broker keeps its retained messages.

If mosquitto is missing the tests are skipped, except with ``CI=true``, where they fail.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

MOSQUITTO_CANDIDATES = ("mosquitto", "/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


def find_binary(names: tuple[str, ...]) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def require_mosquitto() -> tuple[str, str]:
    """Paths of mosquitto and mosquitto_passwd; skip (fail under CI=true) if missing."""
    broker = find_binary(MOSQUITTO_CANDIDATES)
    passwd = find_binary(("mosquitto_passwd", "/usr/bin/mosquitto_passwd"))
    if broker is None or passwd is None:
        msg = "mosquitto and mosquitto_passwd are needed (apt-get install mosquitto)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return broker, passwd


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def make_ca(directory: Path,
            name: str) -> tuple[Path, ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name)).issuer_name(_name(name))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    path = directory / f"{name}.crt"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, key, cert


def make_server_cert(directory: Path, ca_key: ec.EllipticCurvePrivateKey,
                     ca_cert: x509.Certificate) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost")).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.crt", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, key_path)
    return cert_path, key_path


class Mosquitto:
    """One mosquitto process with its generated files in ``workdir``."""

    def __init__(self, workdir: Path) -> None:
        self.binary, passwd = require_mosquitto()
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = free_port()
        self.tls_port = free_port()
        self.username = "hipthrust-test"
        self.password = secrets.token_urlsafe(12)
        self.ca_file, ca_key, ca_cert = make_ca(workdir, "test-ca")
        self.untrusted_ca_file, _, _ = make_ca(workdir, "other-ca")
        cert, key = make_server_cert(workdir, ca_key, ca_cert)
        passwd_file = workdir / "passwd"
        # S603: our own mosquitto_passwd path and generated values, no shell involved.
        subprocess.run([passwd, "-b", "-c", str(passwd_file), self.username,  # noqa: S603
                        self.password], check=True, capture_output=True)
        (workdir / "data").mkdir(exist_ok=True)
        self.log_file = workdir / "mosquitto.log"
        lines = [
            "per_listener_settings false",
            "allow_anonymous false",
            f"password_file {passwd_file}",
            "persistence true",
            f"persistence_location {workdir / 'data'}/",
            f"log_dest file {self.log_file}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "max_queued_messages 10000",
            f"listener {self.port} {self.host}",
            f"listener {self.tls_port} {self.host}",
            f"cafile {self.ca_file}",
            f"certfile {cert}",
            f"keyfile {key}",
        ]
        if os.geteuid() == 0:
            lines.insert(0, "user root")  # as root, mosquitto needs this to read its files
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def tls_url(self) -> str:
        return f"mqtts://localhost:{self.tls_port}"

    def start(self, timeout_s: float = 10.0) -> None:
        assert self.proc is None, "already running"
        # S603: the argv is our own mosquitto path and generated config, no shell involved.
        self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)],  # noqa: S603
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout_s
        pending = {self.port, self.tls_port}
        while pending:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                log = self.log_file.read_text() if self.log_file.exists() else ""
                self.proc = None
                raise RuntimeError(f"mosquitto exited: {err}\n{log}")
            for port in list(pending):
                with socket.socket() as s:
                    s.settimeout(0.2)
                    if s.connect_ex((self.host, port)) == 0:
                        pending.discard(port)
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mosquitto did not open ports {pending} in {timeout_s} s")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop cleanly (SIGTERM: the persistence file is written)."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A broker shared by the whole session: use a unique topic prefix per test."""
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def mosquitto_fn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A broker of this test alone, for tests that stop and restart it."""
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto-fn"))
    broker.start()
    yield broker
    broker.stop()

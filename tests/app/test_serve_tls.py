"""`mediatrack serve --certfile --keyfile`: https (phones need it for Web NFC), with a
certificate made here as a hospital's own certificate authority would sign one."""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support.ports import free_port
from tests.support.wait import wait_for

MEDIATRACK = [sys.executable, "-c", "from app.cli import main; main()"]


@dataclass(frozen=True)
class Pki:
    ca: Path  # what the phones install
    cert: Path  # the server's certificate, signed by the CA
    key: Path
    other_key: Path  # a key that is not the certificate's


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA and a server certificate for 127.0.0.1 signed by it."""
    folder = tmp_path_factory.mktemp("pki")
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("Hospital test CA")).issuer_name(_name("Hospital test CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("mediatrack.test")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(folder / "ca.pem", folder / "server.pem", folder / "server.key",
              folder / "other.key")
    pki.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key.write_bytes(_pem_key(key))
    pki.other_key.write_bytes(_pem_key(ec.generate_private_key(ec.SECP256R1())))
    return pki


def _env(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIATRACK_")}
    env["MEDIATRACK_DATA_DIR"] = str(tmp_path / "data")
    env.update({f"MEDIATRACK_{k}": v for k, v in settings.items()})
    return env


def _serve(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([*MEDIATRACK, "serve", "--host", "127.0.0.1", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture
def https_server(pki: Pki, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    process = _serve(["--port", str(port), "--certfile", str(pki.cert), "--keyfile",
                      str(pki.key)], _env(tmp_path, PUBLIC_URL=url))
    trust = ssl.create_default_context(cafile=str(pki.ca))

    def up() -> bool:
        if process.poll() is not None:
            out = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"mediatrack serve exited: {out}")
        try:
            return httpx.get(f"{url}/login", verify=trust, timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(up, 60, "mediatrack serve to answer https")
    yield url
    process.terminate()
    process.wait(timeout=30)


def test_serves_https_with_a_secure_session_cookie(https_server: str, pki: Pki) -> None:
    trust = ssl.create_default_context(cafile=str(pki.ca))
    answer = httpx.get(f"{https_server}/login", verify=trust)
    assert answer.status_code == 200
    assert answer.url.scheme == "https"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("mediatrack_session=")
    assert "secure" in cookie.lower() and "httponly" in cookie.lower()
    # The certificate is the one given: a client that trusts only the system CAs refuses it.
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{https_server}/login")
    # Nothing listens in clear text on that port.
    with pytest.raises(httpx.TransportError):
        httpx.get(https_server.replace("https://", "http://") + "/login", timeout=5)


def test_settings_name_the_files_too(pki: Pki, tmp_path: Path) -> None:
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    env = _env(tmp_path, PUBLIC_URL=url, TLS_CERT_FILE=str(pki.cert), TLS_KEY_FILE=str(pki.key))
    process = _serve(["--port", str(port)], env)
    trust = ssl.create_default_context(cafile=str(pki.ca))

    def up() -> bool:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        try:
            return httpx.get(f"{url}/login", verify=trust, timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(up, 60, "mediatrack serve to answer https")
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=30)
    assert f"MediaTrack on {url}" in out


@pytest.mark.parametrize(
    ("files", "says"),
    [
        (("cert",), "needs both a certificate (--certfile) and its key (--keyfile)"),
        (("key",), "needs both a certificate (--certfile) and its key (--keyfile)"),
        (("cert", "other_key"), "it is not the certificate's key"),
        (("missing", "key"), "a file is missing or not PEM"),
    ],
)
def test_refuses_half_or_wrong_tls_settings(
    pki: Pki, tmp_path: Path, files: tuple[str, ...], says: str
) -> None:
    paths = {"cert": pki.cert, "key": pki.key, "other_key": pki.other_key,
             "missing": tmp_path / "no-such.pem"}
    args = []
    for name in files:
        option = "--keyfile" if "key" in name else "--certfile"
        args += [option, str(paths[name])]
    done = subprocess.run([*MEDIATRACK, "serve", "--port", str(free_port()), *args],
                          env=_env(tmp_path), capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 1
    assert says in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr

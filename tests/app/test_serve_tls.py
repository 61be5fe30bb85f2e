"""`mediatrack serve --certfile --keyfile`: https (phones need it for Web NFC), with a
certificate made here as a hospital's own certificate authority would sign one."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.cli import MEDIATRACK, cli_env
from tests.support.pki import Pki, make_pki
from tests.support.ports import free_port
from tests.support.wait import wait_for


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _serve(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([*MEDIATRACK, "serve", "--host", "127.0.0.1", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture
def https_server(pki: Pki, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    process = _serve(["--port", str(port), "--certfile", str(pki.cert), "--keyfile",
                      str(pki.key)], cli_env(tmp_path, PUBLIC_URL=url))
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
    env = cli_env(tmp_path, PUBLIC_URL=url, TLS_CERT_FILE=str(pki.cert), TLS_KEY_FILE=str(pki.key))
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
                          env=cli_env(tmp_path), capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 1
    assert says in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr

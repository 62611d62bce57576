"""ClickHouse over HTTPS: the store verifies the server's certificate against
SANDGUARD_CLICKHOUSE_CA_FILE and sends its credentials only over the verified connection.

This machine has no ClickHouse server, so the server end is a TLS listener of the test's
own on 127.0.0.1 that records what reaches it (a fake for what the real part cannot be
here; it answers 503, so the store reports the server unavailable after the handshake).
"""

from __future__ import annotations

import base64
import http.server
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from reporting.exceptions import StoreUnavailableError
from reporting.store import ClickHouseStore


def _ca(tmp: Path, name: str) -> tuple[Path, Path]:
    key, crt = tmp / f"{name}.key", tmp / f"{name}.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={name}",
         "-keyout", str(key), "-out", str(crt)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return key, crt


def _server_cert(tmp: Path, ca_key: Path, ca_crt: Path) -> tuple[Path, Path]:
    key, csr, crt, ext = tmp / "srv.key", tmp / "srv.csr", tmp / "srv.crt", tmp / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    subprocess.run(
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=clickhouse", "-keyout", str(key),
         "-out", str(csr)], check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    subprocess.run(
        ["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
         "-CAcreateserial", "-days", "1", "-extfile", str(ext), "-out", str(crt)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return key, crt


@dataclass
class TlsServer:
    url: str
    ca: Path
    logins: list[str] = field(default_factory=list)


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[TlsServer]:
    ca_key, ca_crt = _ca(tmp_path, "clickhouse-ca")
    key, crt = _server_cert(tmp_path, ca_key, ca_crt)
    logins: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _any(self) -> None:
            auth = self.headers.get("Authorization", "")
            user = self.headers.get("X-ClickHouse-User")
            if auth.startswith("Basic "):
                user = base64.b64decode(auth[6:]).decode().split(":", 1)[0]
            logins.append(user or "")
            self.send_response(503)
            self.end_headers()

        do_GET = do_POST = _any

        def log_message(self, *args: object) -> None:
            return None

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(crt), str(key))
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield TlsServer(f"https://127.0.0.1:{httpd.server_address[1]}", ca_crt, logins)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def test_an_untrusted_server_gets_no_credentials(tls_server: TlsServer, tmp_path: Path) -> None:
    _, rogue = _ca(tmp_path, "rogue")
    store = ClickHouseStore(url=tls_server.url, username="sink", password="s3cret", ca_file=rogue)
    with pytest.raises(StoreUnavailableError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        store.open()
    store.close()
    assert tls_server.logins == []


def test_a_trusted_server_gets_the_login_over_tls(tls_server: TlsServer) -> None:
    store = ClickHouseStore(url=tls_server.url, username="sink", password="s3cret", ca_file=tls_server.ca)
    with pytest.raises(StoreUnavailableError) as caught:
        store.open()  # the fake answers 503: past the handshake, nothing more
    store.close()
    assert "certificate" not in caught.value.reason.lower()
    assert "sink" in tls_server.logins

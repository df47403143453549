"""A real nginx for the tests, as Nginx Proxy Manager configures a proxy host: its own
config and logs in a temporary folder, free loopback ports, stopped with the test."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from plant import wait_until

# What NPM writes for a proxy host with "Websockets Support" on (the last three lines).
PROXY = """
            proxy_pass http://{upstream};
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $http_connection;
            proxy_http_version 1.1;
"""


def binary() -> str:
    return shutil.which("nginx") or "/usr/sbin/nginx"


class Nginx:
    def __init__(self, work: Path, servers: str):
        self.work = work
        (work / "logs").mkdir(parents=True, exist_ok=True)
        self.access_log = work / "logs" / "access.log"
        (work / "nginx.conf").write_text(
            f"daemon off; pid {work}/nginx.pid; error_log {work}/logs/error.log;\n"
            f"events {{}}\nhttp {{ access_log {self.access_log}; "
            f"client_body_temp_path {work}/body; proxy_temp_path {work}/proxy;\n"
            f"{servers}\n}}\n"
        )
        self.proc: subprocess.Popen | None = None

    def start(self, *urls: str) -> Nginx:
        conf = ["-c", str(self.work / "nginx.conf"), "-p", str(self.work)]
        self.proc = subprocess.Popen(
            [binary(), *conf, "-e", str(self.work / "logs" / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for url in urls:
            wait_until(lambda url=url: self._answers(url), 30, f"nginx at {url}")
        return self

    def _answers(self, url: str) -> bool:
        assert self.proc is not None and self.proc.poll() is None, self.errors()
        try:
            httpx.get(url, timeout=1, verify=False)
            return True
        except httpx.HTTPError:
            return False

    def errors(self) -> str:
        path = self.work / "logs" / "error.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def self_signed(folder: Path, *hosts: str) -> tuple[Path, Path]:
    """A certificate and key for ``hosts`` (the browser is told to accept it)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path

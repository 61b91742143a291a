"""TLS for the local endpoints: the function talks HTTPS to them as it does to AWS, so `aws:SecureTransport`
is what the wire says, and a TLS-only bucket policy is evaluated for real. One self-signed certificate for
127.0.0.1 per process; clients trust it through the standard `AWS_CA_BUNDLE` variable."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import tempfile
from functools import cache
from pathlib import Path
from socket import socket as Socket
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@cache
def certificate() -> tuple[Path, Path]:
    """(certificate, private key) PEM files for 127.0.0.1 and localhost, made once per process."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cfn-hook-archive local stack")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory = Path(tempfile.mkdtemp(prefix="local-aws-tls-"))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def server_context() -> ssl.SSLContext:
    cert_path, key_path = certificate()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


def ca_bundle() -> str:
    """What AWS_CA_BUNDLE (or a client's `verify`) names to trust the local endpoints."""
    return str(certificate()[0])


class TlsServerMixin:
    """For a socketserver server: with `tls` set, each accepted connection is wrapped, and the handshake
    waits for the handler's thread (`handshake()` in its setup), so one slow client never blocks accept."""

    tls: ssl.SSLContext | None = None
    socket: Socket

    def get_request(self) -> tuple[Socket, Any]:
        connection, address = self.socket.accept()
        if self.tls is None:
            return connection, address
        return self.tls.wrap_socket(connection, server_side=True, do_handshake_on_connect=False), address


def handshake(connection: Socket) -> None:
    if isinstance(connection, ssl.SSLSocket):
        connection.do_handshake()

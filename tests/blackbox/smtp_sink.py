"""A real SMTP server on loopback that captures what auth-service sends.

Used by the email suite (test_email.py); import what you need.

  Certs.make(dir)      a private CA and a server certificate for 127.0.0.1 /
                       localhost (python3-cryptography): .ca_pem (give it to
                       the service as SMTP_CA_FILE), .server_context().
  Sink(mode, port, certs, users)
                       an aiosmtpd Controller in a thread.  mode: "plain"
                       (no STARTTLS offered), "starttls" (STARTTLS offered
                       and required before MAIL), "tls" (implicit TLS, the
                       port-465 style).  users: {login: password} turns on
                       AUTH (required, and only over TLS).  start()/stop()
                       can be called repeatedly on the same port.
  Sink.messages        every accepted message (Captured), in order.
  Sink.wait_for(pred, timeout) / Sink.for_rcpt(addr) / Sink.auth_attempts
  Captured             .mail_from, .rcpt_tos, .raw (bytes), .msg (parsed
                       email.message.EmailMessage), .tls, .login,
                       .text / .html (decoded parts), .header_names(),
                       .links(prefix)
"""

import datetime
import email
import email.policy
import ipaddress
import re
import ssl
import threading
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Certs:
    def __init__(self, ca_pem, cert_pem, key_pem):
        self.ca_pem = str(ca_pem)
        self.cert_pem = str(cert_pem)
        self.key_pem = str(key_pem)

    @classmethod
    def make(cls, directory):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        directory = Path(directory)
        now = datetime.datetime.now(datetime.timezone.utc)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "auth-service test CA")])
        ca = (x509.CertificateBuilder()
              .subject_name(ca_name).issuer_name(ca_name)
              .public_key(ca_key.public_key())
              .serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(hours=1))
              .not_valid_after(now + datetime.timedelta(days=2))
              .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
              .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                           crl_sign=True, content_commitment=False,
                                           key_encipherment=False, data_encipherment=False,
                                           key_agreement=False, encipher_only=False,
                                           decipher_only=False), critical=True)
              .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                             critical=False)
              .sign(ca_key, hashes.SHA256()))
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
                .issuer_name(ca_name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1))
                .not_valid_after(now + datetime.timedelta(days=2))
                .add_extension(x509.SubjectAlternativeName([
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                               critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    ca_key.public_key()), critical=False)
                .sign(ca_key, hashes.SHA256()))
        ca_path = directory / "ca.pem"
        cert_path = directory / "server.pem"
        key_path = directory / "server.key"
        ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return cls(ca_path, cert_path, key_path)

    def server_context(self):
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert_pem, self.key_pem)
        return ctx


class Captured:
    def __init__(self, envelope, session, transport):
        self.mail_from = envelope.mail_from
        self.rcpt_tos = list(envelope.rcpt_tos)
        self.raw = envelope.original_content or envelope.content
        # STARTTLS sets session.ssl; implicit TLS shows on the transport.
        self.tls = (session.ssl is not None
                    or transport.get_extra_info("ssl_object") is not None)
        self.login = getattr(session.auth_data, "login", None) if session.authenticated else None
        self.msg = email.message_from_bytes(self.raw, policy=email.policy.default)
        self.received_at = time.monotonic()

    def _part(self, ctype):
        for part in self.msg.walk():
            if part.get_content_type() == ctype:
                return part.get_content()
        return None

    @property
    def text(self):
        return self._part("text/plain")

    @property
    def html(self):
        return self._part("text/html")

    def header_section(self):
        """The raw header block (bytes before the first empty line), unfolded lines kept."""
        return self.raw.split(b"\r\n\r\n", 1)[0]

    def header_names(self):
        names = []
        for line in self.header_section().split(b"\r\n"):
            if line and line[:1] not in (b" ", b"\t"):
                names.append(line.split(b":", 1)[0].decode("latin-1"))
        return names

    def links(self, prefix):
        return re.findall(re.escape(prefix) + r"[^\s\"<>]*", self.text or "")

    def token(self, prefix):
        links = self.links(prefix)
        assert links, f"no link starting with {prefix!r} in:\n{self.text}"
        return links[0].split("token=", 1)[1]


class _Handler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_DATA(self, server, session, envelope):
        self.sink._add(Captured(envelope, session, server.transport))
        return "250 2.0.0 OK: queued"


class Sink:
    def __init__(self, mode="plain", port=None, certs=None, users=None):
        assert mode in ("plain", "starttls", "tls")
        assert mode == "plain" or certs is not None
        self.mode = mode
        self.port = port
        self.certs = certs
        self.users = dict(users or {})
        self.messages = []
        self.auth_attempts = []  # (mechanism, login, success)
        self._lock = threading.Lock()
        self.controller = None

    def _add(self, captured):
        with self._lock:
            self.messages.append(captured)

    def _authenticator(self, server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and self.users.get(auth_data.login.decode()) == auth_data.password.decode())
        with self._lock:
            login = auth_data.login.decode() if isinstance(auth_data, LoginPassword) else None
            self.auth_attempts.append((mechanism, login, ok))
        return AuthResult(success=ok, auth_data=auth_data if ok else None)

    def start(self):
        from conftest import free_port
        if self.port is None:
            self.port = free_port()
        kwargs = {}
        if self.mode == "starttls":
            kwargs.update(tls_context=self.certs.server_context(), require_starttls=True)
        elif self.mode == "tls":
            kwargs.update(ssl_context=self.certs.server_context())
        if self.users:
            kwargs.update(authenticator=self._authenticator, auth_required=True,
                          auth_require_tls=True)
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port,
                                     ready_timeout=10, **kwargs)
        self.controller.start()
        return self

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def running(self):
        return self.controller is not None

    def snapshot(self):
        with self._lock:
            return list(self.messages)

    def for_rcpt(self, addr):
        return [m for m in self.snapshot() if addr in m.rcpt_tos]

    def wait_for(self, predicate, timeout=15.0, message="a matching email"):
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.snapshot() if predicate(m)]
            if found:
                return found[0]
            if time.monotonic() >= deadline:
                got = [(m.rcpt_tos, m.msg["Subject"]) for m in self.snapshot()]
                pytest.fail(f"timed out after {timeout}s waiting for {message}; captured: {got}")
            time.sleep(0.05)

    def wait_for_rcpt(self, addr, subject_contains=None, timeout=15.0):
        def match(m):
            return addr in m.rcpt_tos and (subject_contains is None
                                           or subject_contains in str(m.msg["Subject"]))
        return self.wait_for(match, timeout, f"an email to {addr}"
                             + (f" about {subject_contains!r}" if subject_contains else ""))

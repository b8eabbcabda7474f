"""SmtpSender's TLS paths against real TLS SMTP servers (aiosmtpd) on loopback.

A throwaway CA and a server certificate for 127.0.0.1/localhost are made with the ``openssl``
command line; the sender trusts the CA the way an operator would, through ``SSL_CERT_FILE``
(read by OpenSSL when ``ssl.create_default_context()`` loads the default verify paths).
"""

from __future__ import annotations

import logging
import socket
import ssl
import subprocess
import threading
from email import message_from_string
from email.policy import default as email_policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult

from portal.domain.retry import PERMANENT, TRANSIENT
from portal.notifications.senders import DeliveryFailure, SmtpSender

TIMEOUT = 5.0  # seconds; bounds every connect, handshake and reply of the sender


@pytest.fixture(autouse=True)
def quiet_server_log():
    """The refused handshakes are the point of some tests: keep aiosmtpd's tracebacks of them
    out of the test output."""
    server_log = logging.getLogger("mail.log")
    level = server_log.level
    server_log.setLevel(logging.CRITICAL)
    yield
    server_log.setLevel(level)


OPENSSL_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=30)


def _make_ca(directory: Path, config: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    _openssl(
        "req", "-x509", "-config", config, "-extensions", "ca", "-newkey", "ec",
        "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
        "-subj", f"/CN={name}", "-keyout", key, "-out", cert,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> dict[str, Path]:
    """A test CA, a server certificate it signed (127.0.0.1, localhost), and an unrelated CA."""
    directory = tmp_path_factory.mktemp("tls")
    config = directory / "openssl.cnf"
    config.write_text(OPENSSL_CONFIG)
    ca_cert, ca_key = _make_ca(directory, config, "test-ca")
    other_ca_cert, _ = _make_ca(directory, config, "other-ca")
    server_key, server_csr, server_cert = directory / "server.key", directory / "server.csr", directory / "server.pem"
    _openssl(
        "req", "-new", "-config", config, "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-subj", "/CN=localhost", "-keyout", server_key, "-out", server_csr,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", server_csr, "-CA", ca_cert, "-CAkey", ca_key, "-set_serial", "2",
        "-days", "2", "-extfile", config, "-extensions", "server", "-out", server_cert,
    )  # fmt: skip
    return {"ca": ca_cert, "other_ca": other_ca_cert, "server_cert": server_cert, "server_key": server_key}


@pytest.fixture
def trust_test_ca(monkeypatch, certs):
    """Trust the test CA only, as an operator would with ``SSL_CERT_FILE`` in the environment file."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certs["ca"]))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


@pytest.fixture
def trust_another_ca(monkeypatch, certs):
    """Trust a CA that did not sign the server's certificate (whatever the machine's environment says)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certs["other_ca"]))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


def _server_tls_context(certs) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs["server_cert"], certs["server_key"])
    return context


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TlsMailbox:
    """aiosmtpd handler: keeps each accepted message with what the session knew about TLS and AUTH."""

    def __init__(self):
        self.messages: list[dict] = []
        self.client_hung_up = threading.Event()  # set when a client that said EHLO closes its connection

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        ssl_object = server.transport.get_extra_info("ssl_object")
        self.messages.append(
            {
                "rcpt_tos": list(envelope.rcpt_tos),
                "content": envelope.content.decode("utf-8", "replace"),
                "tls_version": ssl_object.version() if ssl_object is not None else None,
                "starttls_info": session.ssl,  # set by aiosmtpd only after a STARTTLS handshake
                "authenticated": session.authenticated,
                "login": session.login_data,
            }
        )
        return "250 Message accepted"


class HangUpAwareSMTP(SMTP):
    def connection_lost(self, error):
        # Controller.start() probes the port without saying EHLO; only real clients count.
        if self.session is not None and self.session.host_name:
            self.event_handler.client_hung_up.set()
        super().connection_lost(error)


class HangUpAwareController(Controller):
    def factory(self):
        return HangUpAwareSMTP(self.handler, **self.SMTP_kwargs)


def only_office_with_s3cret(server, session, envelope, mechanism, auth_data):
    # handled=False: aiosmtpd then answers a refusal with "535 5.7.8"; its default (True) sends no answer.
    ok = (auth_data.login, auth_data.password) == (b"office", b"s3cret")
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


@pytest.fixture
def starttls_server(certs):
    """A server that refuses every command but EHLO, STARTTLS and QUIT until STARTTLS, and mail until AUTH."""
    mailbox = TlsMailbox()
    controller = HangUpAwareController(
        mailbox,
        hostname="127.0.0.1",
        port=_free_port(),
        tls_context=_server_tls_context(certs),
        require_starttls=True,
        authenticator=only_office_with_s3cret,
        auth_required=True,
    )
    controller.start()
    mailbox.port = controller.port
    yield mailbox
    controller.stop()


@pytest.fixture
def implicit_tls_server(certs):
    """A server that speaks TLS from the first byte (what ``smtps://`` connects to)."""
    mailbox = TlsMailbox()
    controller = HangUpAwareController(
        mailbox,
        hostname="127.0.0.1",
        port=_free_port(),
        ssl_context=_server_tls_context(certs),
        authenticator=only_office_with_s3cret,
        # aiosmtpd only counts a STARTTLS session as TLS for AUTH; this one is TLS from the start.
        auth_require_tls=False,
    )
    controller.start()
    mailbox.port = controller.port
    yield mailbox
    controller.stop()


def _send(url: str) -> None:
    sender = SmtpSender(url, "attendance@uni.example", timeout=TIMEOUT)
    try:
        sender.send("ali@uni.example", "Attendance warning", "Your presence rate is 50 %.")
    finally:
        sender.close()


def test_starttls_url_upgrades_to_tls_authenticates_and_delivers(starttls_server, trust_test_ca):
    _send(f"smtp://office:s3cret@127.0.0.1:{starttls_server.port}?starttls=1")

    [message] = starttls_server.messages
    assert message["rcpt_tos"] == ["ali@uni.example"]
    text, _ = message_from_string(message["content"], policy=email_policy).get_payload()
    assert text.get_content() == "Your presence rate is 50 %.\n"
    assert message["tls_version"] in ("TLSv1.2", "TLSv1.3")
    assert message["starttls_info"] is not None  # the upgrade happened on this session
    assert message["authenticated"] is True
    assert message["login"] == b"office"
    assert starttls_server.client_hung_up.wait(TIMEOUT)  # close() said QUIT


def test_smtps_url_speaks_tls_from_the_start_and_delivers(implicit_tls_server, trust_test_ca):
    _send(f"smtps://office:s3cret@127.0.0.1:{implicit_tls_server.port}")

    [message] = implicit_tls_server.messages
    assert message["rcpt_tos"] == ["ali@uni.example"]
    assert message["tls_version"] in ("TLSv1.2", "TLSv1.3")
    assert message["starttls_info"] is None  # no STARTTLS: TLS was there before the greeting
    assert message["login"] == b"office"


@pytest.mark.parametrize("scheme", ["starttls", "smtps"])
def test_untrusted_server_certificate_is_a_transient_failure_naming_the_certificate_and_sends_nothing(
    scheme, request, trust_another_ca
):
    server = request.getfixturevalue("starttls_server" if scheme == "starttls" else "implicit_tls_server")
    url = (
        f"smtp://office:s3cret@127.0.0.1:{server.port}?starttls=1"
        if scheme == "starttls"
        else f"smtps://office:s3cret@127.0.0.1:{server.port}"
    )

    with pytest.raises(DeliveryFailure) as failure:
        _send(url)

    # Transient like an unreachable server, so fixing the trust store lets the scheduled retries
    # go through; the last error names the certificate, not an unreachable server.
    assert failure.value.kind == TRANSIENT
    assert failure.value.connection_lost is True
    assert "certificate not trusted (see SSL_CERT_FILE)" in str(failure.value)
    assert "unreachable" not in str(failure.value)
    assert "CERTIFICATE_VERIFY_FAILED" in str(failure.value)
    assert "unable to get local issuer certificate" in str(failure.value)
    assert server.messages == []


def test_without_ssl_cert_file_the_test_ca_is_not_trusted(starttls_server, monkeypatch):
    """The trust in the other tests comes from SSL_CERT_FILE, not from anything else on the machine."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)

    with pytest.raises(DeliveryFailure, match="CERTIFICATE_VERIFY_FAILED"):
        _send(f"smtp://office:s3cret@127.0.0.1:{starttls_server.port}?starttls=1")
    assert starttls_server.messages == []


@pytest.mark.parametrize("scheme", ["starttls", "smtps"])
def test_wrong_password_over_tls_is_a_permanent_smtp_535_failure_that_sends_nothing_and_hangs_up(
    scheme, request, trust_test_ca
):
    server = request.getfixturevalue("starttls_server" if scheme == "starttls" else "implicit_tls_server")
    url = (
        f"smtp://office:wrong@127.0.0.1:{server.port}?starttls=1"
        if scheme == "starttls"
        else f"smtps://office:wrong@127.0.0.1:{server.port}"
    )

    with pytest.raises(DeliveryFailure) as failure:
        _send(url)

    assert failure.value.kind == PERMANENT
    assert str(failure.value).startswith("SMTP 535: ")
    assert "Authentication credentials invalid" in str(failure.value)
    assert server.messages == []
    # The refused connection is closed at once, not when the failure is garbage-collected: the
    # delivery job keeps the failure (and so the frame that opened the connection) for its batch.
    assert server.client_hung_up.wait(TIMEOUT), "the sender left the refused connection open"

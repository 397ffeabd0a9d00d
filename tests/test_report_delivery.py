"""`report ... --send` end to end: a real SMTP server (aiosmtpd) on loopback receives the
message; its body is the Markdown report and the HTML arrives as an attachment, byte for byte."""
from __future__ import annotations

import email
import json
import email.policy
import socket

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from typer.testing import CliRunner

from complaint_handling_helpers import add_complaint, workspace
from xiaobao.cli import app

# Loopback test server: AUTH without TLS is what we mean to exercise here.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"reports" and auth_data.password == b"s3cret"
    return AuthResult(success=ok, handled=False)   # handled=False: the server answers 535 itself


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), authenticator=authenticator,
                            auth_require_tls=False, auth_required=True)
    controller.start()
    try:
        yield controller, inbox
    finally:
        controller.stop()


def test_send_report_arrives_with_attachment(tmp_path, monkeypatch, smtp_server):
    controller, inbox = smtp_server
    ws = workspace(tmp_path / "ws")
    for i in range(6):
        add_complaint(ws, f"D{i}", received_at=f"2026-10-0{1 + i % 3}T10:00:00", channel="12378", merchant="美颜医美",
                      customer_id=f"C{i % 4}")
    monkeypatch.setenv("XIAOBAO_HOME", str(ws.home))
    monkeypatch.setenv("XIAOBAO_SMTP_USER", "reports")
    monkeypatch.setenv("XIAOBAO_SMTP_PASSWORD", "s3cret")
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["report", "daily", "--date", "2026-10-02", "--out", str(out), "--send",
                                   "--to", "boss@example.com", "--to", "cpo@example.com",
                                   "--smtp-host", "127.0.0.1", "--smtp-port", str(controller.port),
                                   "--smtp-tls", "none", "--from-address", "reports@example.com"])
    assert res.exit_code == 0, res.output
    assert len(inbox.messages) == 1
    sender, rcpts, raw = inbox.messages[0]
    assert sender == "reports@example.com" and rcpts == ["boss@example.com", "cpo@example.com"]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert "daily report 2026-10-02" in msg["Subject"]
    assert "Needs action" in msg.get_body(("plain",)).get_content()
    # Text parts travel with CRLF line ends (RFC 5322); otherwise byte for byte.
    files = {p.get_filename(): p.get_payload(decode=True).replace(b"\r\n", b"\n").rstrip(b"\n")
             for p in msg.iter_attachments()}
    html = (out / "daily-2026-10-02.html").read_bytes().rstrip(b"\n")
    assert set(files) == {"daily-2026-10-02.html", "daily-2026-10-02.json"}
    assert files["daily-2026-10-02.html"] == html   # the whole self-contained page arrived
    assert json.loads(files["daily-2026-10-02.json"])["totals"]["complaints"] == 2


def test_wrong_password_is_a_user_error(tmp_path, monkeypatch, smtp_server):
    from xiaobao.errors import UserError
    from xiaobao.reports import SmtpConfig, send_report

    controller, inbox = smtp_server
    body = tmp_path / "r.md"
    body.write_text("# r\n", encoding="utf-8")
    monkeypatch.setenv("XIAOBAO_SMTP_USER", "reports")
    monkeypatch.setenv("XIAOBAO_SMTP_PASSWORD", "wrong")
    cfg = SmtpConfig.from_env(host="127.0.0.1", port=controller.port, tls="none")
    with pytest.raises(UserError, match="refused the login"):
        send_report([body], ["a@example.com"], cfg)
    with pytest.raises(UserError, match="TLS mode"):
        SmtpConfig.from_env(tls="maybe")
    assert inbox.messages == []


def test_starttls_with_private_ca(tmp_path, monkeypatch):
    """STARTTLS to a server whose certificate only our --smtp-cafile vouches for; without it, refused."""
    import shutil
    import ssl
    import subprocess

    from xiaobao.errors import UserError
    from xiaobao.reports import SmtpConfig, send_report

    openssl = shutil.which("openssl")
    assert openssl, "openssl (Debian package) makes the test certificate"
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), tls_context=server_ctx,
                            require_starttls=True, authenticator=authenticator, auth_required=True)
    controller.start()
    try:
        report = tmp_path / "weekly.md"
        report.write_text("# weekly\n\nNeeds action: none\n", encoding="utf-8")
        page = tmp_path / "weekly.html"
        page.write_text("<html>周报</html>", encoding="utf-8")
        monkeypatch.setenv("XIAOBAO_SMTP_USER", "reports")
        monkeypatch.setenv("XIAOBAO_SMTP_PASSWORD", "s3cret")
        with pytest.raises(UserError, match="could not send"):      # self-signed: not trusted by default
            send_report([report, page], ["a@example.com"],
                        SmtpConfig.from_env(host="127.0.0.1", port=controller.port, tls="starttls"))
        sent = send_report([report, page], ["a@example.com"],
                           SmtpConfig.from_env(host="127.0.0.1", port=controller.port, tls="starttls", cafile=cert))
    finally:
        controller.stop()
    assert sent["to"] == ["a@example.com"] and sent["attachments"] == ["weekly.html"]
    msg = email.message_from_bytes(inbox.messages[0][2], policy=email.policy.default)
    assert [p.get_content().rstrip() for p in msg.iter_attachments()] == ["<html>周报</html>"]


def test_dashboard_send_arrives_as_attachment(tmp_path, monkeypatch, smtp_server):
    controller, inbox = smtp_server
    ws = workspace(tmp_path / "ws")
    for i in range(4):
        add_complaint(ws, f"E{i}", received_at=f"2026-10-0{1 + i}T10:00:00", channel="12378", customer_id=f"C{i}")
    monkeypatch.setenv("XIAOBAO_HOME", str(ws.home))
    monkeypatch.setenv("XIAOBAO_SMTP_USER", "reports")
    monkeypatch.setenv("XIAOBAO_SMTP_PASSWORD", "s3cret")
    page = tmp_path / "dash.html"
    smtp = ["--smtp-host", "127.0.0.1", "--smtp-port", str(controller.port), "--smtp-tls", "none"]
    res = CliRunner().invoke(app, ["report", "dashboard", "--out", str(page), "--send", *smtp])
    assert res.exit_code != 0 and "--to-address" in str(res.exception) and inbox.messages == []
    res = CliRunner().invoke(app, ["report", "dashboard", "--out", str(page), "--send",
                                   "--to-address", "boss@example.com", *smtp])
    assert res.exit_code == 0, res.output
    assert len(inbox.messages) == 1
    _, rcpts, raw = inbox.messages[0]
    assert rcpts == ["boss@example.com"]
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert "dashboard" in msg["Subject"]
    files = {p.get_filename(): p.get_payload(decode=True).replace(b"\r\n", b"\n").rstrip(b"\n")
             for p in msg.iter_attachments()}
    assert files == {"dash.html": page.read_bytes().rstrip(b"\n")}

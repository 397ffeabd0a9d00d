"""E-mailing a report through SMTP: host, port and TLS mode from options or the environment,
credentials from the environment only (never on the command line, never in files)."""
from __future__ import annotations

import mimetypes
import os
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from xiaobao.errors import UserError

TLS_MODES = ("starttls", "ssl", "none")


@dataclass
class SmtpConfig:
    host: str = "localhost"
    port: int | None = None
    tls: str = "starttls"                 # starttls | ssl | none
    user: str | None = None
    password: str | None = None
    sender: str = "xiaobao-reports@localhost"
    timeout: float = 30.0
    cafile: str | None = None             # a private CA (e.g. the company's mail relay), else system CAs

    @classmethod
    def from_env(cls, host=None, port=None, tls=None, sender=None, cafile=None) -> "SmtpConfig":
        """Options win over XIAOBAO_SMTP_HOST / _PORT / _TLS / _FROM / _CAFILE; user and password come
        only from XIAOBAO_SMTP_USER / XIAOBAO_SMTP_PASSWORD."""
        env = os.environ
        tls = (tls or env.get("XIAOBAO_SMTP_TLS") or "starttls").lower()
        if tls not in TLS_MODES:
            raise UserError(f"SMTP TLS mode {tls!r} is not one of {', '.join(TLS_MODES)}")
        raw_port = port if port is not None else env.get("XIAOBAO_SMTP_PORT")
        try:
            port_n = int(raw_port) if raw_port not in (None, "") else None
        except ValueError:
            raise UserError(f"SMTP port {raw_port!r} is not a number") from None
        return cls(host=host or env.get("XIAOBAO_SMTP_HOST") or "localhost", port=port_n, tls=tls,
                   user=env.get("XIAOBAO_SMTP_USER") or None, password=env.get("XIAOBAO_SMTP_PASSWORD") or None,
                   sender=sender or env.get("XIAOBAO_SMTP_FROM") or cls.sender,
                   cafile=str(cafile) if cafile else env.get("XIAOBAO_SMTP_CAFILE") or None)

    def resolved_port(self) -> int:
        return self.port or {"ssl": 465, "starttls": 587, "none": 25}[self.tls]


def build_message(subject: str, body: str, to: list[str], sender: str, attachments=()) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = subject, sender, ", ".join(to)
    msg.set_content(body)
    for path in attachments:
        path = Path(path)
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        main, sub = ctype.split("/", 1)
        if main == "text" or ctype == "application/json":   # declared UTF-8, so clients show Chinese right
            msg.add_attachment(path.read_text(encoding="utf-8"), subtype=sub, charset="utf-8", filename=path.name)
        else:
            msg.add_attachment(path.read_bytes(), maintype=main, subtype=sub, filename=path.name)
    return msg


def send_report(paths: dict | list, to: list[str], smtp: SmtpConfig, subject: str | None = None) -> dict:
    """Send the Markdown as the body and the HTML (and JSON) as attachments. Returns what was sent."""
    to = [t.strip() for t in to if t and t.strip()]
    if not to:
        raise UserError("--send needs at least one recipient (--to ADDRESS)")
    files = list(paths.values()) if isinstance(paths, dict) else [Path(p) for p in paths]
    body_file = next((Path(p) for p in files if str(p).endswith(".md")), None)
    body = body_file.read_text(encoding="utf-8") if body_file else "The report is attached."
    attachments = [p for p in files if not str(p).endswith(".md")]
    subject = subject or (body.splitlines()[0].lstrip("# ").strip() if body_file else "xiaobao report")
    msg = build_message(subject, body, to, smtp.sender, attachments)
    port = smtp.resolved_port()
    try:
        context = ssl.create_default_context(cafile=smtp.cafile)
        if smtp.tls == "ssl":
            client = smtplib.SMTP_SSL(smtp.host, port, timeout=smtp.timeout, context=context)
        else:
            client = smtplib.SMTP(smtp.host, port, timeout=smtp.timeout)
        with client:
            if smtp.tls == "starttls":
                client.starttls(context=context)
            if smtp.user:
                client.login(smtp.user, smtp.password or "")
            refused = client.send_message(msg)
    except smtplib.SMTPAuthenticationError as exc:
        raise UserError(f"SMTP {smtp.host}:{port} refused the login of {smtp.user!r}: {exc.smtp_code}") from None
    except smtplib.SMTPNotSupportedError as exc:
        raise UserError(f"SMTP {smtp.host}:{port}: {exc} (try --smtp-tls none or ssl)") from None
    except (OSError, smtplib.SMTPException) as exc:
        raise UserError(f"could not send through SMTP {smtp.host}:{port} ({smtp.tls}): {exc}") from None
    return {"to": [t for t in to if t not in refused], "refused": sorted(refused), "subject": subject,
            "attachments": [Path(p).name for p in attachments], "smtp": f"{smtp.host}:{port}"}

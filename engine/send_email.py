"""E-mail for a send: one SMTP connection, opened when the first e-mail goes
out, and a notice written as one e-mail message.

A refusal for good (a 5xx reply) is told apart from a failure worth trying
again, so that the notice can go as a letter instead.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from .notices import Notice
from .rendering import NoticeRenderer
from .send_notice import file_stem, message_id
from .send_plan import LETTER, NoticePlan
from .send_settings import SMTPS_PORT, SmtpSettings


class MessageRefused(Exception):
    """The SMTP server refused a message for good: the notice is undeliverable."""


class Mailer:
    """One SMTP connection for a send, opened when the first e-mail goes out."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self.smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.tls_from_start:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                s.host, s.port, timeout=s.timeout, context=s.tls_context()
            )
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        try:
            if s.starttls:
                smtp.starttls(context=s.tls_context())
            if s.user:
                smtp.login(s.user, s.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, message: EmailMessage, recipient: str) -> str:
        """Hand one message over; the server's words, or an exception saying why not."""
        fresh = self.smtp is None
        if self.smtp is None:
            self.smtp = self._connect()
        try:
            self.smtp.send_message(message, self.settings.sender, [recipient])
        except smtplib.SMTPServerDisconnected:
            self.close()
            if fresh:
                raise
            # A connection kept open between notices may have timed out: once more.
            self.smtp = self._connect()
            self.smtp.send_message(message, self.settings.sender, [recipient])
        except smtplib.SMTPRecipientsRefused as error:
            code, text = next(iter(error.recipients.values()))
            reply = f"{code} {_text(text)}"
            if 500 <= code < 600:
                raise MessageRefused(
                    f"the server refused {recipient}: {reply}"
                ) from error
            raise OSError(f"the server put off {recipient}: {reply}") from error
        except smtplib.SMTPDataError as error:
            reply = f"{error.smtp_code} {_text(error.smtp_error)}"
            if 500 <= error.smtp_code < 600:
                raise MessageRefused(
                    f"the server refused the message: {reply}"
                ) from error
            raise
        except OSError:
            self.close()
            raise
        return f"{self.settings.host}:{self.settings.port}"

    def close(self) -> None:
        """Say goodbye to the server, if connected."""
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (OSError, smtplib.SMTPException):
                self.smtp.close()
            self.smtp = None


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


_WHICH_PORT = (
    "is the port one for TLS from the start (465, --smtp-implicit-tls) or for "
    "STARTTLS (587, --smtp-starttls)?"
)
_OTHER_NAME = (62, 64)  # OpenSSL: the host name, or IP address, does not match


def smtp_error_text(error: BaseException, settings: SmtpSettings | None = None) -> str:
    """An SMTP or network failure in words."""
    if isinstance(error, smtplib.SMTPResponseException):
        return f"SMTP {error.smtp_code} {_text(error.smtp_error)}"
    if isinstance(error, ConnectionRefusedError):
        return "the SMTP server refused the connection"
    if isinstance(error, ssl.SSLCertVerificationError):
        if error.verify_code in _OTHER_NAME:
            return (
                "the SMTP server's certificate is for another name: "
                f"{error.verify_message.rstrip('.')}; give --smtp-host as the "
                "certificate names the server"
            )
        return (
            "the SMTP server's certificate is not trusted: "
            f"{error.verify_message.rstrip('.')}; "
            "--smtp-ca-file names the certificates to trust"
        )
    if isinstance(error, ssl.SSLError):
        return (
            f"TLS with the SMTP server failed ({error.reason or error}); {_WHICH_PORT}"
        )
    waited = isinstance(error, TimeoutError) or "timed out" in str(error)
    if waited and settings is not None and not settings.tls_from_start:
        # A port for TLS from the start waits for the client's TLS, and a
        # client that waits for the server's greeting never gets one.
        if settings.port == SMTPS_PORT:
            undo = "--smtp-starttls" if settings.starttls else "--no-smtp-implicit-tls"
            return (
                "the SMTP server did not answer in time; port 465 usually wants "
                f"TLS from the start: leave out {undo}"
            )
        return (
            "the SMTP server did not answer in time (a port for TLS from the "
            "start never greets a client that does not begin with TLS: "
            "--smtp-implicit-tls)"
        )
    if isinstance(error, TimeoutError):
        return "the SMTP server did not answer in time"
    return str(error) or type(error).__name__


def email_message(
    notice: Notice,
    plan: NoticePlan,
    renderer: NoticeRenderer,
    smtp: SmtpSettings,
    recipient: str,
) -> EmailMessage:
    """The e-mail of a notice: text, the letter as HTML and PDF when it has one."""
    written = renderer.render_email(notice, plan.template)
    has_letter = plan.template in renderer.templates(LETTER)
    html, pdf = (
        renderer.render_letter(notice, plan.template) if has_letter else (None, None)
    )

    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = recipient
    message["Subject"] = written.subject
    message["Date"] = formatdate(localtime=False)
    domain = smtp.sender.rpartition("@")[2] or "dunning.invalid"
    message["Message-ID"] = message_id(
        plan.run_id, plan.customer.id, (i.id for i in plan.items), domain
    )
    message.set_content(written.body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    if pdf is not None:
        stem = file_stem(plan.run_id, plan.customer.id)
        message.add_attachment(
            pdf, maintype="application", subtype="pdf", filename=f"{stem}.pdf"
        )
    return message

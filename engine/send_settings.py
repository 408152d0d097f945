"""What a send is told: the company notices come from, where letters go,
where templates come from, and the SMTP server e-mails are handed to.

`load_sender` reads the company from a TOML file; `SendingError` says why a
send cannot start as asked.
"""

from __future__ import annotations

import ssl
import tomllib
from pathlib import Path

import attrs
from attrs import field, frozen

from .interest import BaseRateTable
from .notices import Sender

DEFAULT_MAX_ATTEMPTS = 5


class SendingError(Exception):
    """Sending cannot start as asked (no SMTP server for e-mails, a bad setting)."""


SMTPS_PORT = 465
"""The port of SMTP over TLS from the start."""


def _one_kind_of_tls(settings: SmtpSettings, _: object, implicit: bool | None) -> None:
    if implicit and settings.starttls:
        raise SendingError(
            "a connection is encrypted either from the start (implicit TLS) or "
            "with STARTTLS, not both"
        )


def _trusted(settings: SmtpSettings, _: object, path: Path | None) -> None:
    if path is None:
        return
    if not (settings.starttls or settings.tls_from_start):
        raise SendingError(
            f"{path}: certificates to trust are for an encrypted connection; "
            "ask for STARTTLS or TLS from the start as well"
        )
    if not path.is_file():
        raise SendingError(f"{path}: no such file of certificates to trust")
    try:
        ssl.create_default_context(cafile=str(path))
    except (OSError, ssl.SSLError) as error:
        raise SendingError(
            f"{path}: not a file of PEM certificates ({error})"
        ) from None


@frozen
class SmtpSettings:
    """The SMTP server e-mails are handed to, and how to log in to it."""

    host: str
    sender: str
    """The From address of every e-mail (`dunning@example.com`)."""
    port: int = 25
    starttls: bool = False
    """Encrypt the connection with STARTTLS once it is open (usually port 587)."""
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    implicit_tls: bool | None = field(default=None, validator=_one_kind_of_tls)
    """Encrypt the connection from the start (SMTPS). None: on port 465,
    unless `starttls` is asked for."""
    ca_file: Path | None = field(default=None, validator=_trusted)
    """Certificates (PEM) to trust for the server's, instead of the system's:
    for a mail server with a certificate of the company's own."""

    @property
    def tls_from_start(self) -> bool:
        """True when the connection is encrypted from its first byte."""
        if self.implicit_tls is None:
            return self.port == SMTPS_PORT and not self.starttls
        return self.implicit_tls

    def tls_context(self) -> ssl.SSLContext:
        """How the server's certificate is checked: against `ca_file`, else
        against the system's certificates; its name must match `host`."""
        return ssl.create_default_context(
            cafile=str(self.ca_file) if self.ca_file else None
        )


@frozen
class SendSettings:
    """Where letters go, where templates come from, and how e-mails are sent."""

    sender: Sender
    out_dir: Path = Path("letters")
    templates: Path | None = None
    smtp: SmtpSettings | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    base_rates: BaseRateTable | None = None
    """The base rate table for the interest notices show (default: bundled)."""
    pay_within: int | None = None
    """Days the customer has to pay, counted from the day of sending: each
    notice asks for payment by that day (the next business day of the
    policy's calendar if it is none). None: the templates word it without a
    date."""


_SENDER_FIELDS = {field.name for field in attrs.fields(Sender)}


def load_sender(path: str | Path) -> Sender:
    """The company notices come from, read from a TOML file (docs/sending.md)."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise SendingError(f"{path}: cannot read the sender: {error}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SendingError(f"{path}: not a TOML file: {error}") from None

    unknown = sorted(set(data) - _SENDER_FIELDS)
    if unknown:
        raise SendingError(
            f"{path}: unknown field `{unknown[0]}`; a sender has "
            f"{', '.join(sorted(_SENDER_FIELDS))}"
        )
    if not isinstance(data.get("name"), str) or not data["name"].strip():
        raise SendingError(f"{path}: field `name`: the company's name is required")
    for name, value in data.items():
        lines = name == "address" and isinstance(value, list)
        if lines and all(isinstance(line, str) for line in value):
            continue
        if not isinstance(value, str):
            expected = "text or a list of lines" if name == "address" else "text"
            raise SendingError(f"{path}: field `{name}`: {value!r} is not {expected}")
    return Sender(**data)

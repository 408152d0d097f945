"""E-mails through a real SMTP server on 127.0.0.1: what arrives, refusals, retries."""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from click.testing import CliRunner

from engine import Customer, Engine
from engine.cli.main import cli
from engine.send_email import smtp_error_text
from engine.send_settings import SendingError
from engine.sending import SendSettings, SmtpSettings

from .test_send import (
    NBSP,
    SEND_DAY,
    claim,
    letter_customer,
    outbox_engine,
    pdf_text,
    settings,
    statuses,
)

ROOT = Path(__file__).resolve().parent.parent


class Mailbox:
    """An aiosmtpd handler that keeps what it accepts and refuses chosen recipients."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], EmailMessage]] = []
        self.refuse: dict[str, str] = {}

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        """Refuse the chosen addresses with their reply; accept the others."""
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Keep the message as parsed e-mail."""
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server on 127.0.0.1 and a free port, and what it received."""
    handler = Mailbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def smtp_settings(tmp_path: Path, port: int, **changes: object) -> SendSettings:
    """Letters into tmp_path/letters; e-mails through the test server."""
    smtp = SmtpSettings("127.0.0.1", "mahnwesen@beispiel.example", port, timeout=5)
    return settings(tmp_path, smtp=smtp, **changes)


def mail_customer(customer_id: str, email: str, **fields: str) -> Customer:
    """A German-speaking customer dunned by e-mail, with a postal address."""
    values = {"name": "Muster GmbH", "address": "Hauptstr. 5\n10115 Berlin"}
    values.update(fields)
    return Customer(
        customer_id,
        segment="mail",
        email=email,
        language="de",
        **values,  # type: ignore[arg-type]
    )


def two_customers(tmp_path: Path) -> Engine:
    """K1 (claim A, 100.00) and K6 (claim G, 40.00), both dunned by e-mail."""
    return outbox_engine(
        tmp_path,
        [
            mail_customer("K1", "ap@muster.example"),
            mail_customer("K6", "kasse@zweite.example", name="Zweite KG"),
        ],
        [claim("A", "K1", "100.00"), claim("G", "K6", "40.00")],
    )


def test_an_e_mail_arrives_with_text_html_and_pdf(
    tmp_path: Path, mailbox: tuple[Mailbox, int]
) -> None:
    """The e-mail reaches its recipient with the amounts in text, HTML and PDF."""
    box, port = mailbox
    engine = outbox_engine(
        tmp_path,
        [mail_customer("K1", "ap@muster.example")],
        [claim("A", "K1", "100.00")],
    )

    report = engine.send(SEND_DAY, smtp_settings(tmp_path, port))

    ((sender, recipients, message),) = box.messages
    assert sender == "mahnwesen@beispiel.example"
    assert recipients == ["ap@muster.example"]
    assert message["To"] == "ap@muster.example"
    assert message["Subject"] == "Zahlungserinnerung von Beispiel AG"
    # A: 100.00 open + 5.00 fee = 105.00, written in German.
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    assert f"Summe 105,00{NBSP}€" in text.get_content()
    assert f"105,00{NBSP}€" in html.get_content()
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == "1-K1.pdf"
    data = attachment.get_content()
    assert data.startswith(b"%PDF-")
    assert "105,00" in pdf_text(data)

    (line,) = report.deliveries
    assert (line.channel, line.status, line.to) == (
        "email",
        "sent",
        "ap@muster.example",
    )
    (item,) = engine.outbox()
    assert (item.status, item.channel, item.attempts) == ("sent", "email", 1)
    detail = engine.store.conn.execute("SELECT detail FROM deliveries").fetchone()[0]
    assert detail == (
        f"accepted by 127.0.0.1:{port}, Message-ID {message['Message-ID']}"
    )


def test_the_message_id_is_the_same_for_the_same_notice(
    tmp_path: Path, mailbox: tuple[Mailbox, int]
) -> None:
    """A notice sent from a copy of the database carries the same Message-ID."""
    box, port = mailbox
    first = tmp_path / "first"
    second = tmp_path / "second"
    for folder in (first, second):
        folder.mkdir()
        engine = outbox_engine(
            folder,
            [mail_customer("K1", "ap@muster.example")],
            [claim("A", "K1", "100.00")],
        )
        engine.send(SEND_DAY, smtp_settings(folder, port))

    ids = [message["Message-ID"] for _, _, message in box.messages]
    assert len(ids) == 2
    assert ids[0] == ids[1]
    assert ids[0].endswith("@beispiel.example>")


def test_sending_twice_sends_one_e_mail(
    tmp_path: Path, mailbox: tuple[Mailbox, int]
) -> None:
    """A second send hands nothing to the server."""
    box, port = mailbox
    engine = two_customers(tmp_path)

    engine.send(SEND_DAY, smtp_settings(tmp_path, port))
    again = engine.send(SEND_DAY, smtp_settings(tmp_path, port))

    assert len(box.messages) == 2
    assert again.deliveries == ()


def test_a_temporary_refusal_is_retried_on_the_next_send(
    tmp_path: Path, mailbox: tuple[Mailbox, int]
) -> None:
    """451 for one address: that notice fails, the other goes; the retry succeeds."""
    box, port = mailbox
    box.refuse["ap@muster.example"] = "451 4.3.0 Mailbox busy, try later"
    engine = two_customers(tmp_path)

    first = engine.send(SEND_DAY, smtp_settings(tmp_path, port))

    refused, accepted = first.deliveries
    assert (refused.customer_id, refused.status) == ("K1", "failed")
    assert refused.detail == (
        "attempt 1 of 5: the server put off ap@muster.example: "
        "451 4.3.0 Mailbox busy, try later"
    )
    assert (accepted.customer_id, accepted.status) == ("K6", "sent")
    assert [r for _, r, _ in box.messages] == [["kasse@zweite.example"]]
    assert not first.ok

    del box.refuse["ap@muster.example"]
    second = engine.send(SEND_DAY, smtp_settings(tmp_path, port))

    (retried,) = second.deliveries
    assert (retried.customer_id, retried.status, retried.attempts) == ("K1", "sent", 2)
    assert [r for _, r, _ in box.messages] == [
        ["kasse@zweite.example"],
        ["ap@muster.example"],
    ]
    assert statuses(engine) == {1: ("sent", 2), 2: ("sent", 1)}


def test_a_permanent_refusal_falls_back_to_a_letter(
    tmp_path: Path, mailbox: tuple[Mailbox, int]
) -> None:
    """550 for a recipient with a postal address: the e-mail attempt is recorded
    undeliverable, then the letter is written and the item is sent as a letter."""
    box, port = mailbox
    box.refuse["ap@muster.example"] = "550 5.1.1 No such user"
    engine = two_customers(tmp_path)

    report = engine.send(SEND_DAY, smtp_settings(tmp_path, port))

    refused = "the server refused ap@muster.example: 550 5.1.1 No such user"
    k1, k6 = report.deliveries
    assert (k1.customer_id, k1.channel, k1.status) == ("K1", "letter", "sent")
    assert k1.detail == f"{refused}: sent as a letter instead"
    assert (k6.customer_id, k6.channel, k6.status) == ("K6", "email", "sent")
    assert report.ok
    # Only K6's e-mail arrived; K1 got a letter file instead.
    assert [r for _, r, _ in box.messages] == [["kasse@zweite.example"]]
    assert (tmp_path / "letters" / "1-K1.pdf").exists()
    (item,) = [i for i in engine.outbox() if i.customer_id == "K1"]
    # Two attempts: the refused e-mail and the letter.
    assert (item.status, item.channel, item.attempts) == ("sent", "letter", 2)
    rows = engine.store.conn.execute(
        "SELECT channel, status, detail FROM deliveries WHERE measure_id = ? "
        "ORDER BY id",
        (item.id,),
    ).fetchall()
    assert rows == [
        ("email", "undeliverable", refused),
        ("letter", "sent", f"{refused}: sent as a letter instead"),
    ]
    assert engine.send(SEND_DAY, smtp_settings(tmp_path, port)).deliveries == ()


def test_a_permanent_refusal_without_postal_address_is_undeliverable(
    tmp_path: Path, mailbox: tuple[Mailbox, int]
) -> None:
    """550 for a recipient with no postal address: undeliverable, never retried."""
    box, port = mailbox
    box.refuse["ap@muster.example"] = "550 5.1.1 No such user"
    engine = outbox_engine(
        tmp_path,
        [
            mail_customer("K1", "ap@muster.example", address=""),
            mail_customer("K6", "kasse@zweite.example", name="Zweite KG"),
        ],
        [claim("A", "K1", "100.00"), claim("G", "K6", "40.00")],
    )

    report = engine.send(SEND_DAY, smtp_settings(tmp_path, port))

    assert [d.status for d in report.deliveries] == ["undeliverable", "sent"]
    assert not report.ok
    (item,) = [i for i in engine.outbox() if i.customer_id == "K1"]
    assert (item.status, item.attempts) == ("undeliverable", 1)
    assert item.last_error == (
        "the server refused ap@muster.example: 550 5.1.1 No such user; "
        "no postal address for a letter instead"
    )
    assert not (tmp_path / "letters").exists()
    assert engine.send(SEND_DAY, smtp_settings(tmp_path, port)).deliveries == ()


def test_a_server_that_is_down_fails_every_e_mail(tmp_path: Path) -> None:
    """Connection refused: every e-mail notice fails and waits for the next send."""
    engine = two_customers(tmp_path)

    report = engine.send(SEND_DAY, smtp_settings(tmp_path, free_port()))

    assert [d.status for d in report.deliveries] == ["failed", "failed"]
    assert {d.detail for d in report.deliveries} == {
        "attempt 1 of 5: the SMTP server refused the connection"
    }
    assert statuses(engine) == {1: ("failed", 1), 2: ("failed", 1)}


def test_a_customer_without_e_mail_gets_a_letter(
    tmp_path: Path, mailbox: tuple[Mailbox, int]
) -> None:
    """An e-mail measure for a customer with no e-mail address writes a letter."""
    box, port = mailbox
    engine = outbox_engine(
        tmp_path,
        [mail_customer("K1", "")],
        [claim("A", "K1", "100.00")],
    )

    report = engine.send(SEND_DAY, smtp_settings(tmp_path, port))

    (line,) = report.deliveries
    assert (line.channel, line.status) == ("letter", "sent")
    assert line.detail == "no e-mail address: sent as a letter instead"
    assert box.messages == []
    assert (tmp_path / "letters" / "1-K1.pdf").exists()
    (item,) = engine.outbox()
    assert (item.status, item.channel) == ("sent", "letter")


def test_a_letter_customer_without_postal_address_gets_an_e_mail(
    tmp_path: Path, mailbox: tuple[Mailbox, int]
) -> None:
    """A letter measure for a customer with only an e-mail address sends an e-mail."""
    box, port = mailbox
    engine = outbox_engine(
        tmp_path,
        [letter_customer(address="", email="ap@example.example")],
        [claim("B", "K2", "250.00")],
    )

    report = engine.send(SEND_DAY, smtp_settings(tmp_path, port))

    (line,) = report.deliveries
    assert (line.channel, line.status) == ("email", "sent")
    assert line.detail is not None
    assert line.detail.startswith("no postal address: sent by e-mail instead; ")
    ((_, recipients, message),) = box.messages
    assert recipients == ["ap@example.example"]
    assert message["Subject"] == "Payment reminder from Beispiel AG"


def test_the_send_command_reads_the_smtp_settings_from_the_environment(
    tmp_path: Path, mailbox: tuple[Mailbox, int]
) -> None:
    """DUNNING_SMTP_* set the server; a refused notice makes the exit code 1."""
    box, port = mailbox
    box.refuse["kasse@zweite.example"] = "451 4.3.0 Try later"
    two_customers(tmp_path).close()
    environment = {
        "DUNNING_SMTP_HOST": "127.0.0.1",
        "DUNNING_SMTP_PORT": str(port),
        "DUNNING_SMTP_FROM": "mahnwesen@beispiel.example",
    }

    result = CliRunner().invoke(
        cli,
        [
            "send",
            "--policy",
            str(tmp_path / "sending.dun"),
            "--db",
            str(tmp_path / "send.db"),
            "--on",
            "2024-03-07",
        ],
        env=environment,
    )

    assert result.exit_code == 1
    assert "ap@muster.example" in result.output
    assert "attempt 1 of 5: the server put off kasse@zweite.example" in result.output
    assert "2 notices on 2024-03-07: 1 sent, 1 failed" in result.output
    assert [r for _, r, _ in box.messages] == [["ap@muster.example"]]


def test_an_smtp_host_needs_a_from_address(tmp_path: Path) -> None:
    """--smtp-host without --smtp-from is a usage error (exit 2)."""
    two_customers(tmp_path).close()

    result = CliRunner().invoke(
        cli,
        [
            "send",
            "--policy",
            str(tmp_path / "sending.dun"),
            "--db",
            str(tmp_path / "send.db"),
            "--smtp-host",
            "127.0.0.1",
        ],
        env={"DUNNING_SMTP_FROM": ""},
    )

    assert result.exit_code == 2
    assert (
        "Invalid value for '--smtp-from': e-mails need a From address "
        "(or DUNNING_SMTP_FROM)" in result.output
    )


def test_the_sample_data_is_sent_with_the_policy_s_own_templates(
    tmp_path: Path, mailbox: tuple[Mailbox, int]
) -> None:
    """Import the sample, run de-b2b-trade for three days, send: every letter goes."""
    box, port = mailbox
    sample = ROOT / "examples" / "sample"
    policy = str(ROOT / "policies" / "de-b2b-trade.dun")
    database = str(tmp_path / "sample.db")
    runner = CliRunner()

    def dunning(*args: str) -> str:
        result = runner.invoke(cli, [*args, "--db", database])
        assert result.exit_code == 0, result.output
        return result.output

    for kind in ("customers", "claims", "payments", "events"):
        dunning("import", kind, str(sample / f"{kind}.csv"))
    # The first invoices fall due at the end of January 2025; by early March
    # the standard group's reminders (7 days overdue) and second notices
    # (14 days later) are due, and the first run catches up on all of them.
    for day in ("2025-03-03", "2025-03-04", "2025-03-05"):
        dunning("run", "--policy", policy, "--as-of", day)

    letters = tmp_path / "letters"
    result = runner.invoke(
        cli,
        [
            "send",
            "--policy",
            policy,
            "--db",
            database,
            # Wednesday 2025-03-05 is a business day in North Rhine-Westphalia.
            "--on",
            "2025-03-05",
            "--out",
            str(letters),
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            str(port),
            "--smtp-from",
            "mahnwesen@beispiel.example",
        ],
    )

    assert result.exit_code == 0, result.output
    # Claims paid after the run and before the send are closed as `done`; no
    # notice fails and every customer can be reached.
    summary = re.fullmatch(
        r"(\d+) notices on 2025-03-05: (\d+) sent(?:, (\d+) done)?",
        result.output.splitlines()[-2],
    )
    assert summary is not None, result.output
    notices, sent, done = (int(number or 0) for number in summary.groups())
    assert sent > 0
    assert sent + done == notices
    failed = dunning("outbox", "--status", "failed", "--format", "csv")
    assert failed.splitlines()[1:] == []
    pending = dunning("outbox", "--status", "pending", "--kind", "letter")
    assert pending == "the outbox holds no such items\n"
    pdfs = sorted(letters.glob("*.pdf"))
    assert len(pdfs) + len(box.messages) == sent
    assert pdfs and all(pdf.read_bytes().startswith(b"%PDF-") for pdf in pdfs)


# ---- encrypted connections -----------------------------------------------------


@pytest.fixture
def authority() -> trustme.CA:
    """A certificate authority of the test's own, as a company might run one."""
    return trustme.CA()


def tls_mailbox(authority: trustme.CA, **server: Any) -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server on 127.0.0.1 whose certificate `authority` issued."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    handler = Mailbox()
    port = free_port()
    if server.pop("starttls", False):
        server.update(tls_context=context, require_starttls=True)
    else:
        server.update(ssl_context=context)
    controller = Controller(handler, hostname="127.0.0.1", port=port, **server)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@pytest.fixture
def smtps_mailbox(authority: trustme.CA) -> Iterator[tuple[Mailbox, int]]:
    """A server that speaks TLS from the first byte (SMTPS)."""
    yield from tls_mailbox(authority)


@pytest.fixture
def starttls_mailbox(authority: trustme.CA) -> Iterator[tuple[Mailbox, int]]:
    """A server that wants STARTTLS before it takes a message."""
    yield from tls_mailbox(authority, starttls=True)


def ca_file(authority: trustme.CA, tmp_path: Path) -> Path:
    """The authority's certificate as a PEM file."""
    path = tmp_path / "company-ca.pem"
    authority.cert_pem.write_to_path(str(path))
    return path


def tls_settings(
    tmp_path: Path, port: int, trusted: Path | None, **tls: bool
) -> SendSettings:
    """Letters into tmp_path/letters; e-mails through an encrypting test server."""
    smtp = SmtpSettings(
        "127.0.0.1",
        "mahnwesen@beispiel.example",
        port,
        timeout=5,
        ca_file=trusted,
        **tls,
    )
    return settings(tmp_path, smtp=smtp)


@pytest.mark.parametrize(
    ("server", "tls"),
    [("smtps_mailbox", "implicit_tls"), ("starttls_mailbox", "starttls")],
    ids=["from the start", "after STARTTLS"],
)
def test_e_mails_go_encrypted(
    tmp_path: Path,
    authority: trustme.CA,
    request: pytest.FixtureRequest,
    server: str,
    tls: str,
) -> None:
    """Both e-mails go encrypted, the server's certificate checked against the
    company's CA; the STARTTLS server takes nothing before STARTTLS."""
    box, port = request.getfixturevalue(server)
    engine = two_customers(tmp_path)
    trusted = ca_file(authority, tmp_path)

    report = engine.send(SEND_DAY, tls_settings(tmp_path, port, trusted, **{tls: True}))

    assert [d.status for d in report.deliveries] == ["sent", "sent"]
    assert sorted(r for _, (r,), _ in box.messages) == [
        "ap@muster.example",
        "kasse@zweite.example",
    ]


def test_a_certificate_nobody_vouches_for_fails_the_e_mail(
    tmp_path: Path, smtps_mailbox: tuple[Mailbox, int]
) -> None:
    """Without the company's CA the certificate is not trusted: nothing is
    handed over, and the notices wait for the next send."""
    box, port = smtps_mailbox
    engine = two_customers(tmp_path)

    report = engine.send(
        SEND_DAY, tls_settings(tmp_path, port, None, implicit_tls=True)
    )

    assert [d.status for d in report.deliveries] == ["failed", "failed"]
    (detail,) = {d.detail for d in report.deliveries}
    assert detail.startswith(
        "attempt 1 of 5: the SMTP server's certificate is not trusted: "
    )
    assert detail.endswith("; --smtp-ca-file names the certificates to trust")
    assert box.messages == []
    assert statuses(engine) == {1: ("failed", 1), 2: ("failed", 1)}


def test_tls_from_the_start_on_a_plain_server_says_which_port_is_which(
    tmp_path: Path, mailbox: tuple[Mailbox, int]
) -> None:
    """Implicit TLS against a server that speaks plain SMTP first."""
    box, port = mailbox
    engine = two_customers(tmp_path)

    report = engine.send(
        SEND_DAY, tls_settings(tmp_path, port, None, implicit_tls=True)
    )

    (detail,) = {d.detail for d in report.deliveries}
    assert detail.startswith("attempt 1 of 5: TLS with the SMTP server failed (")
    assert detail.endswith(
        "); is the port one for TLS from the start (465, --smtp-implicit-tls) or "
        "for STARTTLS (587, --smtp-starttls)?"
    )
    assert box.messages == []


def test_the_send_command_encrypts_with_the_company_s_ca(
    tmp_path: Path, authority: trustme.CA, smtps_mailbox: tuple[Mailbox, int]
) -> None:
    """--smtp-implicit-tls and --smtp-ca-file from the command line."""
    box, port = smtps_mailbox
    two_customers(tmp_path).close()

    result = CliRunner().invoke(
        cli,
        [
            "send",
            *("--policy", str(tmp_path / "sending.dun")),
            *("--db", str(tmp_path / "send.db")),
            *("--on", "2024-03-07"),
            *("--smtp-host", "127.0.0.1", "--smtp-port", str(port)),
            *("--smtp-from", "mahnwesen@beispiel.example"),
            "--smtp-implicit-tls",
            *("--smtp-ca-file", str(ca_file(authority, tmp_path))),
        ],
    )

    assert result.exit_code == 0, result.output
    assert "2 notices on 2024-03-07: 2 sent" in result.output
    assert len(box.messages) == 2


def test_port_465_is_encrypted_from_the_start_unless_starttls_is_asked_for() -> None:
    """SMTPS is the rule on port 465; other ports and STARTTLS are left alone,
    and the rule can be turned off."""

    def smtp(port: int, **tls: bool) -> SmtpSettings:
        return SmtpSettings("mail.example", "a@b.example", port, **tls)  # type: ignore[arg-type]

    assert smtp(465).tls_from_start
    assert not smtp(465, starttls=True).tls_from_start
    assert not smtp(465, implicit_tls=False).tls_from_start
    assert not smtp(587).tls_from_start
    assert smtp(2465, implicit_tls=True).tls_from_start


def test_a_certificate_for_another_name_says_so(
    tmp_path: Path, authority: trustme.CA
) -> None:
    """A certificate issued for mail.example, reached as 127.0.0.1."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("mail.example").configure_cert(context)
    port = free_port()
    controller = Controller(
        Mailbox(), hostname="127.0.0.1", port=port, ssl_context=context
    )
    controller.start()
    try:
        engine = two_customers(tmp_path)
        trusted = ca_file(authority, tmp_path)
        report = engine.send(
            SEND_DAY, tls_settings(tmp_path, port, trusted, implicit_tls=True)
        )
    finally:
        controller.stop()

    (detail,) = {d.detail for d in report.deliveries}
    assert detail.startswith(
        "attempt 1 of 5: the SMTP server's certificate is for another name: "
    )
    assert detail.endswith("; give --smtp-host as the certificate names the server")


def test_a_plain_connection_to_port_465_that_times_out_says_why() -> None:
    """STARTTLS asked for on port 465: the client waits for a greeting the
    SMTPS server never sends."""
    settings = SmtpSettings("mail.example", "a@b.example", 465, starttls=True)

    assert smtp_error_text(TimeoutError("timed out"), settings) == (
        "the SMTP server did not answer in time; port 465 usually wants TLS from "
        "the start: leave out --smtp-starttls"
    )
    assert smtp_error_text(TimeoutError("timed out")) == (
        "the SMTP server did not answer in time"
    )
    plain = SmtpSettings("mail.example", "a@b.example", 465, implicit_tls=False)
    assert smtp_error_text(TimeoutError("timed out"), plain) == (
        "the SMTP server did not answer in time; port 465 usually wants TLS from "
        "the start: leave out --no-smtp-implicit-tls"
    )
    other = SmtpSettings("mail.example", "a@b.example", 4650)
    assert smtp_error_text(TimeoutError("timed out"), other) == (
        "the SMTP server did not answer in time (a port for TLS from the start "
        "never greets a client that does not begin with TLS: --smtp-implicit-tls)"
    )


def test_the_command_line_turns_off_what_the_environment_turned_on(
    tmp_path: Path, authority: trustme.CA, smtps_mailbox: tuple[Mailbox, int]
) -> None:
    """DUNNING_SMTP_STARTTLS=1 and --no-smtp-starttls: TLS from the start;
    DUNNING_SMTP_CA_FILE naming no file does not stop a send without a host."""
    box, port = smtps_mailbox
    two_customers(tmp_path).close()
    base = [
        "send",
        *("--policy", str(tmp_path / "sending.dun")),
        *("--db", str(tmp_path / "send.db")),
        *("--on", "2024-03-07"),
    ]

    dry = CliRunner().invoke(
        cli, [*base, "--dry-run"], env={"DUNNING_SMTP_CA_FILE": "/nowhere.pem"}
    )
    sent = CliRunner().invoke(
        cli,
        [
            *base,
            *("--smtp-host", "127.0.0.1", "--smtp-port", str(port)),
            *("--smtp-from", "mahnwesen@beispiel.example"),
            *("--no-smtp-starttls", "--smtp-implicit-tls"),
            *("--smtp-ca-file", str(ca_file(authority, tmp_path))),
        ],
        env={"DUNNING_SMTP_STARTTLS": "1"},
    )

    assert dry.exit_code == 0, dry.output
    assert sent.exit_code == 0, sent.output
    assert len(box.messages) == 2


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--smtp-implicit-tls", "--smtp-starttls"],
            "Invalid value for '--smtp-implicit-tls' and '--smtp-starttls': a "
            "connection is encrypted either from the start or with STARTTLS, not both",
        ),
        (
            ["--smtp-starttls", "--smtp-ca-file", "{tmp}/notes.txt"],
            "Invalid value for '--smtp-ca-file': {tmp}/notes.txt: not a file of "
            "PEM certificates",
        ),
        (
            ["--smtp-ca-file", "{tmp}/notes.txt"],
            "Invalid value for '--smtp-ca-file': {tmp}/notes.txt: certificates to "
            "trust are for an encrypted connection; ask for STARTTLS or TLS from "
            "the start as well",
        ),
        (
            ["--smtp-starttls", "--smtp-ca-file", "{tmp}/none.pem"],
            "Invalid value for '--smtp-ca-file': {tmp}/none.pem: no such file of "
            "certificates to trust",
        ),
    ],
    ids=["both kinds of TLS", "not certificates", "no encryption", "no file"],
)
def test_tls_options_that_cannot_work_are_usage_errors(
    tmp_path: Path, arguments: list[str], message: str
) -> None:
    """Exit code 2, and the option named, before anything is read or sent."""
    two_customers(tmp_path).close()
    (tmp_path / "notes.txt").write_text("not a certificate\n", encoding="utf-8")

    result = CliRunner().invoke(
        cli,
        [
            "send",
            *("--policy", str(tmp_path / "sending.dun")),
            *("--db", str(tmp_path / "send.db")),
            *("--smtp-host", "127.0.0.1", "--smtp-from", "a@b.example"),
            *(argument.format(tmp=tmp_path) for argument in arguments),
        ],
    )

    assert result.exit_code == 2
    assert message.format(tmp=tmp_path) in " ".join(result.output.split())


def test_smtp_settings_refuse_both_kinds_of_tls() -> None:
    """The settings themselves refuse STARTTLS on a connection already encrypted."""
    with pytest.raises(SendingError, match="not both"):
        SmtpSettings("h", "a@b.example", 465, starttls=True, implicit_tls=True)

"""Sending the outbox: letters, the business calendar, templates, plug-ins, review."""

from __future__ import annotations

import datetime as dt
import importlib
import io
import json
import re
import sys
from decimal import Decimal
from pathlib import Path

import pypdf
import pytest
from click.testing import CliRunner
from filelock import FileLock

import dunlang
from engine import Claim, Customer, Engine, Event, Money, Payment, Store
from engine.cli.main import cli
from engine.interest import load_base_rates
from engine.notices import Sender
from engine.outbox import OutboxItem
from engine.plugins import MeasureHandler
from engine.rendering import BUNDLED_TEMPLATES
from engine.sending import (
    SEND_LOCK_SUFFIX,
    MissingTemplatesError,
    SendingError,
    SendSettings,
    file_stem,
    message_id,
    templates_folder,
)

from .conftest import steady_base_rates

NBSP = "\xa0"

# Customers with segment "mail" get e-mails, everyone else letters. Every
# reminder charges a fee of 5.00 EUR, booked by the run.
POLICY = """\
policy "Sending" version "1"
  currency EUR
  calendar DE

group by_mail when customer.segment = "mail"
group by_text when customer.segment = "text"
group by_letter otherwise

measure reminder_letter = letter "reminder" fee 5.00 EUR
measure reminder_mail = email "reminder" fee 5.00 EUR
measure text_reminder = sms "reminder"
measure call = phone queue "receivables"

dunning by_mail
  terminal reminded
  current -> reminded after 5 days overdue do reminder_mail

dunning by_text
  terminal reminded
  current -> reminded after 5 days overdue do text_reminder

dunning by_letter
  terminal reminded
  current -> reminded after 5 days overdue do reminder_letter, call
"""

SENDER = Sender("Beispiel AG", "Am Markt 1\n20095 Hamburg", iban="DE02 1203 0000")
RUN_DAY = dt.date(2024, 3, 6)  # a Wednesday: due 03-01 + 5 days overdue
SEND_DAY = dt.date(2024, 3, 7)  # a Thursday


def eur(amount: str) -> Money:
    """An amount in euros."""
    return Money(Decimal(amount), "EUR")


def claim(claim_id: str, customer: str, amount: str) -> Claim:
    """An open EUR claim issued 2024-02-01, due 2024-03-01."""
    return Claim(
        claim_id,
        customer,
        eur(amount),
        eur(amount),
        dt.date(2024, 2, 1),
        dt.date(2024, 3, 1),
    )


def outbox_engine(
    tmp_path: Path,
    customers: list[Customer],
    claims: list[Claim],
    policy_text: str = POLICY,
) -> Engine:
    """A database with these customers and claims, run on 2024-03-06."""
    policy = dunlang.parse_policy(policy_text, str(tmp_path / "sending.dun"))
    (tmp_path / "sending.dun").write_text(policy_text, encoding="utf-8")
    engine = Engine(Store.open(tmp_path / "send.db"), policy)
    engine.add_customers(customers)
    engine.add_claims(claims)
    engine.run(RUN_DAY)
    return engine


def letter_customer(customer_id: str = "K2", **fields: str) -> Customer:
    """An English-speaking customer with a postal address and no e-mail."""
    values = {"name": "Example Ltd", "address": "1 High St\nLondon", "language": "en"}
    values.update(fields)
    return Customer(customer_id, **values)  # type: ignore[arg-type]


def settings(tmp_path: Path, **changes: object) -> SendSettings:
    """Letters into tmp_path/letters, the bundled templates, no SMTP server."""
    values: dict[str, object] = {"sender": SENDER, "out_dir": tmp_path / "letters"}
    values.update(changes)
    return SendSettings(**values)  # type: ignore[arg-type]


def pdf_text(data: bytes) -> str:
    """The text of every page of a PDF."""
    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def statuses(engine: Engine) -> dict[int, tuple[str, int]]:
    """Each outbox item's status and attempts."""
    return {item.id: (item.status, item.attempts) for item in engine.outbox()}


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Invoke the CLI; exit code and everything it printed."""
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.output


def send_arguments(
    tmp_path: Path,
    *extra: str,
    on: str = "2024-03-07",
    out: bool = True,
    before: tuple[str, ...] = (),
) -> list[str]:
    """`dunning send` on the test database and policy, letters into
    tmp_path/letters (unless `out` is false), with `extra` options; `before`
    holds options of `dunning` itself, such as -q."""
    arguments = [*before, "send", "--policy", str(tmp_path / "sending.dun")]
    arguments += ["--db", str(tmp_path / "send.db"), "--on", on]
    if out:
        arguments += ["--out", str(tmp_path / "letters")]
    return [*arguments, *extra]


# ---- letters -------------------------------------------------------------------


def test_one_letter_per_customer_with_the_amounts(tmp_path: Path) -> None:
    """Two claims of one customer give one HTML and PDF letter with fees and totals."""
    engine = outbox_engine(
        tmp_path,
        [letter_customer()],
        [claim("B", "K2", "250.00"), claim("C", "K2", "50.00")],
    )

    report = engine.send(SEND_DAY, settings(tmp_path))

    (line,) = report.deliveries
    assert (line.customer_id, line.channel, line.claims, line.status) == (
        "K2",
        "letter",
        ("B", "C"),
        "sent",
    )
    html = (tmp_path / "letters" / "1-K2.html").read_text(encoding="utf-8")
    pdf = (tmp_path / "letters" / "1-K2.pdf").read_bytes()
    # B: 250.00 open + 5.00 fee = 255.00; C: 50.00 + 5.00 = 55.00;
    # together 300.00 open, 10.00 fees, 310.00 to pay.
    for amount in ("€250.00", "€255.00", "€55.00", "€10.00", "€310.00"):
        assert amount in html
    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf)
    for amount in ("€255.00", "€55.00", "€310.00"):
        assert amount in text
    assert "Payment reminder" in text
    # The two letter items are sent with the PDF as their document; the phone
    # call items stay pending for people.
    letters = [i for i in engine.outbox() if i.kind == "letter"]
    assert {(i.status, i.attempts, i.channel) for i in letters} == {
        ("sent", 1, "letter")
    }
    assert {i.document for i in letters} == {str(tmp_path / "letters" / "1-K2.pdf")}
    assert {i.status for i in engine.outbox() if i.kind == "phone"} == {"pending"}
    assert report.waiting == 2


def test_sending_again_sends_nothing(tmp_path: Path) -> None:
    """A second send finds nothing to do and leaves the letter files alone."""
    engine = outbox_engine(tmp_path, [letter_customer()], [claim("B", "K2", "250.00")])
    engine.send(SEND_DAY, settings(tmp_path))
    written = (tmp_path / "letters" / "1-K2.pdf").stat().st_mtime_ns

    again = engine.send(SEND_DAY + dt.timedelta(days=1), settings(tmp_path))

    assert again.deliveries == ()
    assert again.ok
    assert (tmp_path / "letters" / "1-K2.pdf").stat().st_mtime_ns == written
    deliveries = engine.store.conn.execute("SELECT count(*) FROM deliveries")
    assert deliveries.fetchone()[0] == 1


def test_a_payment_deadline_is_named_and_moved_to_a_business_day(
    tmp_path: Path,
) -> None:
    """Sent Thursday 2024-03-07 with 16 days to pay: Saturday 03-23, so Monday."""
    engine = outbox_engine(tmp_path, [letter_customer()], [claim("B", "K2", "250.00")])

    engine.send(SEND_DAY, settings(tmp_path, pay_within=16))

    # 2024-03-07 + 16 days = Saturday 2024-03-23; the next business day of the
    # policy's calendar (DE) is Monday 2024-03-25.
    html = (tmp_path / "letters" / "1-K2.html").read_text(encoding="utf-8")
    assert "by March 25, 2024" in html
    assert "within the next few days" not in html
    assert "by March 25, 2024" in pdf_text(
        (tmp_path / "letters" / "1-K2.pdf").read_bytes()
    )


def test_without_a_payment_period_the_notice_names_no_date(tmp_path: Path) -> None:
    """No --pay-within: the template's wording without a date."""
    engine = outbox_engine(tmp_path, [letter_customer()], [claim("B", "K2", "250.00")])

    engine.send(SEND_DAY, settings(tmp_path))

    html = (tmp_path / "letters" / "1-K2.html").read_text(encoding="utf-8")
    assert "within the next few days" in html
    assert "2024" not in html.split("Please transfer", 1)[1].split("</p>", 1)[0]


def test_the_payment_period_on_the_command_line(tmp_path: Path) -> None:
    """`--pay-within 14` from Thursday 03-07 asks for payment by Thursday 03-21."""
    engine = outbox_engine(tmp_path, [letter_customer()], [claim("B", "K2", "250.00")])
    engine.close()
    arguments = send_arguments(tmp_path)

    code, out = invoke(*arguments, "--pay-within", "-1")
    assert code == 2
    assert "--pay-within" in out and "-1" in out

    code, out = invoke(*arguments, "--pay-within", "14")
    assert code == 0, out
    html = (tmp_path / "letters" / "1-K2.html").read_text(encoding="utf-8")
    # 2024-03-07 + 14 days = Thursday 2024-03-21, a business day in Germany.
    assert "by March 21, 2024" in html


def test_notices_work_interest_out_with_the_given_base_rate_table(
    tmp_path: Path,
) -> None:
    """Sent on 2027-02-01, past the bundled table: with a table of the user's,
    the letter shows the interest accrued; without one, it waits."""
    text = POLICY.replace(
        'letter "reminder" fee 5.00 EUR', 'letter "reminder" interest statutory'
    )
    engine = outbox_engine(
        tmp_path, [letter_customer()], [claim("B", "K2", "250.00")], text
    )
    on = dt.date(2027, 2, 1)  # a Monday
    rates = steady_base_rates(tmp_path / "rates.csv", "3.00", 2024, 2027)

    waiting = engine.send(on, settings(tmp_path))
    assert [delivery.status for delivery in waiting.deliveries] == ["failed"]

    sent = engine.send(on, settings(tmp_path, base_rates=load_base_rates(rates)))

    assert [delivery.status for delivery in sent.deliveries] == ["sent"]
    html = (tmp_path / "letters" / "1-K2.html").read_text(encoding="utf-8")
    # K2 is a business: 3.00 + 9 = 12.00 % on 250.00 from 2024-03-02 to
    # 2027-02-01; the rate never changes, so the parts are the calendar years
    # (docs/interest.md), each 250.00 x 12 % x days / 365 rounded: 305 days
    # 25.07, 365 days 30.00, 365 days 30.00 and 32 days 2.63 = 87.70. The
    # flat fee is 40.00.
    assert "€87.70" in html
    assert "€40.00" in html


def test_a_second_send_meanwhile_stops_and_sends_nothing(tmp_path: Path) -> None:
    """While a send holds the database's send lock, another one sends nothing."""
    engine = outbox_engine(tmp_path, [letter_customer()], [claim("B", "K2", "250.00")])
    database = tmp_path / "send.db"
    with FileLock(f"{database}{SEND_LOCK_SUFFIX}"):  # the first send, still going
        with pytest.raises(SendingError) as refused:
            engine.send(SEND_DAY, settings(tmp_path))
        assert str(refused.value) == (
            f"another send is working on {database} (it holds "
            f"{database}.send-lock); nothing was sent: try again once it has "
            "finished"
        )
        assert not (tmp_path / "letters").exists()
        assert {status for status, _ in statuses(engine).values()} == {"pending"}

        code, out = invoke(*send_arguments(tmp_path))
        assert code == 1
        assert out.startswith(f"Error: another send is working on {database} ")

    # Once the first has finished, the letter goes out, once.
    report = engine.send(SEND_DAY, settings(tmp_path))
    assert [delivery.customer_id for delivery in report.deliveries] == ["K2"]
    assert (tmp_path / "letters" / "1-K2.pdf").exists()


def test_the_send_lock_holds_for_a_database_reached_through_a_link(
    tmp_path: Path,
) -> None:
    """A send through a symbolic link to the database meets the same lock."""
    engine = outbox_engine(tmp_path, [letter_customer()], [claim("B", "K2", "250.00")])
    database = tmp_path / "send.db"
    link = tmp_path / "alias.db"
    link.symlink_to(database)
    aliased = Engine(Store.open(link, create=False), engine.policy)

    # A send on the real path holds the lock.
    with (
        FileLock(f"{database}{SEND_LOCK_SUFFIX}"),
        pytest.raises(SendingError, match="another send is working on"),
    ):
        aliased.send(SEND_DAY, settings(tmp_path))
    assert not (tmp_path / "letters").exists()
    assert not (tmp_path / f"alias.db{SEND_LOCK_SUFFIX}").exists()


def test_a_customer_without_any_address_is_undeliverable(tmp_path: Path) -> None:
    """No e-mail and no postal address: undeliverable with a clear detail, no file."""
    engine = outbox_engine(
        tmp_path, [Customer("K3", "Nowhere Ltd")], [claim("D", "K3", "80.00")]
    )

    report = engine.send(SEND_DAY, settings(tmp_path))

    (line,) = report.deliveries
    assert line.status == "undeliverable"
    assert not report.ok
    (item,) = [i for i in engine.outbox() if i.kind == "letter"]
    assert item.status == "undeliverable"
    assert item.last_error == (
        "no e-mail address and no postal address: a clerk must find one"
    )
    assert not (tmp_path / "letters").exists()
    # Undeliverable items are never picked up again by themselves.
    assert engine.send(SEND_DAY, settings(tmp_path)).deliveries == ()


def test_a_claim_settled_before_sending_is_not_dunned(tmp_path: Path) -> None:
    """A claim paid in full since the run leaves the notice; its item is closed."""
    engine = outbox_engine(
        tmp_path,
        [letter_customer()],
        [claim("B", "K2", "250.00"), claim("C", "K2", "50.00")],
    )
    engine.store.conn.execute("UPDATE claims SET open_amount = '0' WHERE id = 'C'")

    engine.send(SEND_DAY, settings(tmp_path))

    html = (tmp_path / "letters" / "1-K2.html").read_text(encoding="utf-8")
    assert "B</td>" in html and ">C</td>" not in html
    by_claim = {i.claim_id: i for i in engine.outbox() if i.kind == "letter"}
    assert by_claim["B"].status == "sent"
    assert by_claim["C"].status == "done"
    assert (
        "settled before the notice went out"
        in (
            engine.store.conn.execute(
                "SELECT detail FROM deliveries WHERE measure_id = ?",
                (by_claim["C"].id,),
            ).fetchone()[0]
        )
    )


def test_file_names_are_stable_and_unique() -> None:
    """File names keep plain ids and make odd ids safe without clashes."""
    assert file_stem(4, "K-17") == "4-K-17"
    odd = file_stem(4, "K/17")
    assert odd.startswith("4-K_17-") and "/" not in odd
    assert odd != file_stem(4, "K_17")
    assert odd == file_stem(4, "K/17")


def test_message_ids_are_derived_from_the_notice() -> None:
    """The same notice gives the same Message-ID; another notice another one."""
    first = message_id(3, "K1", [7, 5], "beispiel.example")

    assert first == message_id(3, "K1", [5, 7], "beispiel.example")
    assert first != message_id(3, "K1", [5], "beispiel.example")
    assert first != message_id(4, "K1", [5, 7], "beispiel.example")
    assert first.startswith("<dunning.3.") and first.endswith("@beispiel.example>")


def test_a_dry_run_lists_and_writes_nothing(tmp_path: Path) -> None:
    """A dry run plans the notices and leaves the outbox and the folder alone."""
    engine = outbox_engine(tmp_path, [letter_customer()], [claim("B", "K2", "250.00")])

    report = engine.send(SEND_DAY, settings(tmp_path), dry_run=True)

    (line,) = report.deliveries
    assert (line.status, line.to) == ("planned", "1-K2.pdf")
    assert {i.status for i in engine.outbox()} == {"pending"}
    assert not (tmp_path / "letters").exists()


# ---- templates -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (
            "{{ ''.__class__.__mro__ }}",
            "template `reminder.en.html`, line 1: not allowed: `__class__` is "
            "out of a template's reach",
        ),
        (
            '{% include "../../../etc/passwd" %}',
            "refused to load `../../../etc/passwd`",
        ),
    ],
)
def test_a_template_reaching_out_sends_nothing(
    tmp_path: Path, template: str, expected: str
) -> None:
    """A template reaching Python or a file fails clearly; that notice is not sent."""
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "reminder.en.html").write_text(template, encoding="utf-8")
    engine = outbox_engine(
        tmp_path,
        [letter_customer(), letter_customer("K4", name="Other Ltd", language="de")],
        [claim("B", "K2", "250.00"), claim("E", "K4", "70.00")],
    )

    report = engine.send(SEND_DAY, settings(tmp_path, templates=templates))

    english, german = report.deliveries
    assert english.status == "failed"
    assert english.detail is not None
    assert english.detail.startswith("attempt 1 of 5: ")
    assert expected in english.detail
    assert not (tmp_path / "letters" / "1-K2.html").exists()
    assert not (tmp_path / "letters" / "1-K2.pdf").exists()
    # The German customer's letter comes from the bundled German template.
    assert german.status == "sent"
    assert (tmp_path / "letters" / "1-K4.pdf").exists()


# A policy whose letter and e-mail name templates that nothing ships.
MISSING_POLICY = POLICY.replace('letter "reminder"', 'letter "our-reminder"').replace(
    'email "reminder"', 'email "our-e-mail"'
)


def test_missing_templates_stop_the_send_before_anything_goes_out(
    tmp_path: Path,
) -> None:
    """Every missing template is named with its measure and line; nothing is sent."""
    engine = outbox_engine(
        tmp_path,
        [
            letter_customer(),
            letter_customer("K4", name="Other Ltd"),
            Customer("K1", "Muster GmbH", segment="mail", email="ap@muster.example"),
        ],
        [claim("B", "K2", "250.00"), claim("E", "K4", "70.00"), claim("A", "K1", "9")],
        policy_text=MISSING_POLICY,
    )
    engine.close()

    code, out = invoke(*send_arguments(tmp_path))

    # Lines 9 and 10 of the policy define the two measures; K2 and K4 get a
    # letter each, K1 an e-mail. The templates folder beside the policy,
    # tmp_path/templates, does not exist.
    assert code == 1
    assert out == (
        "Error: 2 templates are missing; nothing was sent:\n"
        f"  {tmp_path}/sending.dun:9: the letter template `our-reminder` of "
        "measure `reminder_letter` (2 notices): neither our-reminder.html nor "
        "our-reminder.en.html exists\n"
        '      measure reminder_letter = letter "our-reminder" fee 5.00 EUR\n'
        f"  {tmp_path}/sending.dun:10: the e-mail template `our-e-mail` of "
        "measure `reminder_mail` (1 notice): neither our-e-mail.txt nor "
        "our-e-mail.en.txt exists\n"
        '      measure reminder_mail = email "our-e-mail" fee 5.00 EUR\n'
        f"searched: {BUNDLED_TEMPLATES} (bundled); put the policy's templates "
        f"into {tmp_path}/templates beside the policy, or name another folder "
        "with --templates\n"
    )
    assert not (tmp_path / "letters").exists()
    store = Store.open(tmp_path / "send.db")
    try:
        items = store.conn.execute(
            "SELECT kind, status, attempts FROM measures WHERE kind IN (?, ?)",
            ("letter", "email"),
        ).fetchall()
        deliveries = store.conn.execute("SELECT COUNT(*) FROM deliveries").fetchone()
    finally:
        store.close()
    assert sorted(items) == [
        ("email", "pending", 0),
        ("letter", "pending", 0),
        ("letter", "pending", 0),
    ]
    assert deliveries == (0,)


def test_a_template_folder_that_lacks_one_is_named_as_searched(
    tmp_path: Path,
) -> None:
    """With a folder given, the error names it and the bundled one; no dry run either."""
    ours = tmp_path / "ours"
    ours.mkdir()
    # Only German: the fallback language, English, is what must exist.
    (ours / "our-reminder.de.html").write_text("<p>Hallo</p>", encoding="utf-8")
    engine = outbox_engine(
        tmp_path,
        [letter_customer(language="de")],
        [claim("B", "K2", "250.00")],
        policy_text=MISSING_POLICY,
    )

    with pytest.raises(MissingTemplatesError) as raised:
        engine.send(SEND_DAY, settings(tmp_path, templates=ours), dry_run=True)

    (missing,) = raised.value.missing
    assert (missing.template, missing.kind, missing.measure, missing.line) == (
        "our-reminder",
        "letter",
        "reminder_letter",
        9,
    )
    assert str(raised.value).endswith(
        f"searched: {ours} (given), {BUNDLED_TEMPLATES} (bundled)"
    )
    assert {item.status for item in engine.outbox()} == {"pending"}


def test_the_templates_folder_beside_the_policy_is_used(tmp_path: Path) -> None:
    """Without a templates folder given, templates/ next to the policy file is used."""
    beside = tmp_path / "templates"
    beside.mkdir()
    (beside / "our-reminder.en.html").write_text(
        '{% extends "_letter.en.html" %}\n'
        "{% block title %}Our own reminder{% endblock %}\n",
        encoding="utf-8",
    )
    policy_text = MISSING_POLICY.replace('"our-e-mail"', '"reminder"')
    engine = outbox_engine(
        tmp_path, [letter_customer()], [claim("B", "K2", "250.00")], policy_text
    )

    report = engine.send(SEND_DAY, settings(tmp_path))

    (line,) = report.deliveries
    assert line.status == "sent"
    html = (tmp_path / "letters" / "1-K2.html").read_text(encoding="utf-8")
    assert "<h2>Our own reminder</h2>" in html
    # B: 250.00 open + 5.00 fee from the run = 255.00 EUR.
    assert "€255.00" in html
    assert templates_folder(engine.policy, settings(tmp_path)) == beside
    given = tmp_path / "elsewhere"
    assert templates_folder(engine.policy, settings(tmp_path, templates=given)) == (
        given
    )


def test_a_policy_without_a_file_has_no_folder_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A policy parsed from text has no folder, even if one called templates exists."""
    (tmp_path / "templates").mkdir()
    monkeypatch.chdir(tmp_path)
    policy = dunlang.parse_policy(POLICY, "<policy>")

    assert templates_folder(policy, settings(tmp_path)) is None


# ---- the business calendar -------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "why", "following"),
    [
        # 2024-03-09 is a Saturday; Monday 03-11 is the next business day.
        ("2024-03-09", "2024-03-09 is a Saturday, not a business day", "2024-03-11"),
        # Good Friday 2024-03-29 and Easter Monday 04-01 are German holidays.
        ("2024-03-29", "2024-03-29 is a public holiday (Good Friday)", "2024-04-02"),
    ],
)
def test_nothing_is_sent_on_a_day_off(
    tmp_path: Path, day: str, why: str, following: str
) -> None:
    """On a weekend or holiday nothing is sent; the command says when to send."""
    engine = outbox_engine(tmp_path, [letter_customer()], [claim("B", "K2", "250.00")])
    engine.close()

    code, out = invoke(*send_arguments(tmp_path, on=day))

    weekday = dt.date.fromisoformat(following).strftime("%A")
    assert code == 0
    assert out == (
        f"nothing sent: {why} in the policy's calendar (DE); the next business "
        f"day is {following} ({weekday})\n"
    )
    assert not (tmp_path / "letters").exists()


# ---- the command -----------------------------------------------------------------


def test_the_send_command_prints_a_summary(tmp_path: Path) -> None:
    """`dunning send` writes the letters, prints each notice and a summary line."""
    engine = outbox_engine(
        tmp_path,
        [letter_customer(), Customer("K3", "Nowhere Ltd")],
        [claim("B", "K2", "250.00"), claim("D", "K3", "80.00")],
    )
    engine.close()
    sender = tmp_path / "sender.toml"
    sender.write_text('name = "Beispiel AG"\naddress = ["Am Markt 1"]\n')

    code, out = invoke(*send_arguments(tmp_path, "--sender", str(sender)))

    assert code == 1
    assert "1-K2.pdf" in out
    assert "no e-mail address and no postal address: a clerk must find one" in out
    assert "2 notices on 2024-03-07: 1 sent, 1 undeliverable" in out
    assert (
        "2 pending items of other kinds (calls, tasks, stops, agency handovers) "
        "are not sent by this command" in out
    )
    html = (tmp_path / "letters" / "1-K2.html").read_text(encoding="utf-8")
    assert "Beispiel AG · Am Markt 1" in html


def test_a_bad_sender_file_is_named(tmp_path: Path) -> None:
    """A sender file with an unknown field is refused with the file and field."""
    outbox_engine(tmp_path, [letter_customer()], [claim("B", "K2", "250.00")]).close()
    sender = tmp_path / "sender.toml"
    sender.write_text('name = "Beispiel AG"\nbank = "x"\n')

    code, out = invoke(*send_arguments(tmp_path, "--sender", str(sender), out=False))

    assert code == 1
    assert out == (
        f"Error: {sender}: unknown field `bank`; a sender has address, bic, "
        "email, iban, name, phone, vat_id, website\n"
    )


def test_e_mails_without_an_smtp_server_are_refused(tmp_path: Path) -> None:
    """E-mails to send and no SMTP server: an error, and nothing is sent at all."""
    engine = outbox_engine(
        tmp_path,
        [Customer("K1", "Muster GmbH", segment="mail", email="ap@muster.example")],
        [claim("A", "K1", "100.00")],
    )
    engine.close()

    code, out = invoke(*send_arguments(tmp_path, out=False))

    assert code == 1
    assert out == (
        "Error: 1 notice goes by e-mail but no SMTP server is set; give "
        "--smtp-host and --smtp-from (or DUNNING_SMTP_HOST and DUNNING_SMTP_FROM); "
        "nothing was sent\n"
    )


def test_the_outbox_command_lists_items(tmp_path: Path) -> None:
    """`dunning outbox` filters by status and kind and writes CSV and JSON."""
    engine = outbox_engine(tmp_path, [letter_customer()], [claim("B", "K2", "250.00")])
    engine.send(SEND_DAY, settings(tmp_path))
    engine.close()
    db = str(tmp_path / "send.db")

    code, out = invoke("outbox", "--db", db, "--status", "pending", "--format", "csv")
    assert code == 0
    assert out == (
        "id,run,as_of,claim,customer,measure,kind,status,attempts,channel,"
        "sent_at,document,last_error\n"
        "2,1,2024-03-06,B,K2,call,phone,pending,0,,,,\n"
    )

    code, out = invoke("outbox", "--db", db, "--kind", "letter", "--format", "json")
    assert code == 0
    (row,) = json.loads(out)
    assert (row["id"], row["status"], row["attempts"], row["channel"]) == (
        1,
        "sent",
        1,
        "letter",
    )
    assert row["document"] == str(tmp_path / "letters" / "1-K2.pdf")

    code, out = invoke("outbox", "--db", db)
    assert code == 0
    assert "reminder_letter" in out and "call" in out
    assert out.endswith("2 items\n")


def test_the_outbox_command_refuses_an_unknown_run(tmp_path: Path) -> None:
    """A run number that does not exist is named, with the runs that do."""
    outbox_engine(tmp_path, [letter_customer()], [claim("B", "K2", "250.00")]).close()

    code, out = invoke("outbox", "--db", str(tmp_path / "send.db"), "--run", "9")

    assert code == 1
    assert out == "Error: there is no run 9; runs are 1-1\n"


# ---- plug-ins --------------------------------------------------------------------

HANDLER = """\
from engine.plugins import Outcome

RECEIVED = []


class TextMessages:
    def send(self, item, context):
        RECEIVED.append((item.id, item.claim_id, item.template, context.customer.id,
                         context.claim.open_amount, context.on))
        return Outcome("sent", "gateway id 42")
"""


def test_a_plug_in_from_an_entry_point_gets_its_items(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A handler registered as an entry point receives the item; it shows as sent."""
    site = tmp_path / "site"
    info = site / "dunning_sms-1.0.dist-info"
    info.mkdir(parents=True)
    (site / "dunning_sms_test.py").write_text(HANDLER, encoding="utf-8")
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: dunning-sms\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(
        "[dunning.measures]\nsms = dunning_sms_test:TextMessages\n"
    )
    monkeypatch.syspath_prepend(str(site))
    engine = outbox_engine(
        tmp_path,
        [Customer("K5", "Texter GmbH", segment="text")],
        [claim("F", "K5", "90.00")],
    )

    report = engine.send(SEND_DAY, settings(tmp_path))

    (line,) = report.deliveries
    assert (line.channel, line.status, line.detail) == ("sms", "sent", "gateway id 42")
    received = sys.modules["dunning_sms_test"].RECEIVED
    assert received == [(1, "F", "reminder", "K5", eur("90.00"), SEND_DAY)]
    (item,) = engine.outbox()
    assert (item.status, item.channel) == ("sent", "sms")


def test_a_missing_plug_in_fails_the_item(tmp_path: Path) -> None:
    """Without a handler for `sms`, the item fails and says what to install."""
    engine = outbox_engine(
        tmp_path,
        [Customer("K5", "Texter GmbH", segment="text")],
        [claim("F", "K5", "90.00")],
    )

    report = engine.send(SEND_DAY, settings(tmp_path))

    (line,) = report.deliveries
    assert line.status == "failed"
    (item,) = engine.outbox()
    assert item.status == "failed"
    assert item.last_error is not None
    assert item.last_error.startswith(
        "attempt 1 of 5: no plug-in handles measures of kind `sms`: install the "
        "package that provides it (entry point group `dunning.measures`, name `sms`)"
    )


def test_failed_items_stop_after_the_most_attempts(tmp_path: Path) -> None:
    """A failing item is tried --max-attempts times, then reported, not retried."""
    engine = outbox_engine(
        tmp_path,
        [Customer("K5", "Texter GmbH", segment="text")],
        [claim("F", "K5", "90.00")],
    )

    for _ in range(2):
        engine.send(SEND_DAY, settings(tmp_path, max_attempts=2))
    third = engine.send(SEND_DAY, settings(tmp_path, max_attempts=2))

    assert third.deliveries == ()
    assert [item.id for item in third.exhausted] == [1]
    assert not third.ok
    assert statuses(engine) == {1: ("failed", 2)}


def test_outbox_items_are_typed(tmp_path: Path) -> None:
    """`Engine.outbox` gives typed items with amounts as Money."""
    engine = outbox_engine(tmp_path, [letter_customer()], [claim("B", "K2", "250.00")])

    first = engine.outbox(kinds=["letter"])[0]

    assert isinstance(first, OutboxItem)
    assert first.open_amount == eur("250.00")
    assert first.fee == eur("5.00")
    assert first.template == "reminder"


def test_the_sms_handler_in_the_api_guide_fits_the_protocol() -> None:
    """The SMS handler of docs/api.md defines a MeasureHandler (nothing is sent)."""
    text = (Path(__file__).resolve().parent.parent / "docs" / "api.md").read_text(
        encoding="utf-8"
    )
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "Sms" in b]
    namespace: dict[str, object] = {}

    exec(compile(block, "docs/api.md", "exec"), namespace)

    handler = namespace["SmsHandler"]
    assert isinstance(handler, type)
    assert isinstance(handler(), MeasureHandler)


# ---- what a send leaves alone, and one notice per claim ------------------------

TWO_LETTERS = """\
policy "Two letters" version "1"
  currency EUR
  calendar DE

group everyone otherwise

measure reminder_letter = letter "reminder"
measure final_letter = letter "final-notice"

dunning everyone
  terminal final
  current -> reminded after 5 days overdue do reminder_letter
  reminded -> final after 7 days in state do final_letter
"""


def hold_customer(engine: Engine, customer_id: str, starts: dt.date) -> None:
    """Anna holds every claim of a customer from `starts`: an insolvency check."""
    from engine.holds import set_hold

    with engine.store.transaction() as conn:
        set_hold(
            conn,
            customer_id=customer_id,
            reason="insolvency check",
            by="anna",
            starts=starts,
        )


def test_a_claim_with_two_pending_letters_gets_the_newest(tmp_path: Path) -> None:
    """Reminder (run 03-06) and final notice (run 03-13) pending: one letter at
    the final level; the reminder item is closed as superseded."""
    engine = outbox_engine(
        tmp_path, [letter_customer()], [claim("B", "K2", "250.00")], TWO_LETTERS
    )
    # 03-06 + 7 days in state = 03-13, a Wednesday: run 2 queues the final notice.
    engine.run(dt.date(2024, 3, 13))

    report = engine.send(dt.date(2024, 3, 14), settings(tmp_path))

    (line,) = report.deliveries
    assert (line.run_id, line.claims, line.items, line.status) == (
        2,
        ("B",),
        (2,),
        "sent",
    )
    assert report.superseded == (1,)
    assert statuses(engine) == {1: ("done", 1), 2: ("sent", 1)}
    detail = engine.store.conn.execute(
        "SELECT channel, status, detail FROM deliveries WHERE measure_id = 1"
    ).fetchone()
    assert detail == (
        "letter",
        "done",
        "superseded by item 2 (measure final_letter of 2024-03-13)",
    )
    # The letter file is named after the newest run, and is the final notice.
    assert not (tmp_path / "letters" / "1-K2.pdf").exists()
    text = pdf_text((tmp_path / "letters" / "2-K2.pdf").read_bytes())
    assert "Payment reminder" not in text


def test_a_customer_gets_one_notice_for_claims_of_several_runs(
    tmp_path: Path,
) -> None:
    """Claim B dunned by run 1, claim C (due later) by run 2: one notice for both."""
    late = Claim(
        "C", "K2", eur("50.00"), eur("50.00"), dt.date(2024, 2, 1), dt.date(2024, 3, 4)
    )
    engine = outbox_engine(
        tmp_path, [letter_customer()], [claim("B", "K2", "250.00"), late]
    )
    # C is due 03-04: 5 days overdue on 03-09, a Saturday; the run of 03-11 has it.
    engine.run(dt.date(2024, 3, 11))

    report = engine.send(dt.date(2024, 3, 11), settings(tmp_path))

    (line,) = report.deliveries
    assert (line.run_id, line.claims, line.status) == (2, ("B", "C"), "sent")
    assert report.superseded == ()


def test_items_of_a_held_customer_are_left_alone(tmp_path: Path) -> None:
    """A hold set after the run: send leaves the items pending, untried, and says so."""
    engine = outbox_engine(tmp_path, [letter_customer()], [claim("B", "K2", "250.00")])
    hold_customer(engine, "K2", RUN_DAY)
    engine.close()

    code, out = invoke(*send_arguments(tmp_path))

    assert code == 0
    assert out == (
        "nothing to send on 2024-03-07\n"
        "1 item held back: claim or customer on hold (hold 1 by anna: "
        "insolvency check)\n"
        "1 pending item of other kinds (calls, tasks, stops, agency handovers) "
        "is not sent by this command; see `dunning outbox --status pending`\n"
    )
    with Store.open(tmp_path / "send.db") as store:
        rows = store.conn.execute("SELECT status, attempts FROM measures").fetchall()
        delivered = store.conn.execute("SELECT count(*) FROM deliveries").fetchone()
    assert rows == [("pending", 0), ("pending", 0)]
    assert delivered == (0,)


def test_a_send_before_the_run_leaves_its_items_alone(tmp_path: Path) -> None:
    """--on 03-05, before the run of 03-06 queued the letter: nothing is sent."""
    engine = outbox_engine(tmp_path, [letter_customer()], [claim("B", "K2", "250.00")])

    report = engine.send(dt.date(2024, 3, 5), settings(tmp_path))

    assert report.deliveries == ()
    (group,) = report.held_back
    assert group.describe() == (
        "1 item held back: queued by the run of 2024-03-06, after 2024-03-05 "
        "(carried out on 2024-03-06 or later)"
    )
    assert statuses(engine) == {1: ("pending", 0), 2: ("pending", 0)}


def test_quiet_send_prints_nothing_when_all_went_out(tmp_path: Path) -> None:
    """`dunning -q send`: no table and no summary when every notice went out."""
    engine = outbox_engine(tmp_path, [letter_customer()], [claim("B", "K2", "250.00")])
    engine.close()

    code, out = invoke(*send_arguments(tmp_path, before=("-q",)))

    assert (code, out) == (0, "")
    assert (tmp_path / "letters" / "1-K2.pdf").exists()


def test_quiet_send_prints_only_the_problems(tmp_path: Path) -> None:
    """`dunning -q send` with an undeliverable notice: that line and the summary."""
    engine = outbox_engine(
        tmp_path,
        [letter_customer(), Customer("K3", "Nowhere Ltd")],
        [claim("B", "K2", "250.00"), claim("D", "K3", "80.00")],
    )
    engine.close()

    code, out = invoke(*send_arguments(tmp_path, before=("-q",)))

    assert code == 1
    assert out == (
        "customer K3 (D): letter undeliverable: no e-mail address and no postal "
        "address: a clerk must find one\n"
        "2 notices on 2024-03-07: 1 sent, 1 undeliverable\n"
    )


def test_a_later_letter_of_the_same_run_never_replaces_an_earlier_one(
    tmp_path: Path,
) -> None:
    """Claim C is held on the send day, B goes out as 1-K2.pdf; after the release
    C's letter of the same run is written as 1-K2-2.pdf and 1-K2.pdf is unchanged."""
    engine = outbox_engine(
        tmp_path,
        [letter_customer()],
        [claim("B", "K2", "250.00"), claim("C", "K2", "80.00")],
    )
    engine.hold("C", reason="address check", by="anna", starts=RUN_DAY)
    engine.send(SEND_DAY, settings(tmp_path))
    first = (tmp_path / "letters" / "1-K2.pdf").read_bytes()
    engine.release("C", by="anna", on=SEND_DAY)

    engine.send(SEND_DAY + dt.timedelta(days=1), settings(tmp_path))

    assert (tmp_path / "letters" / "1-K2.pdf").read_bytes() == first
    later = pdf_text((tmp_path / "letters" / "1-K2-2.pdf").read_bytes())
    # Only C is on the later letter: 80.00 open + the 5.00 reminder fee = 85.00,
    # in English (babel writes euros as €80.00); B (250.00) went out before.
    assert "€80.00" in later and "€85.00" in later
    assert "€250.00" not in later
    documents = dict(
        engine.store.conn.execute(
            "SELECT claim_id, document FROM measures WHERE kind = 'letter'"
        ).fetchall()
    )
    assert documents == {
        "B": str(tmp_path / "letters" / "1-K2.pdf"),
        "C": str(tmp_path / "letters" / "1-K2-2.pdf"),
    }


# ---- payment plans, changes since the run, interest past the base rates ---------


def planned_engine(
    tmp_path: Path, policy_text: str = POLICY, customer: str = "K2"
) -> Engine:
    """Claim R3 of 900.00 EUR due 2026-01-15 for `customer`, in three
    instalments of 300.00 due 2026-01-10, 02-10 and 03-10, run on 2026-01-29."""
    policy = dunlang.parse_policy(policy_text, str(tmp_path / "sending.dun"))
    (tmp_path / "sending.dun").write_text(policy_text, encoding="utf-8")
    engine = Engine(Store.open(tmp_path / "send.db"), policy)
    engine.add_customers([letter_customer(customer)])
    engine.add_claims(
        [
            Claim(
                "R3",
                customer,
                eur("900.00"),
                eur("900.00"),
                dt.date(2025, 12, 16),
                dt.date(2026, 1, 15),
            )
        ]
    )
    engine.add_plan(
        "R3",
        [
            (dt.date(2026, 1, 10), "300.00"),
            (dt.date(2026, 2, 10), "300.00"),
            (dt.date(2026, 3, 10), "300.00"),
        ],
    )
    engine.run(dt.date(2026, 1, 29))
    return engine


def test_a_letter_under_a_payment_plan_asks_for_the_overdue_part(
    tmp_path: Path,
) -> None:
    """The letter asks for the overdue instalment and its fee, not all 900.00."""
    engine = planned_engine(tmp_path)
    (item,) = [i for i in engine.outbox() if i.kind == "letter"]
    assert (item.open_amount, item.fee) == (eur("300.00"), eur("5.00"))

    report = engine.send(dt.date(2026, 1, 29), settings(tmp_path))

    assert [line.status for line in report.deliveries] == ["sent"]
    html = (tmp_path / "letters" / "1-K2.html").read_text(encoding="utf-8")
    # On 01-29 only instalment 1 (300.00, due 01-10) is overdue: 300.00 open
    # plus the reminder fee of 5.00 = 305.00; the invoice's amount stays 900.00.
    for amount in ("€900.00", "€300.00", "€305.00"):
        assert amount in html
    assert "€905.00" not in html
    assert "the overdue instalments of the payment plan" in html


def test_a_later_send_asks_for_every_instalment_overdue_by_then(
    tmp_path: Path,
) -> None:
    """Sent on 02-11, the letter asks for instalments 1 and 2."""
    engine = planned_engine(tmp_path)

    engine.send(dt.date(2026, 2, 11), settings(tmp_path))

    html = (tmp_path / "letters" / "1-K2.html").read_text(encoding="utf-8")
    # Instalments due 01-10 and 02-10 are both before 02-11: 600.00 overdue,
    # plus the 5.00 fee = 605.00.
    assert "€600.00" in html and "€605.00" in html


def test_a_plan_with_nothing_overdue_on_the_send_day_gets_no_letter(
    tmp_path: Path,
) -> None:
    """Instalment 1 paid and applied before sending: the letter item is closed."""
    engine = planned_engine(tmp_path)
    engine.add_payments([Payment("P1", "R3", eur("300.00"), dt.date(2026, 1, 30))])
    engine.run(dt.date(2026, 1, 30))

    report = engine.send(dt.date(2026, 1, 30), settings(tmp_path))

    (line,) = report.deliveries
    assert line.status == "done"
    assert line.detail == (
        "not sent: no instalment of the claim's payment plan is overdue on 2026-01-30"
    )
    assert not (tmp_path / "letters").exists()


def test_a_dispute_or_payment_recorded_after_the_run_holds_the_letter_back(
    tmp_path: Path,
) -> None:
    """B disputed and C paid after the run, D's customer has a customer-wide
    event: their letters wait for the next run; E's goes out."""
    engine = outbox_engine(
        tmp_path,
        [letter_customer("K2"), letter_customer("K5"), letter_customer("K6")],
        [
            claim("B", "K2", "250.00"),
            claim("C", "K5", "80.00"),
            claim("D", "K6", "60.00"),
            claim("E", "K2", "40.00"),
        ],
    )
    engine.open_dispute("B", "goods never arrived", on=SEND_DAY)
    engine.add_payments([Payment("P1", "C", eur("80.00"), RUN_DAY)])
    engine.add_events([Event("W1", "customer_note", SEND_DAY, customer_id="K6")])
    # Dated after the day of sending: it does not hold E back.
    engine.add_payments([Payment("P2", "E", eur("40.00"), dt.date(2024, 3, 8))])
    engine.close()

    code, out = invoke(*send_arguments(tmp_path))

    assert code == 0
    lines = out.splitlines()
    assert "1 notice on 2024-03-07: 1 sent" in lines
    assert (
        "3 items held back: payments or events recorded since the last run "
        "(run again first)"
    ) in lines
    with Store.open(tmp_path / "send.db") as store:
        letters = store.conn.execute(
            "SELECT claim_id, status FROM measures WHERE kind = 'letter' "
            "ORDER BY claim_id"
        ).fetchall()
    assert letters == [
        ("B", "pending"),
        ("C", "pending"),
        ("D", "pending"),
        ("E", "sent"),
    ]


INTEREST_POLICY = """\
policy "Interest" version "1"
  currency EUR
  calendar DE

group with_interest when customer.segment = "interest"
group plain otherwise

measure plain_letter = letter "reminder" fee 5.00 EUR
measure interest_letter = letter "reminder" fee 5.00 EUR interest statutory

dunning with_interest
  terminal reminded
  current -> reminded after 5 days overdue do interest_letter

dunning plain
  terminal reminded
  current -> reminded after 5 days overdue do plain_letter
"""


def test_a_notice_whose_interest_is_past_the_base_rates_fails_alone(
    tmp_path: Path,
) -> None:
    """Sent on 2027-02-01, past the bundled table: the notice with interest
    fails with a clear message (tried again later), the other one goes out."""
    policy = dunlang.parse_policy(INTEREST_POLICY, str(tmp_path / "sending.dun"))
    engine = Engine(Store.open(tmp_path / "send.db"), policy)
    engine.add_customers(
        [letter_customer("K2"), letter_customer("K7", segment="interest")]
    )
    engine.add_claims(
        [
            Claim(
                claim_id,
                customer,
                eur("100.00"),
                eur("100.00"),
                dt.date(2026, 11, 2),
                dt.date(2026, 12, 1),
            )
            for claim_id, customer in (("B", "K2"), ("I", "K7"))
        ]
    )
    engine.run(dt.date(2026, 12, 7))

    report = engine.send(dt.date(2027, 2, 1), settings(tmp_path))

    by_customer = {line.customer_id: line for line in report.deliveries}
    assert by_customer["K2"].status == "sent"
    assert by_customer["K7"].status == "failed"
    assert by_customer["K7"].detail == (
        "attempt 1 of 5: interest cannot be computed: base_rates.csv has base "
        "rates only up to 2026-12-31; add the rate of the half-year starting "
        "2027-01-01 to compute interest for 2027-02-01; update the base rate "
        "table (see docs/interest.md, `dunning run --base-rates FILE`)"
    )
    assert not report.ok


# ---- plug-in items follow the rules of letters ---------------------------------

TEXTS = """\
policy "Texts" version "1"
  currency EUR
  calendar DE

group letter_after_text when customer.segment = "letter"
group text_first_letter_later when customer.segment = "letter-first"
group texts otherwise

measure sms_reminder = sms "reminder"
measure sms_chaser = sms "chaser"
measure reminder_letter = letter "reminder"

dunning letter_after_text
  terminal reminded
  current -> texted after 3 days overdue do sms_reminder
  texted -> reminded after 7 days in state do reminder_letter

dunning text_first_letter_later
  terminal texted
  current -> reminded after 3 days overdue do reminder_letter
  reminded -> texted after 7 days in state do sms_reminder

dunning texts
  terminal chased
  current -> texted after 3 days overdue do sms_reminder
  texted -> chased after 7 days in state do sms_chaser
"""

# Every claim is due 2024-03-01 (a Friday): 3 days overdue on 03-04, a Monday,
# and 7 days in state after that on 03-11, a Monday.
TEXT_RUN = dt.date(2024, 3, 4)

RECORDING_HANDLER = """\
from engine.plugins import Outcome

RECEIVED = []


class TextMessages:
    def send(self, item, context):
        RECEIVED.append((item.id, item.claim_id, item.open_amount,
                         context.open_amount_now))
        if item.claim_id == "WORDS":
            return "sent"
        return Outcome("sent", f"gateway id {item.id}")
"""


def install_handler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str
) -> list[tuple[int, str, Money, Money]]:
    """Register RECORDING_HANDLER as the `sms` plug-in through a real entry point
    in a module of its own; the list it appends what it was handed to."""
    site = tmp_path / "site"
    info = site / f"{module}-1.0.dist-info"
    info.mkdir(parents=True)
    (site / f"{module}.py").write_text(RECORDING_HANDLER, encoding="utf-8")
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(
        f"[dunning.measures]\nsms = {module}:TextMessages\n"
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, module, raising=False)
    received: list[tuple[int, str, Money, Money]] = importlib.import_module(
        module
    ).RECEIVED
    return received


def texts_engine(tmp_path: Path, claims: list[Claim], segment: str = "") -> Engine:
    """Customer K5 with these claims under TEXTS, run on 2024-03-04."""
    policy = dunlang.parse_policy(TEXTS, str(tmp_path / "sending.dun"))
    (tmp_path / "sending.dun").write_text(TEXTS, encoding="utf-8")
    engine = Engine(Store.open(tmp_path / "send.db"), policy)
    engine.add_customers([letter_customer("K5", segment=segment)])
    engine.add_claims(claims)
    engine.run(TEXT_RUN)
    return engine


def delivery_rows(engine: Engine, item: int) -> list[tuple[str, str, str | None]]:
    """Channel, status and detail of every attempt at one outbox item."""
    rows = engine.store.conn.execute(
        "SELECT channel, status, detail FROM deliveries WHERE measure_id = ? "
        "ORDER BY id",
        (item,),
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


def test_a_plug_in_item_of_a_settled_claim_is_closed_not_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """C1 paid in full and applied by a run: its SMS is closed as done; C2 (paid
    in part) is texted with its open amount of the send day."""
    received = install_handler(tmp_path, monkeypatch, "sms_settled_test")
    engine = texts_engine(
        tmp_path,
        [claim("C1", "K5", "50.00"), claim("C2", "K5", "50.00")],
    )
    engine.add_payments(
        [
            Payment("P1", "C1", eur("50.00"), dt.date(2024, 3, 5)),
            Payment("P2", "C2", eur("20.00"), dt.date(2024, 3, 5)),
        ]
    )
    engine.run(dt.date(2024, 3, 5))

    report = engine.send(dt.date(2024, 3, 5), settings(tmp_path))

    by_claim = {line.claims: (line.status, line.detail) for line in report.deliveries}
    assert by_claim == {
        ("C1",): ("done", "not sent: the claim was settled before the notice went out"),
        ("C2",): ("sent", "gateway id 2"),
    }
    # C2: the run of 03-04 saw 50.00 open; 50.00 - 20.00 paid on 03-05 = 30.00.
    assert received == [(2, "C2", eur("50.00"), eur("30.00"))]
    assert delivery_rows(engine, 1) == [
        ("sms", "done", "not sent: the claim was settled before the notice went out")
    ]
    assert statuses(engine) == {1: ("done", 1), 2: ("sent", 1)}


def test_an_older_plug_in_item_is_superseded_by_a_newer_one_of_its_kind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reminder SMS (03-04) and chaser SMS (03-11) pending: only the chaser goes."""
    received = install_handler(tmp_path, monkeypatch, "sms_chaser_test")
    engine = texts_engine(tmp_path, [claim("C1", "K5", "50.00")])
    engine.run(dt.date(2024, 3, 11))

    report = engine.send(dt.date(2024, 3, 11), settings(tmp_path))

    assert [(line.items, line.status) for line in report.deliveries] == [((2,), "sent")]
    assert report.superseded == (1,)
    assert [entry[0] for entry in received] == [2]
    assert delivery_rows(engine, 1) == [
        ("sms", "done", "superseded by item 2 (measure sms_chaser of 2024-03-11)")
    ]


def test_a_failed_plug_in_item_is_superseded_by_a_newer_letter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SMS of 03-04 failed (no plug-in yet); by the next send the claim has
    moved on to a letter: the letter goes out, the SMS is closed, not retried."""
    engine = texts_engine(tmp_path, [claim("C1", "K5", "50.00")], segment="letter")
    engine.send(TEXT_RUN, settings(tmp_path))
    assert statuses(engine) == {1: ("failed", 1)}
    received = install_handler(tmp_path, monkeypatch, "sms_letter_test")
    engine.run(dt.date(2024, 3, 11))

    report = engine.send(dt.date(2024, 3, 11), settings(tmp_path))

    assert [(line.channel, line.items, line.status) for line in report.deliveries] == [
        ("letter", (2,), "sent")
    ]
    assert report.superseded == (1,)
    assert received == []
    assert delivery_rows(engine, 1)[-1] == (
        "sms",
        "done",
        "superseded by item 2 (measure reminder_letter of 2024-03-11)",
    )
    assert statuses(engine) == {1: ("done", 2), 2: ("sent", 1)}


def test_a_newer_plug_in_item_does_not_supersede_an_older_letter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Letter (03-04) and SMS (03-11) both pending: both go out."""
    received = install_handler(tmp_path, monkeypatch, "sms_after_letter_test")
    engine = texts_engine(
        tmp_path, [claim("C1", "K5", "50.00")], segment="letter-first"
    )
    engine.run(dt.date(2024, 3, 11))

    report = engine.send(dt.date(2024, 3, 11), settings(tmp_path))

    assert sorted((line.channel, line.status) for line in report.deliveries) == [
        ("letter", "sent"),
        ("sms", "sent"),
    ]
    assert report.superseded == ()
    assert [entry[0] for entry in received] == [2]


def test_plug_in_items_are_held_back_like_letters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """C1 on hold and C2 with an unapplied payment keep their SMS pending; C3's
    SMS goes out."""
    received = install_handler(tmp_path, monkeypatch, "sms_held_test")
    engine = texts_engine(
        tmp_path,
        [claim(f"C{n}", "K5", "50.00") for n in (1, 2, 3)],
    )
    engine.hold("C1", reason="address check", by="anna", starts=TEXT_RUN)
    engine.add_payments([Payment("P1", "C2", eur("10.00"), TEXT_RUN)])

    report = engine.send(dt.date(2024, 3, 5), settings(tmp_path))

    assert [group.describe() for group in report.held_back] == [
        "1 item held back: claim or customer on hold (hold 1 by anna: address check)",
        "1 item held back: payments or events recorded since the last run "
        "(run again first)",
    ]
    assert [entry[1] for entry in received] == ["C3"]
    assert statuses(engine) == {1: ("pending", 0), 2: ("pending", 0), 3: ("sent", 1)}


def planned_texts(tmp_path: Path) -> Engine:
    """The payment plan of `planned_engine`, for K5, under the texting policy."""
    return planned_engine(tmp_path, TEXTS, "K5")


def test_a_plug_in_under_a_payment_plan_gets_the_part_overdue_on_the_send_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sent on 02-11, the handler is told the instalments overdue by then."""
    received = install_handler(tmp_path, monkeypatch, "sms_plan_test")
    engine = planned_texts(tmp_path)

    engine.send(dt.date(2026, 2, 11), settings(tmp_path))

    # On the run's day (01-29) only instalment 1 was overdue: 300.00; by 02-11
    # the instalments due 01-10 and 02-10 are: 600.00.
    assert received == [(1, "R3", eur("300.00"), eur("600.00"))]


def test_a_plug_in_under_a_plan_with_nothing_overdue_is_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Instalment 1 paid and applied before sending: the SMS item is closed."""
    received = install_handler(tmp_path, monkeypatch, "sms_plan_paid_test")
    engine = planned_texts(tmp_path)
    engine.add_payments([Payment("P1", "R3", eur("300.00"), dt.date(2026, 1, 30))])
    engine.run(dt.date(2026, 1, 30))

    report = engine.send(dt.date(2026, 1, 30), settings(tmp_path))

    assert [(line.status, line.detail) for line in report.deliveries] == [
        (
            "done",
            "not sent: no instalment of the claim's payment plan is overdue on "
            "2026-01-30",
        )
    ]
    assert received == []


def test_a_handler_answer_that_is_no_outcome_fails_only_its_item(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handler returns the string "sent" for claim WORDS: that item fails,
    the SMS of claim C2 after it still goes out."""
    install_handler(tmp_path, monkeypatch, "sms_words_test")
    engine = texts_engine(
        tmp_path, [claim("WORDS", "K5", "50.00"), claim("C2", "K5", "50.00")]
    )

    report = engine.send(dt.date(2024, 3, 5), settings(tmp_path))

    assert [(line.claims, line.status, line.detail) for line in report.deliveries] == [
        (
            ("WORDS",),
            "failed",
            "attempt 1 of 5: the plug-in for `sms` returned str, not an Outcome",
        ),
        (("C2",), "sent", "gateway id 2"),
    ]
    assert statuses(engine) == {1: ("failed", 1), 2: ("sent", 1)}
    assert not report.ok


@pytest.mark.parametrize(
    ("shown", "expected"),
    [
        (
            20,
            "1 older item closed as done, superseded by a newer notice of its claim: 1",
        ),
        (
            0,
            "1 older item closed as done, superseded by a newer notice of its "
            "claim: 1 more (see `dunning outbox`)",
        ),
    ],
)
def test_send_names_the_superseded_items_up_to_a_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shown: int, expected: str
) -> None:
    """The summary names superseded items; past the limit it counts the rest."""
    import engine.cli.send_commands as send_commands

    monkeypatch.setattr(send_commands, "SHOWN_ITEMS", shown)
    engine = outbox_engine(
        tmp_path, [letter_customer()], [claim("B", "K2", "250.00")], TWO_LETTERS
    )
    # 03-06 + 7 days in state = 03-13: run 2 queues the final notice, which
    # supersedes the reminder of run 1 (item 1).
    engine.run(dt.date(2024, 3, 13))
    engine.close()

    code, out = invoke(*send_arguments(tmp_path, on="2024-03-14"))

    assert code == 0
    assert expected in out.splitlines()

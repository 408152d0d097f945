"""Notices: the model, template choice, the sandbox, HTML, PDF and e-mail output."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
from decimal import Decimal
from pathlib import Path

import attrs
import pypdf
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.notices import (
    Notice,
    NoticeClaim,
    NoticeCustomer,
    NoticeError,
    Sender,
    notices_by_customer,
)
from engine.records import Claim, Customer, Money
from engine.rendering import NoticeRenderer, NoticeTemplateError

NBSP = "\xa0"


def money(amount: str, currency: str = "EUR") -> Money:
    """An exact amount."""
    return Money(Decimal(amount), currency)


SENDER = Sender(
    "Beispiel AG",
    "Am Markt 1\n20095 Hamburg",
    email="buchhaltung@beispiel.example",
    phone="+49 40 123456",
    iban="DE02 1203 0000 0000 2020 51",
    bic="BYLADEM1001",
    vat_id="DE123456789",
)

# Two claims, both with fee and interest; the second is partly paid.
#   R-2024-001: open 1234.50 + fee  5.00 + interest 12.34 = 1251.84
#   R-2024-007: open  480.00 + fee 40.00 + interest  3.17 =  523.17
#   totals:     amount 2214.50, open 1714.50, fees 45.00, interest 15.51, 1775.01
CLAIMS = (
    NoticeClaim(
        "R-2024-001",
        "reminded",
        dt.date(2024, 1, 10),
        dt.date(2024, 2, 9),
        money("1234.50"),
        money("1234.50"),
        fee=money("5.00"),
        interest=money("12.34"),
        measure="reminder_letter",
    ),
    NoticeClaim(
        "R-2024-007",
        "final_notice",
        dt.date(2024, 1, 20),
        dt.date(2024, 2, 19),
        money("980.00"),
        money("480.00"),
        fee=money("40.00"),
        interest=money("3.17"),
        measure="final_letter",
    ),
)


def worked_notice(language: str | None = "de", name: str = "Muster GmbH") -> Notice:
    """The worked notice of these tests, for a customer in the given language."""
    customer = NoticeCustomer(
        "K-17", name, "Hauptstraße 5\n10115 Berlin", language, "ap@muster.example"
    )
    return Notice(
        customer,
        SENDER,
        dt.date(2024, 3, 15),
        CLAIMS,
        run_id=7,
        pay_by=dt.date(2024, 3, 25),
    )


def folder_with(tmp_path: Path, files: dict[str, str]) -> Path:
    """A templates folder holding the given files."""
    folder = tmp_path / "templates"
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def test_the_letters_guide_example_runs() -> None:
    """The example in docs/letters.md runs and its own asserts hold."""
    text = (Path(__file__).resolve().parent.parent / "docs" / "letters.md").read_text(
        encoding="utf-8"
    )
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)

    assert len(blocks) == 1
    exec(compile(blocks[0], "docs/letters.md", "exec"), {})


# ---- the model ---------------------------------------------------------------


def test_totals_add_up_per_claim_and_per_notice() -> None:
    """Each claim's total is open amount, fee and interest; the notice adds them up."""
    notice = worked_notice()

    assert [claim.total for claim in notice.claims] == [
        money("1251.84"),
        money("523.17"),
    ]
    (total,) = notice.totals
    assert total.currency == "EUR"
    assert total.amount == money("2214.50")
    assert total.open_amount == money("1714.50")
    assert total.fee == money("45.00")
    assert total.interest == money("15.51")
    assert total.total == money("1775.01")


def test_totals_never_mix_currencies() -> None:
    """Claims in EUR and USD give one total per currency, in the order listed."""
    usd = NoticeClaim(
        "US-1",
        "reminded",
        dt.date(2024, 1, 5),
        dt.date(2024, 2, 4),
        money("100.00", "USD"),
        money("99.99", "USD"),
        interest=money("0.01", "USD"),
    )
    notice = attrs.evolve(worked_notice(), claims=(CLAIMS[0], usd, CLAIMS[1]))

    assert notice.currencies == ("EUR", "USD")
    eur_total, usd_total = notice.totals
    assert eur_total.total == money("1775.01")
    assert usd_total.open_amount == money("99.99", "USD")
    assert usd_total.fee == money("0", "USD")
    assert usd_total.total == money("100.00", "USD")


cents = st.integers(min_value=0, max_value=10**9).map(lambda n: Decimal(n).scaleb(-2))


@st.composite
def claim_lines(draw: st.DrawFn) -> list[NoticeClaim]:
    """A few claims in up to three currencies, some with fee or interest."""
    lines = []
    for number in range(draw(st.integers(min_value=1, max_value=6))):
        currency = draw(st.sampled_from(["EUR", "USD", "CHF"]))
        open_amount = draw(cents)
        fee, interest = (
            draw(st.one_of(st.none(), cents)),
            draw(st.one_of(st.none(), cents)),
        )
        lines.append(
            NoticeClaim(
                f"R-{number}",
                "reminded",
                dt.date(2024, 1, 1),
                dt.date(2024, 1, 31),
                Money(open_amount + draw(cents), currency),
                Money(open_amount, currency),
                None if fee is None else Money(fee, currency),
                None if interest is None else Money(interest, currency),
            )
        )
    return lines


@given(claim_lines())
def test_totals_hold_every_claim_once_in_its_own_currency(
    lines: list[NoticeClaim],
) -> None:
    """Per currency, the totals are exactly the sums of that currency's claims."""
    notice = attrs.evolve(worked_notice(), claims=lines)

    for total in notice.totals:
        mine = [claim for claim in lines if claim.currency == total.currency]
        assert mine
        assert total.total.amount == sum(claim.total.amount for claim in mine)
        assert total.total.amount == (
            total.open_amount.amount + total.fee.amount + total.interest.amount
        )
        for money_ in (total.amount, total.open_amount, total.fee, total.interest):
            assert money_.currency == total.currency
    assert {total.currency for total in notice.totals} == {c.currency for c in lines}


def test_a_claim_in_two_currencies_is_refused() -> None:
    """A fee in another currency than the claim's open amount is an error."""
    with pytest.raises(NoticeError) as caught:
        attrs.evolve(CLAIMS[0], fee=money("5.00", "CHF"))

    assert str(caught.value) == (
        "claim R-2024-001: the fee is in CHF but the open amount is in EUR; "
        "all amounts of a claim must be in one currency"
    )


def test_a_notice_lists_each_claim_once_and_at_least_one() -> None:
    """An empty notice and a notice with a claim twice are refused."""
    with pytest.raises(NoticeError, match="lists no claim"):
        attrs.evolve(worked_notice(), claims=())
    with pytest.raises(NoticeError, match="lists claim R-2024-001 twice"):
        attrs.evolve(worked_notice(), claims=(CLAIMS[0], CLAIMS[0]))


def test_one_notice_per_customer() -> None:
    """The claims of a run are grouped into one notice per customer, in order."""
    anna = NoticeCustomer("K-2", "Anna Beispiel", language="de")
    bert = NoticeCustomer("K-3", "Bert Example", language="en")

    notices = notices_by_customer(
        [(anna, CLAIMS[0]), (bert, CLAIMS[1]), (anna, attrs.evolve(CLAIMS[1]))],
        sender=SENDER,
        as_of=dt.date(2024, 3, 15),
        run_id=7,
    )

    assert [n.customer.id for n in notices] == ["K-2", "K-3"]
    assert [c.claim_id for c in notices[0].claims] == ["R-2024-001", "R-2024-007"]
    assert [c.claim_id for c in notices[1].claims] == ["R-2024-007"]
    assert {n.run_id for n in notices} == {7}


def test_notice_parts_from_store_records() -> None:
    """A customer and a claim of the store become the addressee and a notice line."""
    customer = Customer(
        "K-1", "Muster GmbH", language="de-AT", address="Ring 1\n\n1010 Wien"
    )
    claim = Claim(
        "R-1",
        "K-1",
        money("50.00"),
        money("20.00"),
        dt.date(2024, 1, 1),
        dt.date(2024, 1, 31),
        state="final_notice",
    )

    addressee = NoticeCustomer.from_customer(customer)
    line = NoticeClaim.from_claim(claim, fee=money("2.50"))

    assert addressee.address == ("Ring 1", "1010 Wien")
    assert addressee.language == "de-AT"
    assert line.level == "final_notice"
    assert line.total == money("22.50")


# ---- pinned letters ----------------------------------------------------------

GERMAN_FINAL_NOTICE = f"""\
<!DOCTYPE html>
<html lang="de">
<head>
<meta charset="utf-8">
<title>Letzte Mahnung</title>
<style>
body {{ font-family: "Liberation Sans", Arial, sans-serif; font-size: 10pt; max-width: 170mm; margin: 15mm auto; }}
table {{ border-collapse: collapse; font-size: 9pt; }}
th, td {{ padding: 2pt 4pt; border-bottom: 1px solid #999; }}
</style>
</head>
<body>
<p><small>Beispiel AG · Am Markt 1 · 20095 Hamburg</small></p>
<p>Muster GmbH<br>Hauptstraße 5<br>10115 Berlin</p>
<p align="right">15. März 2024</p>
<h2>Letzte Mahnung</h2>
<p>Guten Tag Muster GmbH,</p>
<p>trotz unserer Erinnerungen sind die folgenden Rechnungen noch immer nicht vollständig bezahlt. Mahngebühren und Verzugszinsen sind in der Aufstellung einzeln ausgewiesen.</p>
<table width="100%" cellpadding="0.5">
<thead>
<tr><th width="12%" align="left">Rechnung</th><th width="12%" align="left">vom</th><th width="12%" align="left">fällig am</th><th width="12.8%" align="right">Betrag</th><th width="12.8%" align="right">offen</th><th width="12.8%" align="right">Gebühr</th><th width="12.8%" align="right">Zinsen</th><th width="12.8%" align="right">Summe</th></tr>
</thead>
<tbody>
<tr><td>R-2024-001</td><td>10.01.2024</td><td>09.02.2024</td><td align="right">1.234,50{NBSP}€</td><td align="right">1.234,50{NBSP}€</td><td align="right">5,00{NBSP}€</td><td align="right">12,34{NBSP}€</td><td align="right">1.251,84{NBSP}€</td></tr>
<tr><td>R-2024-007</td><td>20.01.2024</td><td>19.02.2024</td><td align="right">980,00{NBSP}€</td><td align="right">480,00{NBSP}€</td><td align="right">40,00{NBSP}€</td><td align="right">3,17{NBSP}€</td><td align="right">523,17{NBSP}€</td></tr>
<tr><td colspan="3"><b>Gesamt</b></td><td align="right"><b>2.214,50{NBSP}€</b></td><td align="right"><b>1.714,50{NBSP}€</b></td><td align="right"><b>45,00{NBSP}€</b></td><td align="right"><b>15,51{NBSP}€</b></td><td align="right"><b>1.775,01{NBSP}€</b></td></tr>
</tbody>
</table>
<p>Wir fordern Sie hiermit letztmalig auf, den Gesamtbetrag von 1.775,01{NBSP}€ bis zum 25. März 2024 zu bezahlen.</p>
<p>Geht Ihre Zahlung bis dahin nicht bei uns ein, werden wir ohne weitere Ankündigung die nächsten Schritte einleiten, um unsere Forderung durchzusetzen.</p>
<p>Mit freundlichen Grüßen<br>Beispiel AG</p>
<hr>
<p><small>Beispiel AG · Am Markt 1 · 20095 Hamburg
<br>Telefon +49 40 123456
<br>E-Mail buchhaltung@beispiel.example
<br>IBAN DE02 1203 0000 0000 2020 51 · BIC BYLADEM1001
<br>USt-IdNr. DE123456789
</small></p>
</body>
</html>
"""

ENGLISH_FINAL_NOTICE = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Final notice</title>
<style>
body { font-family: "Liberation Sans", Arial, sans-serif; font-size: 10pt; max-width: 170mm; margin: 15mm auto; }
table { border-collapse: collapse; font-size: 9pt; }
th, td { padding: 2pt 4pt; border-bottom: 1px solid #999; }
</style>
</head>
<body>
<p><small>Beispiel AG · Am Markt 1 · 20095 Hamburg</small></p>
<p>Muster GmbH<br>Hauptstraße 5<br>10115 Berlin</p>
<p align="right">March 15, 2024</p>
<h2>Final notice</h2>
<p>Dear Muster GmbH,</p>
<p>Despite our reminders, the following invoices are still not paid in full. Dunning fees and default interest are listed separately.</p>
<table width="100%" cellpadding="0.5">
<thead>
<tr><th width="12%" align="left">Invoice</th><th width="12%" align="left">Date</th><th width="12%" align="left">Due</th><th width="12.8%" align="right">Amount</th><th width="12.8%" align="right">Open</th><th width="12.8%" align="right">Fee</th><th width="12.8%" align="right">Interest</th><th width="12.8%" align="right">Total</th></tr>
</thead>
<tbody>
<tr><td>R-2024-001</td><td>Jan 10, 2024</td><td>Feb 9, 2024</td><td align="right">€1,234.50</td><td align="right">€1,234.50</td><td align="right">€5.00</td><td align="right">€12.34</td><td align="right">€1,251.84</td></tr>
<tr><td>R-2024-007</td><td>Jan 20, 2024</td><td>Feb 19, 2024</td><td align="right">€980.00</td><td align="right">€480.00</td><td align="right">€40.00</td><td align="right">€3.17</td><td align="right">€523.17</td></tr>
<tr><td colspan="3"><b>Total</b></td><td align="right"><b>€2,214.50</b></td><td align="right"><b>€1,714.50</b></td><td align="right"><b>€45.00</b></td><td align="right"><b>€15.51</b></td><td align="right"><b>€1,775.01</b></td></tr>
</tbody>
</table>
<p>We ask you for the last time to pay the total of €1,775.01 by March 25, 2024.</p>
<p>If we have not received your payment by then, we will take further steps to recover the debt without further notice.</p>
<p>Kind regards<br>Beispiel AG</p>
<hr>
<p><small>Beispiel AG · Am Markt 1 · 20095 Hamburg
<br>Phone +49 40 123456
<br>E-mail buchhaltung@beispiel.example
<br>IBAN DE02 1203 0000 0000 2020 51 · BIC BYLADEM1001
<br>VAT ID DE123456789
</small></p>
</body>
</html>
"""


def test_german_final_notice_is_pinned() -> None:
    """The worked notice as a German final notice, whole."""
    html = NoticeRenderer().render_html(worked_notice("de"), "final-notice")

    assert html == GERMAN_FINAL_NOTICE


def test_english_final_notice_is_pinned() -> None:
    """The worked notice as an English final notice, whole."""
    html = NoticeRenderer().render_html(worked_notice("en"), "final-notice")

    assert html == ENGLISH_FINAL_NOTICE


def test_german_reminder_email_is_pinned() -> None:
    """The worked notice as a German reminder e-mail: subject and body."""
    email = NoticeRenderer().render_email(worked_notice("de"), "reminder")

    assert email.template == "reminder.de.txt"
    assert email.subject == "Zahlungserinnerung von Beispiel AG"
    assert email.body == (
        "Guten Tag Muster GmbH,\n"
        "\n"
        "sicher ist es Ihnen im Tagesgeschäft entgangen: Die folgenden Rechnungen "
        "sind bis heute nicht vollständig bezahlt.\n"
        "\n"
        "Rechnung R-2024-001 vom 10.01.2024, fällig am 09.02.2024\n"
        f"  Betrag 1.234,50{NBSP}€, offen 1.234,50{NBSP}€, Gebühr 5,00{NBSP}€, "
        f"Zinsen 12,34{NBSP}€\n"
        f"  Summe 1.251,84{NBSP}€\n"
        "\n"
        "Rechnung R-2024-007 vom 20.01.2024, fällig am 19.02.2024\n"
        f"  Betrag 980,00{NBSP}€, offen 480,00{NBSP}€, Gebühr 40,00{NBSP}€, "
        f"Zinsen 3,17{NBSP}€\n"
        f"  Summe 523,17{NBSP}€\n"
        "\n"
        f"Gesamt: 1.775,01{NBSP}€\n"
        "\n"
        "Bitte überweisen Sie den Gesamtbetrag bis zum 25. März 2024 auf unser "
        "Konto (IBAN DE02 1203 0000 0000 2020 51).\n"
        "\n"
        "Sollten Sie in der Zwischenzeit bezahlt haben, betrachten Sie diese "
        "E-Mail bitte als gegenstandslos.\n"
        "\n"
        "Mit freundlichen Grüßen\n"
        "Beispiel AG\n"
        "Telefon +49 40 123456\n"
    )


def test_english_final_notice_email_is_pinned() -> None:
    """The worked notice as an English final-notice e-mail, without a deadline."""
    notice = attrs.evolve(worked_notice("en"), pay_by=None)

    email = NoticeRenderer().render_email(notice, "final-notice")

    assert email.subject == "Final notice from Beispiel AG"
    assert email.body == (
        "Dear Muster GmbH,\n"
        "\n"
        "Despite our reminders, the following invoices are still not paid in "
        "full. Dunning fees and default interest are listed separately.\n"
        "\n"
        "Invoice R-2024-001 of Jan 10, 2024, due Feb 9, 2024\n"
        "  Amount €1,234.50, open €1,234.50, fee €5.00, interest €12.34\n"
        "  Total €1,251.84\n"
        "\n"
        "Invoice R-2024-007 of Jan 20, 2024, due Feb 19, 2024\n"
        "  Amount €980.00, open €480.00, fee €40.00, interest €3.17\n"
        "  Total €523.17\n"
        "\n"
        "Total: €1,775.01\n"
        "\n"
        "We ask you for the last time to pay the total to our account "
        "(IBAN DE02 1203 0000 0000 2020 51) immediately.\n"
        "\n"
        "If we have not received your payment by then, we will take further "
        "steps to recover the debt without further notice.\n"
        "\n"
        "Kind regards\n"
        "Beispiel AG\n"
        "Phone +49 40 123456\n"
    )


def test_letter_with_two_currencies_shows_two_totals() -> None:
    """Each currency gets its own total row, labelled with the currency."""
    usd = NoticeClaim(
        "US-1",
        "reminded",
        dt.date(2024, 1, 5),
        dt.date(2024, 2, 4),
        money("100.00", "USD"),
        money("100.00", "USD"),
    )
    notice = attrs.evolve(worked_notice("en"), claims=(*CLAIMS, usd))

    html = NoticeRenderer().render_html(notice, "reminder")

    assert "<b>Total EUR</b>" in html
    assert "<b>Total USD</b>" in html
    assert '<td align="right">$100.00</td><td align="right">–</td>' in html
    assert "the totals shown above" in html


# ---- locale formatting -------------------------------------------------------

AMOUNTS = (
    "{{ claims[0].open_amount|money }}|{{ totals[0].total|money }}|"
    "{{ as_of|date }}|{{ as_of|date('long') }}|{{ locale }}\n"
)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("de", f"1.234,50{NBSP}€|1.775,01{NBSP}€|15.03.2024|15. März 2024|de"),
        ("en", "€1,234.50|€1,775.01|Mar 15, 2024|March 15, 2024|en"),
        ("de-AT", f"€{NBSP}1.234,50|€{NBSP}1.775,01|15.03.2024|15. März 2024|de_AT"),
        ("en_GB", "€1,234.50|€1,775.01|15 Mar 2024|15 March 2024|en_GB"),
    ],
)
def test_amounts_and_dates_follow_the_customer_locale(
    tmp_path: Path, language: str, expected: str
) -> None:
    """The money and date filters format for the customer's language and region."""
    folder = folder_with(
        tmp_path, {"amounts.de.html": AMOUNTS, "amounts.en.html": AMOUNTS}
    )
    renderer = NoticeRenderer(folder)

    html = renderer.render_html(worked_notice(language), "amounts")

    assert html == expected + "\n"


def test_amounts_keep_the_currency_precision(tmp_path: Path) -> None:
    """Yen have no minor unit; a template can ask for another locale explicitly."""
    yen = NoticeClaim(
        "JP-1",
        "reminded",
        dt.date(2024, 1, 5),
        dt.date(2024, 2, 4),
        money("123456", "JPY"),
        money("123456", "JPY"),
    )
    folder = folder_with(
        tmp_path,
        {
            "yen.en.html": "{{ claims[0].open_amount|money }} {{ claims[0].open_amount|money(locale='de') }}"
        },
    )
    notice = attrs.evolve(worked_notice("en"), claims=(yen,))

    assert NoticeRenderer(folder).render_html(notice, "yen") == (
        f"¥123,456 123.456{NBSP}¥"
    )


def test_amounts_and_dates_printed_raw_are_refused(tmp_path: Path) -> None:
    """An amount or date without its filter is an error, never Python's own text."""
    folder = folder_with(
        tmp_path,
        {
            "raw-amount.html": "<p>\n{{ claims[0].open_amount }}</p>",
            "raw-date.html": "{{ as_of }}",
            "raw-none.html": "{{ notice.run_id }}{{ claims[0].measure }}{{ sender.website }}",
        },
    )
    renderer = NoticeRenderer(folder)

    with pytest.raises(NoticeTemplateError) as amount:
        renderer.render_html(worked_notice(), "raw-amount")
    with pytest.raises(NoticeTemplateError) as date:
        renderer.render_html(worked_notice(), "raw-date")
    with pytest.raises(NoticeTemplateError) as empty:
        renderer.render_html(worked_notice(), "raw-none")

    assert str(amount.value) == (
        "template `raw-amount.html`, line 2: an amount is printed without the "
        "money filter; write it as {{ ... | money }}"
    )
    assert str(date.value) == (
        "template `raw-date.html`, line 1: a date is printed without the date "
        "filter; write it as {{ ... | date }}"
    )
    assert str(empty.value) == (
        "template `raw-none.html`, line 1: a value that is not there (None) is "
        "printed; wrap it in {% if ... %} ... {% endif %}"
    )


# ---- finding templates -------------------------------------------------------

CHAIN = {
    "notice.de.html": "de",
    "notice.de-CH.html": "de-CH",
    "notice.html": "fallback",
    "notice.en.html": "en",
    "english-only.en.html": "en",
}


@pytest.mark.parametrize(
    ("language", "file", "locale"),
    [
        ("de", "notice.de.html", "de"),
        ("DE", "notice.de.html", "de"),
        ("de-AT", "notice.de.html", "de_AT"),
        ("de_at", "notice.de.html", "de_AT"),
        ("de-CH", "notice.de-CH.html", "de_CH"),
        ("en", "notice.en.html", "en"),
        ("en-US", "notice.en.html", "en_US"),
        ("fr", "notice.html", "en"),
        ("xx-!!", "notice.html", "en"),
        ("", "notice.html", "en"),
        (None, "notice.html", "en"),
    ],
)
def test_the_customer_language_chooses_the_template(
    tmp_path: Path, language: str | None, file: str, locale: str
) -> None:
    """Region, then language, then the fallback file, then the fallback language."""
    renderer = NoticeRenderer(folder_with(tmp_path, CHAIN))

    choice = renderer.choose("notice", language)

    assert (choice.file, choice.locale) == (file, locale)


def test_without_a_fallback_file_english_is_used(tmp_path: Path) -> None:
    """A language without templates and no fallback file falls back to English."""
    renderer = NoticeRenderer(folder_with(tmp_path, CHAIN))
    notice = worked_notice("fr")

    assert renderer.choose("english-only", "fr").file == "english-only.en.html"
    assert renderer.render_html(notice, "english-only") == "en"
    assert renderer.choose("reminder", None).file == "reminder.en.html"
    assert renderer.choose("reminder", "pl", "email").file == "reminder.en.txt"


def test_the_fallback_language_can_be_set(tmp_path: Path) -> None:
    """A company whose fallback templates are German formats them in German."""
    renderer = NoticeRenderer(
        folder_with(tmp_path, {"note.html": "{{ totals[0].total|money }}"}),
        fallback_language="de",
    )

    assert renderer.render_html(worked_notice("fr"), "note") == f"1.775,01{NBSP}€"
    assert renderer.choose("reminder", "fr").file == "reminder.de.html"


def test_a_company_template_replaces_the_bundled_one(tmp_path: Path) -> None:
    """A file in the templates folder is used before the bundled file of that name."""
    renderer = NoticeRenderer(
        folder_with(tmp_path, {"reminder.de.html": "Eigene Erinnerung"})
    )

    assert renderer.render_html(worked_notice("de"), "reminder") == "Eigene Erinnerung"
    assert "Payment reminder" in renderer.render_html(worked_notice("en"), "reminder")


def test_a_company_layout_restyles_the_bundled_letters(tmp_path: Path) -> None:
    """The bundled letters extend `_letter.<language>.html`, which a company may replace."""
    renderer = NoticeRenderer(
        folder_with(
            tmp_path,
            {
                "_letter.de.html": "{% block title %}{% endblock %}: {% block request %}{% endblock %}"
            },
        )
    )

    html = renderer.render_html(worked_notice("de"), "reminder")

    assert html.startswith(
        "Zahlungserinnerung: <p>Bitte überweisen Sie den Gesamtbetrag"
    )


def test_a_missing_templates_folder_is_an_error(tmp_path: Path) -> None:
    """A mistyped templates folder is reported at once, not taken as empty."""
    with pytest.raises(NoticeTemplateError) as caught:
        NoticeRenderer(tmp_path / "templtes")

    assert str(caught.value) == (
        f"the templates folder {tmp_path / 'templtes'} does not exist"
    )


def test_the_bundled_templates() -> None:
    """Reminder and final notice come as letters and e-mails in German and English."""
    renderer = NoticeRenderer()

    assert renderer.templates("letter") == {
        "final-notice": ("de", "en"),
        "reminder": ("de", "en"),
    }
    assert renderer.templates("email") == renderer.templates("letter")


def test_a_mistyped_template_name_gets_a_suggestion() -> None:
    """A template the policy names but that does not exist lists those that do."""
    with pytest.raises(NoticeTemplateError) as caught:
        NoticeRenderer().render_html(worked_notice(), "final-notise")

    assert str(caught.value) == (
        "there is no letter template `final-notise`; did you mean `final-notice`? "
        "known letter templates: final-notice (de, en), reminder (de, en)"
    )


def test_an_unknown_email_template_lists_the_email_templates(tmp_path: Path) -> None:
    """Without a close match the message lists every template of that kind."""
    renderer = NoticeRenderer(folder_with(tmp_path, {"friendly.html": "hi"}))

    with pytest.raises(NoticeTemplateError) as caught:
        renderer.render_email(worked_notice(), "collection")

    assert str(caught.value) == (
        "there is no e-mail template `collection`; "
        "known e-mail templates: final-notice (de, en), reminder (de, en)"
    )


def test_a_template_without_any_usable_language_is_an_error(tmp_path: Path) -> None:
    """A template that exists only in other languages says how to add a fallback."""
    renderer = NoticeRenderer(folder_with(tmp_path, {"rappel.fr.html": "Rappel"}))

    with pytest.raises(NoticeTemplateError) as caught:
        renderer.render_html(worked_notice("de"), "rappel")

    assert str(caught.value) == (
        "the letter template `rappel` has no version for language de and no "
        "fallback; add rappel.html or rappel.en.html (it exists for: fr)"
    )


# ---- the sandbox -------------------------------------------------------------

ATTACKS = {
    "mro": ("{{ ''.__class__.__mro__ }}", "`__class__`"),
    "globals": ("{{ cycler.__init__.__globals__ }}", "`__init__`"),
    "context": (
        "{{ self._TemplateReference__context }}",
        "`_TemplateReference__context`",
    ),
    "private": ("{{ notice._total('EUR') }}", "`_total`"),
    "format": ("{{ '{0.__class__}'.format(notice) }}", "`__class__`"),
    "attr-filter": ("{{ claims|attr('__class__') }}", "`__class__`"),
    "subclasses": ("{{ claims[0].total.__class__.__subclasses__() }}", "`__class__`"),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_templates_cannot_reach_python(tmp_path: Path, attack: str) -> None:
    """Each way into Python's internals fails with the template's name and no output."""
    source, reached = ATTACKS[attack]
    folder = folder_with(
        tmp_path, {"attack.html": f"<p>Dear customer,</p>\n{source}\n"}
    )
    html = None

    with pytest.raises(NoticeTemplateError) as caught:
        html = NoticeRenderer(folder).render_html(worked_notice(), "attack")

    assert html is None
    assert caught.value.template == "attack.html"
    assert caught.value.line == 2
    assert str(caught.value) == (
        f"template `attack.html`, line 2: not allowed: {reached} is out of a "
        "template's reach; a template may read the notice's fields, but nothing "
        "whose name starts with '_' and nothing of Python itself"
    )


def test_templates_cannot_change_the_notice(tmp_path: Path) -> None:
    """Lists and records handed to a template cannot be changed from it."""
    folder = folder_with(
        tmp_path,
        {
            "change.html": (
                "{% set ids = claims|map(attribute='claim_id')|list %}"
                "{{ ids.append('X') }}"
            )
        },
    )

    with pytest.raises(NoticeTemplateError) as caught:
        NoticeRenderer(folder).render_html(worked_notice(), "change")

    assert "not allowed: `append` is out of a template's reach" in str(caught.value)


def test_no_pdf_from_a_template_that_breaks_the_sandbox(tmp_path: Path) -> None:
    """The PDF of a forbidden template is an error too, with no bytes."""
    folder = folder_with(tmp_path, {"attack.html": "{{ cycler.__init__.__globals__ }}"})
    pdf = None

    with pytest.raises(NoticeTemplateError, match="`attack.html`, line 1: not allowed"):
        pdf = NoticeRenderer(folder).render_pdf(worked_notice(), "attack")

    assert pdf is None


@pytest.mark.parametrize(
    "name",
    ["../secret", "/etc/passwd", "..\\secret", "sub/reminder", "reminder.de", ""],
)
def test_template_names_with_paths_are_refused(tmp_path: Path, name: str) -> None:
    """A policy's template name cannot point at a file outside the templates folder."""
    (tmp_path / "secret.html").write_text("TOP SECRET")
    renderer = NoticeRenderer(folder_with(tmp_path, {"reminder.de.html": "fine"}))

    with pytest.raises(NoticeTemplateError) as caught:
        renderer.render_html(worked_notice(), name)

    assert str(caught.value) == (
        f"refused to load `{name}`: a template is loaded by its name only: "
        "letters, digits, '-' and '_', an optional language, and .html or .txt "
        "at the end (no '/', '\\' or '..')"
    )


@pytest.mark.parametrize(
    "statement",
    [
        '{% include "../secret.html" %}',
        '{% include "/etc/hostname" %}',
        '{% extends "..\\\\secret.html" %}',
        '{% import "fonts/OFL.txt" as x %}',
    ],
)
def test_templates_cannot_include_files_by_path(tmp_path: Path, statement: str) -> None:
    """Include, extends and import load by name only, never by a path."""
    (tmp_path / "secret.html").write_text("TOP SECRET")
    folder = folder_with(tmp_path, {"sneaky.html": f"<p>Hello</p>\n{statement}\n"})
    html = None

    with pytest.raises(NoticeTemplateError) as caught:
        html = NoticeRenderer(folder).render_html(worked_notice(), "sneaky")

    assert html is None
    assert str(caught.value).startswith(
        "template `sneaky.html`, line 2: refused to load `"
    )
    assert "TOP SECRET" not in str(caught.value)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_a_link_out_of_the_templates_folder_is_not_followed(tmp_path: Path) -> None:
    """A template file that is a link to a file elsewhere is not a template."""
    (tmp_path / "secret.html").write_text("TOP SECRET")
    folder = folder_with(tmp_path, {"innocent.html": '{% include "leak.html" %}'})
    (folder / "leak.html").symlink_to(tmp_path / "secret.html")
    renderer = NoticeRenderer(folder)

    with pytest.raises(NoticeTemplateError) as caught:
        renderer.render_html(worked_notice(), "innocent")

    assert str(caught.value) == (
        "template `innocent.html`, line 1: it includes or extends `leak.html`, "
        "which does not exist"
    )
    assert "leak" not in renderer.templates()


def test_mistakes_name_the_template_and_line(tmp_path: Path) -> None:
    """Syntax errors, unknown variables and unknown fields say where and what."""
    folder = folder_with(
        tmp_path,
        {
            "syntax.html": "<p>\n{% for claim in %}\n",
            "variable.html": "{{ customer.name }}\n{{ notic.as_of|date }}",
            "field.html": "{% for claim in claims %}\n{{ claim.totl|money }}\n{% endfor %}",
        },
    )
    renderer = NoticeRenderer(folder)
    messages = []

    for name in ("syntax", "variable", "field"):
        with pytest.raises(NoticeTemplateError) as caught:
            renderer.render_html(worked_notice(), name)
        messages.append(str(caught.value))

    assert messages == [
        "template `syntax.html`, line 2: syntax error: Expected an expression, "
        "got 'end of statement block'",
        "template `variable.html`, line 2: `notic` is not defined; templates have "
        "notice, customer, sender, claims, totals, as_of, pay_by, language, locale",
        "template `field.html`, line 2: a claim has no field `totl`; did you mean "
        "`total`? its fields: claim_id, level, issue_date, due_date, amount, "
        "open_amount, fee, interest, measure, plan_overdue, currency, total",
    ]


# ---- escaping ----------------------------------------------------------------


def test_customer_names_are_escaped_in_html() -> None:
    """A name with markup appears as text in the letter, never as markup."""
    notice = worked_notice("en", name='<script>alert("x")</script> & Co')

    html = NoticeRenderer().render_html(notice, "reminder")

    assert "<script>" not in html
    assert (
        "<p>&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co"
        "<br>Hauptstraße 5<br>10115 Berlin</p>"
    ) in html
    assert (
        "<p>Dear &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co,</p>" in html
    )


def test_plain_text_emails_are_not_escaped_and_subjects_stay_one_line(
    tmp_path: Path,
) -> None:
    """E-mail text shows names as they are; a line break cannot add a header."""
    folder = folder_with(
        tmp_path,
        {
            "hello.en.txt": "Subject: Hello {{ customer.name }}\n\nHi {{ customer.name }}\n"
        },
    )
    notice = worked_notice("en", name="A & B <Ltd>\r\nBcc: someone@example.org")

    email = NoticeRenderer(folder).render_email(notice, "hello")

    assert email.subject == "Hello A & B <Ltd> Bcc: someone@example.org"
    assert email.body == "Hi A & B <Ltd>\r\nBcc: someone@example.org\n"


def test_an_email_template_needs_a_subject_line(tmp_path: Path) -> None:
    """An e-mail template that does not start with `Subject:` is an error."""
    folder = folder_with(tmp_path, {"nosubject.txt": "Dear {{ customer.name }}\n"})

    with pytest.raises(NoticeTemplateError) as caught:
        NoticeRenderer(folder).render_email(worked_notice(), "nosubject")

    assert str(caught.value) == (
        "template `nosubject.txt`, line 1: an e-mail template starts with a line "
        "`Subject: ...`, then an empty line, then the text"
    )


# ---- PDF ---------------------------------------------------------------------


def pdf_text(pdf: bytes) -> str:
    """The text of every page, with no-break spaces as plain spaces."""
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return text.replace(NBSP, " ")


@pytest.mark.parametrize(
    ("language", "amounts"),
    [
        ("de", ["1.234,50 €", "523,17 €", "45,00 €", "15,51 €", "1.775,01 €"]),
        ("en", ["€1,234.50", "€523.17", "€45.00", "€15.51", "€1,775.01"]),
    ],
)
def test_the_pdf_is_valid_and_shows_the_amounts(
    language: str, amounts: list[str]
) -> None:
    """The PDF is a PDF, and its text holds every claim and the totals."""
    pdf = NoticeRenderer().render_pdf(worked_notice(language), "final-notice")

    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    text = pdf_text(pdf)
    for expected in [*amounts, "R-2024-001", "R-2024-007", "Muster GmbH"]:
        assert expected in text
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert reader.metadata is not None
    assert reader.metadata.title == (
        "Letzte Mahnung" if language == "de" else "Final notice"
    )


def test_the_pdf_leaves_out_the_head() -> None:
    """The style sheet in <head> is for browsers; the PDF does not print it."""
    text = pdf_text(NoticeRenderer().render_pdf(worked_notice("de"), "reminder"))

    assert "font-family" not in text
    assert text.startswith("Beispiel AG · Am Markt 1 · 20095 Hamburg")


def test_the_same_notice_gives_the_same_pdf() -> None:
    """PDFs carry the notice's date, not the clock's, so they can be compared."""
    renderer = NoticeRenderer()

    assert renderer.render_pdf(worked_notice(), "reminder") == renderer.render_pdf(
        worked_notice(), "reminder"
    )


def embedded_fonts(pdf: bytes) -> int:
    """How many font files a PDF embeds, used or not."""
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    found = 0
    for number in range(1, int(reader.trailer["/Size"])):
        item = reader.get_object(number)
        if isinstance(item, dict) and "/FontFile2" in item:
            found += 1
    return found


def test_italics_are_read_only_for_letters_that_use_them(tmp_path: Path) -> None:
    """A letter with bold and italic text prints both; the italic faces (drawn
    upright) are embedded only then: two font files without italics, four with."""
    plain = "<p>Total <b>{{ customer.name }}</b></p>"
    slanted = plain + "<p><em>Bitte</em> <b><i>sofort</i></b> zahlen.</p>"
    folder = folder_with(tmp_path, {"plain.html": plain, "slanted.html": slanted})
    renderer = NoticeRenderer(folder)

    without = renderer.render_pdf(worked_notice(), "plain")
    with_italics = renderer.render_pdf(worked_notice(), "slanted")

    assert "Bitte sofort zahlen." in pdf_text(with_italics)
    assert embedded_fonts(without) == 2
    assert embedded_fonts(with_italics) == 4


@pytest.mark.parametrize(
    "html",
    [
        "<table><tr><td><table><tr><td>x</td></tr></table></td></tr></table>",
        "<ul><li>a</li></ol>",
    ],
    ids=["table in a table", "end tag of another list"],
)
def test_html_the_pdf_cannot_lay_out_is_named(tmp_path: Path, html: str) -> None:
    """The PDF writer's own words are short here (an AssertionError, a
    KeyError 1): the message says what kind of failure it was and where to
    look."""
    renderer = NoticeRenderer(folder_with(tmp_path, {"odd.html": html}))

    with pytest.raises(NoticeTemplateError) as failed:
        renderer.render_pdf(worked_notice(), "odd")

    start = "template `odd.html`: the PDF cannot be made from it: "
    end = (
        "; the letter's HTML uses something the PDF writer cannot lay out "
        "(docs/letters.md lists what it can)"
    )
    message = str(failed.value)
    assert message.startswith(start)
    assert message.endswith(end)
    assert re.fullmatch(r"\w+(Error|Exception)\b.*", message[len(start) : -len(end)])


def test_the_pdf_shows_names_beyond_latin_1() -> None:
    """Polish and Czech names are drawn with the bundled font, not dropped."""
    notice = worked_notice("de", name="Łukasz Żółć, Dvořák s.r.o.")

    text = pdf_text(NoticeRenderer().render_pdf(notice, "reminder"))

    assert "Łukasz Żółć, Dvořák s.r.o." in text


def test_the_pdf_refuses_characters_it_cannot_draw() -> None:
    """A character the bundled font lacks is an error, not a blank in the letter."""
    notice = worked_notice("de", name="山田商事")

    with pytest.raises(NoticeTemplateError) as caught:
        NoticeRenderer().render_pdf(notice, "reminder")

    assert str(caught.value) == (
        "template `reminder.de.html`: the PDF font cannot show these characters: "
        "'事' (U+4E8B), '商' (U+5546), '山' (U+5C71), '田' (U+7530)"
    )


def test_the_pdf_refuses_images(tmp_path: Path) -> None:
    """An image would be read from a file or a URL, so a letter cannot have one."""
    (tmp_path / "logo.png").write_bytes(b"not really a picture")
    folder = folder_with(
        tmp_path, {"logo.html": f'<p>Hi</p><img src="{tmp_path / "logo.png"}">'}
    )
    pdf = None

    with pytest.raises(NoticeTemplateError) as caught:
        pdf = NoticeRenderer(folder).render_pdf(worked_notice(), "logo")

    assert pdf is None
    assert str(caught.value) == (
        "template `logo.html`: a letter cannot show an image: the PDF would read "
        "it from a file or the network; leave out <img>"
    )

"""The templates in policies/templates: every one a shipped policy names is there
and writes a notice with its amounts, in German and English."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pypdf
import pytest

import dunlang
from dunlang.model import MeasureKind
from engine.notices import Notice, NoticeClaim, NoticeCustomer, Sender
from engine.records import Money
from engine.rendering import NoticeRenderer

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
TEMPLATES = POLICIES / "templates"
KINDS = (MeasureKind.LETTER, MeasureKind.EMAIL)


def named_templates() -> list[tuple[str, str, str]]:
    """(policy file, kind, template) for every letter and e-mail a shipped policy names."""
    named = set()
    for path in sorted(POLICIES.glob("*.dun")):
        policy = dunlang.parse_policy(path.read_text(encoding="utf-8"), str(path))
        for measure in policy.measures.values():
            if measure.kind in KINDS:
                template = measure.template or measure.name
                named.add((path.name, measure.kind.value, template))
    return sorted(named)


NAMED = named_templates()


def eur(amount: str) -> Money:
    """An amount in euros."""
    return Money(Decimal(amount), "EUR")


def small_notice(language: str, *, charges: bool = True) -> Notice:
    """One claim of 980.00 EUR, 480.00 open, with a 40.00 fee and 3.17 interest."""
    customer = NoticeCustomer(
        "K-17", "Muster GmbH", "Hauptstraße 5\n10115 Berlin", language
    )
    claim = NoticeClaim(
        "R-2025-007",
        "final_notice",
        dt.date(2025, 1, 20),
        dt.date(2025, 2, 19),
        amount=eur("980.00"),
        open_amount=eur("480.00"),
        fee=eur("40.00") if charges else None,
        interest=eur("3.17") if charges else None,
    )
    sender = Sender(
        "Beispiel AG", "Am Markt 1\n20095 Hamburg", iban="DE02 1203 0000 0000 2020 51"
    )
    return Notice(customer, sender, dt.date(2025, 3, 5), [claim])


# The total is the open amount plus fee plus interest: 480.00 + 40.00 + 3.17 =
# 523.17 EUR, written the German way in de and the English way in en.
AMOUNTS = {
    "de": ["480,00\xa0€", "40,00\xa0€", "3,17\xa0€", "523,17\xa0€"],
    "en": ["€480.00", "€40.00", "€3.17", "€523.17"],
}


def pdf_text(data: bytes) -> str:
    """The text of every page of a PDF, its no-break spaces as they were written.

    The PDF's text comes back with plain spaces where the HTML had no-break
    spaces (between an amount and its currency).
    """
    reader = pypdf.PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return text.replace(" €", "\xa0€")


def test_the_shipped_policies_name_templates() -> None:
    """All four kinds of notice of the shipped policies are found by the scan."""
    # 4 letters in de-b2b-trade, 4 e-mails and 3 letters in consumer-gentle,
    # 2 e-mails and 1 letter in oca-3-time; killbill-overdue sends none.
    assert len(NAMED) == 14
    assert {policy for policy, _, _ in NAMED} == {
        "consumer-gentle.dun",
        "de-b2b-trade.dun",
        "oca-3-time.dun",
    }


@pytest.mark.parametrize("language", ["de", "en"])
@pytest.mark.parametrize(
    ("policy", "kind", "template"), NAMED, ids=[t for _, _, t in NAMED]
)
def test_every_named_template_writes_its_notice(
    policy: str, kind: str, template: str, language: str
) -> None:
    """The policy's own template, in the customer's language, shows every amount."""
    renderer = NoticeRenderer(TEMPLATES)
    notice = small_notice(language)

    if kind == "letter":
        choice = renderer.choose(template, language, "letter")
        html = renderer.render_html(notice, template)
        pdf = pdf_text(renderer.render_pdf(notice, template))
        written = [html, pdf]
    else:
        choice = renderer.choose(template, language, "email")
        email = renderer.render_email(notice, template)
        assert email.subject.endswith("Beispiel AG")
        written = [email.body]

    extension = "html" if kind == "letter" else "txt"
    assert choice.file == f"{template}.{language}.{extension}"
    for text in written:
        assert "R-2025-007" in text
        for amount in AMOUNTS[language]:
            assert amount in text


@pytest.mark.parametrize("language", ["de", "en"])
@pytest.mark.parametrize(
    ("policy", "kind", "template"), NAMED, ids=[t for _, _, t in NAMED]
)
def test_every_named_template_also_goes_the_other_way(
    policy: str, kind: str, template: str, language: str
) -> None:
    """A letter to a customer without postal address goes by e-mail, and back."""
    renderer = NoticeRenderer(TEMPLATES)
    notice = small_notice(language)

    if kind == "letter":
        text = renderer.render_email(notice, template).body
    else:
        text = pdf_text(renderer.render_pdf(notice, template))

    # 480.00 open + 40.00 fee + 3.17 interest.
    assert AMOUNTS[language][3] in text


def test_a_notice_without_charges_does_not_mention_them() -> None:
    """The final notice speaks of interest and the flat fee only when they are owed."""
    renderer = NoticeRenderer(TEMPLATES)

    owed = renderer.render_email(small_notice("de"), "de-b2b-final-notice").body
    none = renderer.render_email(
        small_notice("de", charges=False), "de-b2b-final-notice"
    ).body

    assert "Verzugszinsen (§ 288 BGB) und die Verzugspauschale" in owed
    assert "Verzugszinsen" not in none
    assert "Verzugspauschale" not in none
    # Without charges the total is the open amount: 480.00 EUR.
    assert "den Gesamtbetrag von 480,00\xa0€" in none
    assert "\n\n\n" not in none


def test_every_template_file_belongs_to_a_named_template() -> None:
    """The folder holds de and en, letter and e-mail, of the named templates only."""
    names = {template for _, _, template in NAMED}
    expected = {
        f"{name}.{language}.{extension}"
        for name in names
        for language in ("de", "en")
        for extension in ("html", "txt")
    }

    assert {path.name for path in TEMPLATES.iterdir()} == expected

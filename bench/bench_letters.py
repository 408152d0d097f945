"""How long a letter takes to write: the bundled templates, HTML and PDF.

Renders each bundled letter template in German and English for a notice of
two claims (with fees and interest), `--letters` times each (default 50),
after one letter of each to warm up, and prints the median time per letter
and what that makes per hour. Run from the repository root:

    python bench/bench_letters.py [--letters 50]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.notices import Notice, NoticeClaim, NoticeCustomer, Sender  # noqa: E402
from engine.records import Money  # noqa: E402
from engine.rendering import NoticeRenderer  # noqa: E402

TEMPLATES = ("reminder", "final-notice")
LANGUAGES = ("de", "en")


def _eur(amount: str) -> Money:
    return Money(Decimal(amount), "EUR")


def notice(language: str) -> Notice:
    """A notice of two overdue claims, each with a fee and interest."""
    claims = tuple(
        NoticeClaim(
            f"R-2025-{number:03d}",
            "reminded",
            dt.date(2025, 1, number),
            dt.date(2025, 2, number),
            _eur(amount),
            _eur(amount),
            fee=_eur("5.00"),
            interest=_eur("3.17"),
            measure="reminder_letter",
        )
        for number, amount in ((10, "1234.50"), (20, "480.00"))
    )
    return Notice(
        NoticeCustomer("K-17", "Muster GmbH", "Hauptstraße 5\n10115 Berlin", language),
        Sender(
            "Beispiel AG", "Am Markt 1\n20095 Hamburg", iban="DE02120300000000202051"
        ),
        dt.date(2025, 3, 15),
        claims,
        run_id=1,
        pay_by=dt.date(2025, 3, 25),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=50, help="per template")
    options = parser.parse_args(argv)
    if options.letters < 1:
        parser.error("--letters must be at least 1")

    renderer = NoticeRenderer()
    print(f"letters, {options.letters} of each template and language, median")
    every: list[float] = []
    for template in TEMPLATES:
        for language in LANGUAGES:
            worked = notice(language)
            html, pdf = renderer.render_letter(worked, template)  # warm up
            times = []
            for _ in range(options.letters):
                began = time.perf_counter()
                renderer.render_letter(worked, template)
                times.append(time.perf_counter() - began)
            every += times
            median = statistics.median(times) * 1000
            label = f"{template}.{language}"
            print(f"  {label:<24} {median:6.1f} ms per letter ({len(pdf):,} bytes)")
    median = statistics.median(every)
    print(
        f"  {'all':<24} {median * 1000:6.1f} ms per letter, "
        f"about {3600 / median:,.0f} letters an hour on one core"
    )


if __name__ == "__main__":
    main()

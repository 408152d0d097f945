"""Realistic sample receivables, written as CSV files in the native import format.

`write_sample` makes four files from a seed: customers, claims, payments and
events (disputes and payment promises). The same settings give byte-identical
files. Rows are streamed to the files as they are made, so memory stays flat
apart from a few bytes per customer, and each file appears under its final name
only once it is complete.

The behaviour is set by the tables below. In short: a customer has a payment
habit (good, average or poor) that sets the chance a claim is paid late or never;
about 5 % of claims are disputed, and disputed claims are paid only after the
dispute is resolved; some claims are settled in two payments; some late payers
give a promise to pay by a date. Payments and events dated after the end of the
period are not written, so claims can still be open at the end.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import logging
import math
import os
import random
import unicodedata
from array import array
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from attrs import field, frozen

logger = logging.getLogger(__name__)


def _names(text: str) -> tuple[str, ...]:
    """The items of a comma-separated list; keeps the tables below short."""
    return tuple(item.strip() for item in text.split(","))


CUSTOMER_COLUMNS = _names(
    "id, name, kind, segment, country, language, email, address, credit_limit,"
    " currency, dunning_group"
)
CLAIM_COLUMNS = _names("id, customer_id, kind, currency, amount, issue_date, due_date")
PAYMENT_COLUMNS = _names("id, claim_id, amount, currency, paid_on, kind")
EVENT_COLUMNS = _names(
    "id, claim_id, customer_id, kind, happened_on, until, amount, reason"
)

DEFAULT_START = dt.date(2025, 1, 1)
DEFAULT_END = dt.date(2025, 12, 31)
CURRENCY = "EUR"


# ---- settings and summary ---------------------------------------------------


def _at_least_one(instance: Any, attribute: Any, value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1, not {value}")


def _not_negative(instance: Any, attribute: Any, value: int) -> None:
    # random.Random folds a negative seed onto its absolute value, so -7 and 7
    # would give the same files; refusing negatives keeps seeds one-to-one.
    if value < 0:
        raise ValueError(f"{attribute.name} must be 0 or more, not {value}")


@frozen
class SampleSettings:
    """What to generate: how many customers and claims, the seed and the period
    over which claims are issued (both ends included)."""

    customers: int = field(validator=_at_least_one)
    claims: int = field(validator=_at_least_one)
    seed: int = field(default=0, validator=_not_negative)
    start: dt.date = DEFAULT_START
    end: dt.date = field(default=DEFAULT_END)

    @end.validator
    def _end_not_before_start(self, attribute: Any, value: dt.date) -> None:
        if value < self.start:
            raise ValueError(f"end {value} is before start {self.start}")


@frozen
class SampleFile:
    """One written file and its number of data rows (the header not counted)."""

    path: Path
    rows: int


@frozen
class SampleSummary:
    """What `write_sample` wrote: the files in the order they were written."""

    directory: Path
    files: tuple[SampleFile, ...]

    @property
    def rows(self) -> int:
        """Data rows over all files."""
        return sum(file.rows for file in self.files)


# ---- how the sample behaves -------------------------------------------------


@frozen
class Segment:
    """A customer segment and how its customers buy and what they are allowed."""

    name: str
    kind: str
    share: float  # of all customers
    claim_weight: float  # how many claims relative to other segments
    amount_median: float  # EUR, of a log-normal claim amount
    amount_sigma: float
    thirty_day_share: float  # the rest have 14 days to pay
    credit_median: float | None  # EUR, log-normal; None: no credit limit


SEGMENTS = (
    Segment("key", "business", 0.03, 10.0, 4800.0, 1.0, 0.90, 150_000.0),
    Segment("standard", "business", 0.25, 3.0, 1200.0, 0.9, 0.70, 25_000.0),
    Segment("small", "business", 0.27, 1.5, 450.0, 0.9, 0.55, 6_000.0),
    Segment("retail", "consumer", 0.45, 0.6, 85.0, 0.8, 0.15, None),
)


@frozen
class Habit:
    """How reliably a customer pays: chances per claim, before any dispute."""

    name: str
    share: float  # of all customers
    late: float  # chance a claim is paid after its due date
    never: float  # chance a claim is never paid


HABITS = (
    Habit("good", 0.50, 0.15, 0.01),
    Habit("average", 0.35, 0.40, 0.03),
    Habit("poor", 0.15, 0.80, 0.12),
)

DISPUTE_SHARE = 0.05  # of claims; disputes do not depend on the habit
DISPUTE_NEVER_RESOLVED = 0.10  # such claims are never paid
SPLIT_SHARE = 0.08  # of paid claims, settled in two payments
LONG_DELAY_SHARE = 0.30  # of late claims, weeks to months late
PROMISE_SHARE = 0.12  # of claims ten days late or more
BROKEN_PROMISE_SHARE = 0.20  # of never-paid claims, which give a promise and break it
KEPT_PROMISE_SHARE = 0.70  # of the promises given on claims that are paid late
PROMPT_PAYER_SHARE = 0.15  # of claims paid on time, paid within days of issue
EMAIL_SHARE = {"business": 0.93, "consumer": 0.78}
ADDRESS_SHARE = 0.98
DUNNING_GROUP_SHARE = 0.01
DUNNING_GROUPS = {"business": ("key_accounts", "legal"), "consumer": ("hardship",)}

DISPUTE_REASONS = _names(
    "goods damaged, price differs from the order, not delivered,"
    " invoice received twice, service not rendered"
)
RESOLUTION_REASONS = _names(
    "delivery confirmed, price explained, goods replaced, duplicate ruled out"
)
PROMISE_REASONS = _names(
    "waiting for own customer, short of cash, invoice was lost, approval pending"
)


@frozen
class Country:
    """Names, places and address layout of one country."""

    code: str
    share: float
    languages: tuple[tuple[str, float], ...]
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    legal_forms: tuple[str, ...]
    trades: tuple[str, ...]
    streets: tuple[str, ...]
    cities: tuple[str, ...]
    number_first: bool  # "12 rue X" rather than "Hauptstraße 12"
    postcode: str  # 9: a digit, A: a letter, anything else as is


_GERMAN_FIRST = _names(
    "Anna, Lukas, Marie, Jonas, Sophie, Felix, Lea, Paul, Jürgen, Sabine, Özlem,"
    " Mehmet, Katharina, Stefan"
)
_GERMAN_TRADES = _names(
    "Bau, Logistik, Metallbau, Elektrotechnik, Druckerei, Software, Gastronomie,"
    " Handel, Möbelwerk"
)

COUNTRIES = (
    Country(
        "DE",
        0.62,
        (("de", 0.95), ("en", 0.05)),
        _GERMAN_FIRST,
        _names(
            "Müller, Schmidt, Schneider, Fischer, Weber, Meyer, Wagner, Becker,"
            " Schulz, Hoffmann, Koch, Richter, Wolf, Schröder, Neumann, Yılmaz"
        ),
        _names("GmbH, GmbH & Co. KG, AG, KG, e.K., UG (haftungsbeschränkt)"),
        _GERMAN_TRADES,
        _names(
            "Hauptstraße, Bahnhofstraße, Gartenstraße, Schulstraße, Lindenweg,"
            " Am Markt, Bergstraße, Mühlenweg, Goethestraße"
        ),
        _names(
            "Berlin, Hamburg, München, Köln, Frankfurt am Main, Stuttgart,"
            " Düsseldorf, Leipzig, Dortmund, Bremen, Dresden, Nürnberg"
        ),
        number_first=False,
        postcode="99999",
    ),
    Country(
        "AT",
        0.10,
        (("de", 1.0),),
        _GERMAN_FIRST,
        _names("Gruber, Huber, Bauer, Wagner, Pichler, Steiner, Moser"),
        _names("GmbH, AG, KG, e.U."),
        _GERMAN_TRADES,
        _names("Hauptplatz, Kirchengasse, Wiener Straße, Bahnhofstraße"),
        _names("Wien, Graz, Linz, Salzburg, Innsbruck"),
        number_first=False,
        postcode="9999",
    ),
    Country(
        "FR",
        0.10,
        (("fr", 1.0),),
        _names("Camille, Léa, Hugo, Chloé, Louis, Manon, Théo, Élodie, François"),
        _names(
            "Martin, Bernard, Dubois, Thomas, Robert, Petit, Durand, Lefèvre,"
            " Moreau, Girard"
        ),
        _names("SARL, SAS, SA, EURL"),
        _names("Transports, Bâtiment, Conseil, Imprimerie, Informatique"),
        _names(
            "rue de la République, avenue Jean Jaurès, boulevard Victor Hugo,"
            " rue des Écoles, place du Marché"
        ),
        _names("Paris, Lyon, Marseille, Toulouse, Lille, Nantes, Strasbourg"),
        number_first=True,
        postcode="99999",
    ),
    Country(
        "BE",
        0.05,
        (("fr", 0.8), ("en", 0.2)),
        _names("Lucas, Emma, Louis, Olivia, Arthur, Elise"),
        _names("Peeters, Janssens, Maes, Dupont, Lambert, Dubois"),
        _names("SRL, SA, BV"),
        _names("Transport, Construct, Consult, Services"),
        _names("rue Haute, chaussée de Wavre, avenue Louise"),
        _names("Bruxelles, Liège, Namur, Charleroi"),
        number_first=True,
        postcode="9999",
    ),
    Country(
        "NL",
        0.07,
        (("en", 0.85), ("de", 0.15)),
        _names("Daan, Sanne, Emma, Bram, Lotte, Sem"),
        _names("de Jong, Jansen, de Vries, van den Berg, Bakker, Visser"),
        _names("B.V., V.O.F."),
        _names("Techniek, Transport, Bouw, Advies"),
        _names("Kerkstraat, Dorpsstraat, Stationsweg, Molenweg"),
        _names("Amsterdam, Rotterdam, Utrecht, Eindhoven"),
        number_first=False,
        postcode="9999 AA",
    ),
    Country(
        "IE",
        0.06,
        (("en", 1.0),),
        _names("Aoife, Seán, Ciara, Conor, Niamh, Darragh"),
        _names("Murphy, Kelly, O'Sullivan, Walsh, Byrne, O'Brien"),
        _names("Ltd, DAC"),
        _names("Engineering, Logistics, Foods, Consulting"),
        _names("Main Street, Church Road, Station Road, Mill Lane"),
        _names("Dublin, Cork, Galway, Limerick"),
        number_first=True,
        postcode="A99 A9A9",
    ),
)


# ---- writing ----------------------------------------------------------------


def write_sample(directory: str | Path, settings: SampleSettings) -> SampleSummary:
    """Write customers.csv, claims.csv, payments.csv and events.csv into
    `directory` (created if missing), replacing files of those names."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    names = ("customers.csv", "claims.csv", "payments.csv", "events.csv")
    columns = (CUSTOMER_COLUMNS, CLAIM_COLUMNS, PAYMENT_COLUMNS, EVENT_COLUMNS)

    with _staged(directory, names, columns) as targets:
        customers, claims, payments, events = targets
        book = _write_customers(customers, settings)
        _write_claims(claims, payments, events, book, settings)

    files = tuple(
        SampleFile(directory / name, target.rows)
        for name, target in zip(names, targets, strict=True)
    )
    for file in files:
        logger.debug("wrote %s rows to %s", file.rows, file.path)
    return SampleSummary(directory, files)


class _Target:
    """A CSV file being written under a temporary name next to its final name."""

    def __init__(self, path: Path, columns: tuple[str, ...]) -> None:
        self.path = path
        self.temporary = path.with_name(f".{path.name}.{os.getpid()}.part")
        self.file = open(  # noqa: SIM115 - closed by commit or discard
            self.temporary, "w", encoding="utf-8", newline="", buffering=1 << 20
        )
        self.writer = csv.writer(self.file, lineterminator="\n")
        self.writer.writerow(columns)
        self.rows = 0

    def write(self, row: tuple[str, ...]) -> None:
        """Add one data row."""
        self.writer.writerow(row)
        self.rows += 1

    def commit(self) -> None:
        """Make the file durable and move it to its final name in one step."""
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.temporary, self.path)

    def discard(self) -> None:
        """Forget the partial file."""
        self.file.close()
        self.temporary.unlink(missing_ok=True)


@contextmanager
def _staged(
    directory: Path, names: tuple[str, ...], columns: tuple[tuple[str, ...], ...]
) -> Iterator[tuple[_Target, ...]]:
    """Open every file under a temporary name; publish them all only when the
    whole sample was written, and leave nothing behind otherwise."""
    targets: list[_Target] = []
    try:
        for name, header in zip(names, columns, strict=True):
            targets.append(_Target(directory / name, header))
        yield tuple(targets)
    except BaseException:
        for target in targets:
            target.discard()
        raise

    for target in targets:
        target.commit()


class _CustomerBook:
    """What the claims need to know about each customer, a few bytes apiece."""

    def __init__(self, count: int) -> None:
        self.segment = bytearray(count)
        self.habit = bytearray(count)
        self.terms = bytearray(count)
        self.cumulative_weight = array("d", bytes(8 * count))

    def pick(self, rng: random.Random) -> int:
        """A customer index, customers with more weight more often."""
        weights = self.cumulative_weight
        index = bisect.bisect_right(weights, rng.random() * weights[-1])
        return min(index, len(weights) - 1)


def _write_customers(target: _Target, settings: SampleSettings) -> _CustomerBook:
    """Write one row per customer and remember what the claims will need."""
    rng = random.Random(f"customers:{settings.seed}")
    book = _CustomerBook(settings.customers)
    segment_weights = _cumulative(segment.share for segment in SEGMENTS)
    habit_weights = _cumulative(habit.share for habit in HABITS)
    country_weights = _cumulative(country.share for country in COUNTRIES)
    total_weight = 0.0

    for index in range(settings.customers):
        segment_index = _pick_index(rng, segment_weights)
        segment = SEGMENTS[segment_index]
        country = COUNTRIES[_pick_index(rng, country_weights)]
        business = segment.kind == "business"
        name, mailbox = _name(rng, country, business)
        language = _weighted(rng, country.languages)

        email = mailbox if rng.random() < EMAIL_SHARE[segment.kind] else ""
        address = _address(rng, country) if rng.random() < ADDRESS_SHARE else ""
        credit_limit = ""
        if segment.credit_median is not None:
            limit = rng.lognormvariate(math.log(segment.credit_median), 0.5)
            credit_limit = f"{max(1000, round(limit / 500) * 500)}.00"
        group = ""
        if rng.random() < DUNNING_GROUP_SHARE:
            group = rng.choice(DUNNING_GROUPS[segment.kind])

        target.write(
            (
                _customer_id(index),
                name,
                segment.kind,
                segment.name,
                country.code,
                language,
                email,
                address,
                credit_limit,
                CURRENCY,
                group,
            )
        )

        book.segment[index] = segment_index
        book.habit[index] = _pick_index(rng, habit_weights)
        book.terms[index] = 30 if rng.random() < segment.thirty_day_share else 14
        total_weight += segment.claim_weight * rng.lognormvariate(0.0, 0.5)
        book.cumulative_weight[index] = total_weight

    return book


def _name(rng: random.Random, country: Country, business: bool) -> tuple[str, str]:
    """A customer name and the e-mail address that would go with it."""
    last = rng.choice(country.last_names)
    if not business:
        first = rng.choice(country.first_names)
        domain = rng.choice(("example.com", "example.net", "example.org"))
        return f"{first} {last}", f"{_slug(first)}.{_slug(last)}@{domain}"

    shape = rng.random()
    if shape < 0.5:
        stem = f"{last} {rng.choice(country.trades)}"
    elif shape < 0.7:
        stem = f"{last} & {rng.choice(country.last_names)}"
    else:
        stem = last
    mailbox = rng.choice(("invoices", "accounts", "billing", "office"))
    return (
        f"{stem} {rng.choice(country.legal_forms)}",
        f"{mailbox}@{_slug(stem)}.example",
    )


_SPELLED_OUT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ı": "i"})


def _slug(text: str) -> str:
    """Lower-case ASCII letters and digits joined by hyphens, for addresses."""
    folded = unicodedata.normalize("NFKD", text.lower().translate(_SPELLED_OUT))
    plain = folded.encode("ascii", "ignore").decode("ascii")
    words = "".join(c if c.isalnum() else " " for c in plain).split()
    return "-".join(words)


def _address(rng: random.Random, country: Country) -> str:
    """A street address on one line in the country's usual layout."""
    street = rng.choice(country.streets)
    number = str(rng.randint(1, 180))
    postcode = "".join(
        str(rng.randint(0, 9))
        if symbol == "9"
        else chr(rng.randint(65, 90))
        if symbol == "A"
        else symbol
        for symbol in country.postcode
    )
    line = f"{number} {street}" if country.number_first else f"{street} {number}"
    if country.code == "IE":
        return f"{line}, {rng.choice(country.cities)} {postcode}"
    return f"{line}, {postcode} {rng.choice(country.cities)}"


def _write_claims(
    claims: _Target,
    payments: _Target,
    events: _Target,
    book: _CustomerBook,
    settings: SampleSettings,
) -> None:
    """Write the claims in order of issue date, each followed at once by its
    payments and events up to the end of the period."""
    rng = random.Random(f"claims:{settings.seed}")
    start, end = settings.start.toordinal(), settings.end.toordinal()
    span = end - start + 1
    amounts = [(math.log(s.amount_median), s.amount_sigma) for s in SEGMENTS]
    dates = _DateText()
    largest = 1.0

    for index in range(settings.claims):
        # Issue dates are `claims` uniform draws over the period, sorted so that
        # claim numbers rise with the date. The draws come largest first without
        # keeping them: the largest of k uniform values below `largest` is
        # `largest * U ** (1/k)`. Mirrored, they come smallest first.
        largest *= rng.random() ** (1.0 / (settings.claims - index))
        offset = min(span - 1, int((1.0 - largest) * span))
        issue = _issue_day(start + offset, start, end)

        customer = book.pick(rng)
        customer_id = _customer_id(customer)
        mu, sigma = amounts[book.segment[customer]]
        cents = min(25_000_000, max(500, round(rng.lognormvariate(mu, sigma) * 100)))
        due = issue + book.terms[customer]
        claim_id = f"I{index + 1:07d}"
        claims.write(
            (
                claim_id,
                customer_id,
                "invoice",
                CURRENCY,
                _money(cents),
                dates[issue],
                dates[due],
            )
        )

        paid, happened = _history(rng, issue, due, cents, HABITS[book.habit[customer]])

        for day, part in paid:
            if day <= end:
                payments.write(
                    (
                        f"P{payments.rows + 1:07d}",
                        claim_id,
                        _money(part),
                        CURRENCY,
                        dates[day],
                        "payment",
                    )
                )
        for kind, day, until, amount, reason in happened:
            if day <= end:
                events.write(
                    (
                        f"E{events.rows + 1:07d}",
                        claim_id,
                        customer_id,
                        kind,
                        dates[day],
                        dates[until] if until is not None else "",
                        _money(amount) if amount is not None else "",
                        reason,
                    )
                )


_Payment = tuple[int, int]  # day ordinal, cents
_Event = tuple[str, int, int | None, int | None, str]  # kind, day, until, cents, reason


def _history(
    rng: random.Random, issue: int, due: int, cents: int, habit: Habit
) -> tuple[list[_Payment], list[_Event]]:
    """What happens to one claim, in date order and regardless of the end of
    the period: its payments and its events."""
    events: list[_Event] = []
    disputed = rng.random() < DISPUTE_SHARE

    if disputed:
        opened = issue + rng.randint(2, due - issue + 21)
        events.append(
            ("dispute_opened", opened, None, None, rng.choice(DISPUTE_REASONS))
        )
        if rng.random() < DISPUTE_NEVER_RESOLVED:
            return [], events
        resolved = opened + 3 + int(rng.lognormvariate(math.log(18), 0.6))
        events.append(
            ("dispute_resolved", resolved, None, None, rng.choice(RESOLUTION_REASONS))
        )
        settled = _next_business_day(resolved + int(rng.expovariate(1 / 7)))
    elif rng.random() < habit.never:
        if rng.random() < BROKEN_PROMISE_SHARE:
            given = due + rng.randint(10, 60)
            events.append(
                (
                    "promise_given",
                    given,
                    given + rng.randint(5, 21),
                    cents,
                    rng.choice(PROMISE_REASONS),
                )
            )
        return [], events
    elif rng.random() < habit.late:
        settled = _next_business_day(due + _days_late(rng))
    else:
        settled = _on_time(rng, issue, due)

    paid = _payments(rng, issue, settled, cents)

    if not disputed and settled - due >= 10 and rng.random() < PROMISE_SHARE:
        given = due + rng.randint(2, (settled - due) // 3)
        if rng.random() < KEPT_PROMISE_SHARE:
            until = settled + rng.randint(0, 3)
        else:
            until = given + rng.randint(2, settled - given - 1)
        still_open = cents - sum(part for day, part in paid if day <= given)
        events.append(
            ("promise_given", given, until, still_open, rng.choice(PROMISE_REASONS))
        )
    return paid, events


def _days_late(rng: random.Random) -> int:
    """Days past the due date: mostly a few days, with a long tail of months."""
    if rng.random() < LONG_DELAY_SHARE:
        return 14 + int(rng.lognormvariate(math.log(30), 0.7))
    return 1 + int(rng.expovariate(1 / 6))


def _on_time(rng: random.Random, issue: int, due: int) -> int:
    """A payment day from the issue date to the due date, mostly close to it."""
    if rng.random() < PROMPT_PAYER_SHARE:
        day = issue + rng.randint(1, 5)
    else:
        day = due - int(rng.expovariate(1 / 3))
    return max(issue, _previous_business_day(min(day, due)))


def _payments(
    rng: random.Random, issue: int, settled: int, cents: int
) -> list[_Payment]:
    """One payment of the whole amount, or now and then two parts."""
    if cents < 2 or settled - issue < 2 or rng.random() >= SPLIT_SHARE:
        return [(settled, cents)]

    gap = rng.randint(1, min(45, settled - issue))
    first_day = max(issue, _previous_business_day(settled - gap))
    first = min(cents - 1, max(1, round(cents * rng.uniform(0.3, 0.7))))
    return [(first_day, first), (settled, cents - first)]


# ---- small helpers ----------------------------------------------------------


def _issue_day(day: int, start: int, end: int) -> int:
    """Invoices go out on working days: a weekend day moves to the Monday, or to
    the Friday when the Monday is past the end of the period."""
    later = _next_business_day(day)
    if later <= end:
        return later
    earlier = _previous_business_day(day)
    return earlier if earlier >= start else day


def _next_business_day(day: int) -> int:
    """The day itself, or the Monday after a Saturday or Sunday."""
    weekday = (day - 1) % 7  # day ordinal 1 (0001-01-01) is a Monday
    return day + (7 - weekday if weekday >= 5 else 0)


def _previous_business_day(day: int) -> int:
    """The day itself, or the Friday before a Saturday or Sunday."""
    weekday = (day - 1) % 7
    return day - (weekday - 4 if weekday >= 5 else 0)


class _DateText(dict[int, str]):
    """ISO text of day ordinals, each worked out once."""

    def __missing__(self, day: int) -> str:
        text = dt.date.fromordinal(day).isoformat()
        self[day] = text
        return text


def _money(cents: int) -> str:
    """An amount with a dot and two decimals: 1234.50."""
    return f"{cents // 100}.{cents % 100:02d}"


def _customer_id(index: int) -> str:
    """The stable id of the customer at a 0-based index: C000001 for 0."""
    return f"C{index + 1:06d}"


def _cumulative(weights: Iterable[float]) -> list[float]:
    """Running totals of weights, for picking with `_pick_index`."""
    total, running = 0.0, []
    for weight in weights:
        total += weight
        running.append(total)
    return running


def _pick_index(rng: random.Random, cumulative: list[float]) -> int:
    """An index drawn in proportion to the weights behind `cumulative`."""
    index = bisect.bisect_right(cumulative, rng.random() * cumulative[-1])
    return min(index, len(cumulative) - 1)


def _weighted(rng: random.Random, choices: tuple[tuple[str, float], ...]) -> str:
    """One of the values, drawn in proportion to its weight."""
    return choices[_pick_index(rng, _cumulative(w for _, w in choices))][0]

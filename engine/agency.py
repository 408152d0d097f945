"""Handing claims to a collection agency, and reading back what it reports.

A run records each `agency` measure as a pending outbox item naming the
agency. `export_handover` writes, per agency, one file of every pending item's
claim (customer, amounts, fees and interest as of the day, the claim's moves)
and, in the same transaction, marks each item sent, records a `handovers` row
and sets `claims.agency`. A claim is handed to an agency once: exporting again
writes nothing new. Items queued by a run after the day of the export,
items of claims on hold that day, and items of claims with payments or events
no run has applied yet are left pending. A claim under a payment plan is
handed over whole: the plan has failed, so the open principal is all open.

`import_agency_report` reads an agency's report (CSV): money it collected
becomes payments on the claims, which the next run applies; a claim it gives
back as uncollectable gets an `agency_returned` event, which a policy can react
to. The report lands whole or not at all, and importing it again adds nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import logging
import os
import re
import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from attrs import frozen

from dunlang.model import Money

from .calls import customer_phone, money_text
from .charges import charges_summary
from .interest import BaseRateTable, InterestError
from .mapping import (
    AmountParser,
    BadValue,
    DateParser,
    ImportFailed,
    Problem,
    Table,
    did_you_mean,
    fail,
    one_of,
    quote,
    too_precise,
)
from .outbox import (
    DONE,
    PENDING,
    SENT,
    UNDELIVERABLE,
    HeldBack,
    held_back,
    interest_problem,
    record_delivery,
)
from .reading import Source, read_source
from .store import Store

__all__ = [
    "FORMATS",
    "HANDOVER_COLUMNS",
    "REPORT_COLUMNS",
    "AgencyReportResult",
    "HandoverError",
    "HandoverFile",
    "export_handover",
    "import_agency_report",
]

log = logging.getLogger(__name__)

AGENCY = "agency"
FORMATS = ("csv", "json", "both")
EXPORT_ACTOR = "agency export"
RETURNED_EVENT = "agency_returned"

HANDOVER_COLUMNS = (
    "claim_id",
    "customer_id",
    "customer_name",
    "address",
    "email",
    "phone",
    "currency",
    "original_amount",
    "open_principal",
    "fees",
    "interest",
    "due_date",
    "days_overdue",
    "history",
)
"""The columns of a handover file, in this order."""

COLLECTED, RETURNED = "collected", "returned"
REPORT_STATUSES = (COLLECTED, RETURNED)
REPORT_COLUMNS = ("claim_id", "date", "status", "collected_amount", "note", "currency")
"""The columns of an agency report; the first three are required."""
_REQUIRED = REPORT_COLUMNS[:3]


class HandoverError(ValueError):
    """A handover cannot be exported as it stands; nothing was written."""


@frozen
class HandoverFile:
    """What one export did for one agency: the files written, the claims in
    them, the claims whose item was closed without a handover, and the items
    left pending (queued after the day of the handover, or on hold)."""

    agency: str
    on: dt.date
    files: tuple[str, ...]
    claims: tuple[str, ...]
    skipped: tuple[str, ...] = ()
    held_back: tuple[HeldBack, ...] = ()


@frozen
class AgencyReportResult:
    """What importing an agency report did; `known` counts rows already imported."""

    agency: str
    file: str
    payments: int
    returned: int
    known: int


# ---- export -------------------------------------------------------------------


def export_handover(
    store: Store,
    on: dt.date,
    *,
    agency: str | None = None,
    out_dir: str | Path = ".",
    form: str = "csv",
    at: dt.datetime | None = None,
    base_rates: BaseRateTable | None = None,
) -> list[HandoverFile]:
    """Hand every pending agency item (of one agency, or all) over, one file each.

    Per agency, in one transaction: the file is written under a temporary name
    and renamed, the items are marked sent with the file as their document, a
    `handovers` row and `claims.agency` are recorded, then it is committed; if
    anything fails the file is removed and nothing is recorded. An item whose
    claim is settled, or already with that agency, is closed without a file row.
    An item queued by a run after `on`, or whose claim or customer is on hold
    on `on`, is left pending and untouched (`HandoverFile.held_back`).
    Interest not yet booked is worked out with `base_rates` (default: the
    bundled table).
    """
    if form not in FORMATS:
        raise ValueError(f"{quote(form)} is not a handover format ({one_of(FORMATS)})")
    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise fail(str(folder), "is a file, not a folder; give a folder with --out")

    select = "SELECT DISTINCT agency FROM measures WHERE kind = ? AND status = ?"
    names = [
        row[0] or ""
        for row in store.conn.execute(select + " ORDER BY agency", (AGENCY, PENDING))
    ]
    if agency is not None:
        names = [name for name in names if name == agency]
    if not names:
        return []
    _check_interest(store.conn, names, on, base_rates)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = at or dt.datetime.now(dt.UTC)
    return [
        _export_one(store, name, on, folder, form, stamp, base_rates) for name in names
    ]


def _check_interest(
    conn: sqlite3.Connection,
    agencies: list[str],
    on: dt.date,
    base_rates: BaseRateTable | None = None,
) -> None:
    """Refuse the export, before anything is written, when the interest of an
    open claim waiting for these agencies cannot be computed on `on`: a
    handover with wrong interest must not leave."""
    claims = [
        row[0]
        for row in conn.execute(
            "SELECT DISTINCT m.claim_id FROM measures m JOIN claims c "
            "ON c.id = m.claim_id WHERE m.kind = ? AND m.status = ? "
            "AND c.settled_on IS NULL AND coalesce(m.agency, '') IN "
            "(SELECT value FROM json_each(?)) ORDER BY m.claim_id",
            (AGENCY, PENDING, json.dumps(agencies)),
        )
    ]
    try:
        charges_summary(conn, claims, on, base_rates=base_rates)
    except InterestError as error:
        raise HandoverError(
            f"nothing was handed over: {interest_problem(error)}"
        ) from None


def _export_one(
    store: Store,
    agency: str,
    on: dt.date,
    folder: Path,
    form: str,
    stamp: dt.datetime,
    base_rates: BaseRateTable | None = None,
) -> HandoverFile:
    """One agency's file, with its records, in one transaction."""
    written: list[Path] = []
    with _removed_on_failure(store, written), store.transaction() as conn:
        items = conn.execute(
            "SELECT m.id, m.claim_id, c.settled_on, h.handed_over_on, m.as_of "
            "FROM measures m "
            "JOIN claims c ON c.id = m.claim_id LEFT JOIN handovers h "
            "ON h.claim_id = m.claim_id AND h.agency = m.agency "
            "WHERE m.kind = ? AND m.status = ? AND coalesce(m.agency, '') = ? "
            "ORDER BY m.id",
            (AGENCY, PENDING, agency),
        ).fetchall()
        held = tuple(
            held_back(
                conn,
                [(row[0], row[1], dt.date.fromisoformat(row[4])) for row in items],
                on,
            )
        )
        aside = {ident for group in held for ident in group.items}
        chosen: dict[str, int] = {}
        skipped = []
        for ident, claim, settled_on, handed_on, _ in items:
            if ident in aside:
                continue
            if settled_on is not None:
                detail = f"not handed over: the claim was settled on {settled_on}"
                status = DONE
            elif handed_on is not None or claim in chosen:
                detail = f"not handed over again: claim already with {agency}"
                detail += f" since {handed_on or on.isoformat()}"
                status = UNDELIVERABLE
            else:
                chosen[claim] = ident
                continue
            record_delivery(
                conn, ident, channel=AGENCY, status=status, detail=detail, at=stamp
            )
            skipped.append(claim)
        if not chosen:
            return HandoverFile(agency, on, (), (), tuple(skipped), held)

        rows = _handover_rows(conn, list(chosen), on, base_rates)
        paths = _file_names(folder, agency, on, form)
        document = str(paths[0])
        for row in rows:
            claim = row["claim_id"]
            detail = f"handed over to {agency} in " + ", ".join(map(str, paths))
            record_delivery(
                conn,
                chosen[claim],
                channel=AGENCY,
                status=SENT,
                detail=detail,
                document=document,
                at=stamp,
            )
            _record_handover(conn, agency, row, chosen[claim], on, document, stamp)

        for path in paths:
            _write_atomically(path, _file_text(path, agency, on, rows), written)
    log.info("handed %s claims to %s in %s", len(rows), agency, written)
    files = tuple(str(path) for path in written)
    return HandoverFile(agency, on, files, tuple(chosen), tuple(skipped), held)


@contextmanager
def _removed_on_failure(store: Store, written: list[Path]) -> Iterator[None]:
    """Remove the files written when their transaction does not commit."""
    try:
        yield
    except BaseException:
        if store.conn.in_transaction:  # a COMMIT that failed leaves it open
            store.conn.execute("ROLLBACK")
        for path in written:
            path.unlink(missing_ok=True)
        raise


def _handover_rows(
    conn: sqlite3.Connection,
    claims: list[str],
    on: dt.date,
    base_rates: BaseRateTable | None = None,
) -> list[dict[str, Any]]:
    """One row per claim, sorted by due date and claim id."""
    marks = ", ".join("?" for _ in claims)
    found = conn.execute(
        "SELECT c.id, c.customer_id, coalesce(u.name, ''), u.address, u.email, "
        "u.attributes, c.currency, c.amount, c.open_amount, c.due_date "
        f"FROM claims c LEFT JOIN customers u ON u.id = c.customer_id "
        f"WHERE c.id IN ({marks}) ORDER BY c.due_date, c.id",
        claims,
    ).fetchall()
    charges = charges_summary(conn, claims, on, base_rates=base_rates)

    rows = []
    for claim, customer, name, address, email, attributes, currency, *rest in found:
        amount, open_amount, due = rest
        owed = charges[claim]
        rows.append(
            {
                "claim_id": claim,
                "customer_id": customer,
                "customer_name": name,
                "address": address,
                "email": email,
                "phone": customer_phone(attributes),
                "currency": currency,
                "original_amount": money_text(Money(Decimal(amount), currency)),
                "open_principal": money_text(Money(Decimal(open_amount), currency)),
                "fees": money_text(owed.fees),
                "interest": money_text(owed.interest),
                "due_date": due,
                "days_overdue": (on - dt.date.fromisoformat(due)).days,
                "history": _history_text(conn, claim),
            }
        )
    return rows


def _history_text(conn: sqlite3.Connection, claim: str) -> str:
    """The claim's moves as one line: `2025-03-10 current -> reminded; ...`."""
    moves = conn.execute(
        "SELECT as_of, from_state, to_state FROM transitions WHERE claim_id = ? "
        "ORDER BY id",
        (claim,),
    )
    return "; ".join(f"{on} {a or '(new)'} -> {b}" for on, a, b in moves)


def _record_handover(
    conn: sqlite3.Connection,
    agency: str,
    row: dict[str, Any],
    measure_id: int,
    on: dt.date,
    file: str,
    stamp: dt.datetime,
) -> None:
    """The `handovers` row and the claim's agency, with its audited change."""
    claim = row["claim_id"]
    conn.execute(
        "INSERT INTO handovers (agency, claim_id, customer_id, measure_id, "
        "handed_over_on, file, principal, fees, interest, currency) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            agency,
            claim,
            row["customer_id"],
            measure_id,
            on.isoformat(),
            file,
            row["open_principal"],
            row["fees"],
            row["interest"],
            row["currency"],
        ),
    )
    _set_claim_agency(conn, claim, agency, stamp, file)


def _set_claim_agency(
    conn: sqlite3.Connection,
    claim: str,
    agency: str | None,
    stamp: dt.datetime,
    source: str,
) -> None:
    """Set (or clear) the agency a claim is with, and audit the change."""
    old = conn.execute("SELECT agency FROM claims WHERE id = ?", (claim,)).fetchone()
    conn.execute("UPDATE claims SET agency = ? WHERE id = ?", (agency, claim))
    conn.execute(
        "INSERT INTO audit_changes (recorded_at, actor, table_name, row_id, field, "
        "old_value, new_value, source) VALUES (?, ?, 'claims', ?, 'agency', ?, ?, ?)",
        (
            stamp.isoformat(timespec="seconds"),
            EXPORT_ACTOR,
            claim,
            old[0],
            agency,
            source,
        ),
    )


def _file_names(folder: Path, agency: str, on: dt.date, form: str) -> list[Path]:
    """Names not yet taken: `handover-AGENCY-DATE.csv`, then `-2`, `-3`, ..."""
    safe = re.sub(r"[^0-9A-Za-z._-]+", "_", agency).strip("._") or "agency"
    suffixes = [".csv", ".json"] if form == "both" else [f".{form}"]
    number = 1
    while True:
        stem = f"handover-{safe}-{on.isoformat()}" + (
            f"-{number}" if number > 1 else ""
        )
        paths = [folder / (stem + suffix) for suffix in suffixes]
        if not any(path.exists() for path in paths):
            return paths
        number += 1


def _file_text(path: Path, agency: str, on: dt.date, rows: list[dict[str, Any]]) -> str:
    """A handover file: CSV with a header, or a JSON object with the claims."""
    if path.suffix == ".json":
        content = {"agency": agency, "handed_over_on": on.isoformat(), "claims": rows}
        return json.dumps(content, indent=2, ensure_ascii=False) + "\n"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=HANDOVER_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _write_atomically(path: Path, text: str, written: list[Path]) -> None:
    """Write under a temporary name, then rename: the file is whole or absent."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    written.append(path)


# ---- the agency's report -------------------------------------------------------


@frozen
class _Line:
    """One checked row of a report."""

    row: int
    claim: str
    date: str
    status: str
    amount: Decimal | None
    note: str


@frozen
class _Handover:
    """What the store knows of a claim handed to the reporting agency."""

    id: int
    on: str
    total: Decimal
    currency: str
    returned_on: str | None


def import_agency_report(
    store: Store,
    path: str,
    agency: str,
    *,
    at: dt.datetime | None = None,
) -> AgencyReportResult:
    """Import an agency's report: collected money as payments, returns as events.

    Every row is checked first (ImportFailed lists every problem with file, row
    and column, and nothing is written); then, in one transaction, each new
    collection becomes a payment with an id made from the agency and the row,
    each return an `agency_returned` event with the handover marked returned.
    Rows imported before are recognised and add nothing.
    """
    conn = store.conn
    source = read_source(path, Table(kind="agency report"), "csv")
    problems = list(source.problems)
    if _header_problems(path, source.header, problems):
        raise ImportFailed(problems)

    handovers = {
        row[0]: _Handover(
            row[1], row[2], sum(map(Decimal, row[3:6]), Decimal(0)), row[6], row[7]
        )
        for row in conn.execute(
            "SELECT claim_id, id, handed_over_on, principal, fees, interest, "
            "currency, returned_on FROM handovers WHERE agency = ?",
            (agency,),
        )
    }
    lines = _check_rows(conn, path, source, agency, handovers, problems)
    paid = _payment_ids(agency, lines)
    existing = _existing_payments(conn, [ident for _, ident in paid])
    fresh = [(line, ident) for line, ident in paid if ident not in existing]
    _check_totals(conn, path, agency, fresh, handovers, problems)
    if problems:
        raise ImportFailed(sorted(problems, key=lambda p: p.row or 0))

    stamp = (at or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    returns = [line for line in lines if line.status == RETURNED]
    new_returns = [line for line in returns if not handovers[line.claim].returned_on]
    with store.transaction():
        conn.executemany(
            "INSERT INTO payments (id, claim_id, amount, currency, paid_on, kind) "
            "VALUES (?, ?, ?, ?, ?, 'payment')",
            [
                (ident, line.claim, str(line.amount), handovers[line.claim].currency,
                 line.date)
                for line, ident in fresh
            ],
        )  # fmt: skip
        for line in new_returns:
            _record_return(conn, agency, line, handovers[line.claim].id, path, stamp)
    known = len(paid) - len(fresh) + len(returns) - len(new_returns)
    log.info(
        "report %s of %s: %s payments, %s returns",
        path,
        agency,
        len(fresh),
        len(new_returns),
    )
    return AgencyReportResult(agency, path, len(fresh), len(new_returns), known)


def _header_problems(
    path: str, header: tuple[str, ...], problems: list[Problem]
) -> list[str]:
    """Problems of the header; the required columns it lacks."""
    missing = [name for name in _REQUIRED if name not in header]
    for name in missing:
        message = f"the header has no column `{name}`, which every row of a report "
        message += "needs" + did_you_mean(name, header)
        problems.append(Problem(path, message, row=1))
    for name in header:
        if name not in REPORT_COLUMNS:
            message = "is not a column of an agency report (expected "
            message += f"{one_of(REPORT_COLUMNS)}){did_you_mean(name, REPORT_COLUMNS)}"
            problems.append(Problem(path, message, row=1, column=name))
    return missing


def _check_rows(
    conn: sqlite3.Connection,
    path: str,
    source: Source,
    agency: str,
    handovers: dict[str, _Handover],
    problems: list[Problem],
) -> list[_Line]:
    """Check every row on its own and against the store; the rows that passed."""
    header: tuple[str, ...] = source.header
    at = {name: header.index(name) for name in REPORT_COLUMNS if name in header}
    dates, amounts = DateParser(None), AmountParser()
    returned_on: dict[str, int] = {}

    lines: list[_Line] = []
    for row, _, values in source.rows:
        found: list[Problem] = []
        cells = {name: values[at[name]].strip() if name in at else "" for name in at}
        cells.update({name: "" for name in REPORT_COLUMNS if name not in at})

        def bad(
            name: str,
            message: str,
            found: list[Problem] = found,
            row: int = row,
            cells: dict[str, str] = cells,
        ) -> None:
            found.append(Problem(path, message, row, name, cells[name]))

        claim = cells["claim_id"]
        handover = handovers.get(claim)
        if not claim:
            bad("claim_id", "is empty, but every row needs the claim it reports on")
        elif handover is None:
            bad("claim_id", _not_handed_over(conn, claim, agency))

        day = ""
        try:
            day = dates(cells["date"]) if cells["date"] else ""
        except BadValue as error:
            bad("date", str(error))
        if not cells["date"]:
            bad("date", "is empty, but every row needs the day of the collection")
        elif day and handover and day < handover.on:
            message = f"{quote(day)} is before the handover of claim {quote(claim)} "
            bad("date", message + f"on {handover.on}")

        status = cells["status"]
        if status not in REPORT_STATUSES:
            shown = f"{quote(status)} is not" if status else "is empty, but needs"
            message = f"{shown} a status (expected {one_of(REPORT_STATUSES)})"
            bad("status", message + did_you_mean(status, REPORT_STATUSES))

        currency = handover.currency if handover else None
        amount = _amount(cells, status, currency, amounts, bad)
        given = cells["currency"]
        if given and currency and given != currency:
            message = f"{quote(given)} is not the currency of claim {quote(claim)} "
            bad("currency", message + f"({currency})")

        if status == RETURNED and handover and day and not found:
            if claim in returned_on:
                message = f"claim {quote(claim)} is returned twice in this report "
                bad("status", message + f"(first on row {returned_on[claim]})")
            elif handover.returned_on not in (None, day):
                message = f"claim {quote(claim)} was already returned by {agency} "
                bad("status", message + f"on {handover.returned_on}")
            returned_on.setdefault(claim, row)

        problems.extend(found)
        if not found:
            lines.append(_Line(row, claim, day, status, amount, cells["note"]))
    return lines


def _not_handed_over(conn: sqlite3.Connection, claim: str, agency: str) -> str:
    """Why a claim cannot be in this agency's report."""
    if not conn.execute("SELECT 1 FROM claims WHERE id = ?", (claim,)).fetchone():
        return f"{quote(claim)} is not a known claim"
    others = [
        row[0]
        for row in conn.execute(
            "SELECT agency FROM handovers WHERE claim_id = ? ORDER BY id", (claim,)
        )
    ]
    elsewhere = f" (it was handed to {', '.join(others)})" if others else ""
    return f"claim {quote(claim)} was not handed over to {agency}{elsewhere}"


def _amount(
    cells: dict[str, str],
    status: str,
    currency: str | None,
    amounts: AmountParser,
    bad: Any,
) -> Decimal | None:
    """The collected amount of a row, checked; None when there is none."""
    text = cells["collected_amount"]
    if not text:
        if status == COLLECTED:
            bad("collected_amount", "is empty, but a `collected` row needs the amount")
        return None
    try:
        amount = Decimal(amounts(text))
    except BadValue as error:
        bad("collected_amount", str(error))
        return None
    if amount < 0 or (amount == 0 and status == COLLECTED):
        bad("collected_amount", f"{quote(text)} is not more than zero")
        return None
    if currency and (message := too_precise(format(amount, "f"), currency)):
        bad("collected_amount", message)
    return amount or None


def _payment_ids(agency: str, lines: list[_Line]) -> list[tuple[_Line, str]]:
    """A payment id for each row with money: the agency, claim and day, and a
    digest of the row's values and how often the same values came before."""
    seen: Counter[tuple[str, str, str]] = Counter()
    paid = []
    for line in lines:
        if line.amount is None:
            continue
        values = (line.claim, line.date, format(line.amount.normalize(), "f"))
        seen[values] += 1
        text = "\x1f".join((agency, *values, str(seen[values])))
        digest = hashlib.sha256(text.encode()).hexdigest()[:10]
        paid.append((line, f"agency:{agency}:{line.claim}:{line.date}:{digest}"))
    return paid


def _existing_payments(conn: sqlite3.Connection, ids: list[str]) -> set[str]:
    """The payment ids among these that are already stored."""
    found = conn.execute(
        "SELECT id FROM payments WHERE id IN (SELECT value FROM json_each(?))",
        (json.dumps(ids),),
    )
    return {row[0] for row in found}


def _check_totals(
    conn: sqlite3.Connection,
    path: str,
    agency: str,
    fresh: list[tuple[_Line, str]],
    handovers: dict[str, _Handover],
    problems: list[Problem],
) -> None:
    """An agency collects at most what it was handed: principal, fees, interest."""
    totals: dict[str, Decimal] = {}
    prefix = f"agency:{agency}:"
    for line, _ in fresh:
        if line.claim not in totals:
            before = conn.execute(
                "SELECT amount FROM payments WHERE claim_id = ? "
                "AND substr(id, 1, ?) = ?",
                (line.claim, len(prefix), prefix),
            )
            totals[line.claim] = sum((Decimal(r[0]) for r in before), Decimal(0))
        assert line.amount is not None
        totals[line.claim] += line.amount
        handover = handovers[line.claim]
        if totals[line.claim] > handover.total:
            currency = handover.currency
            message = f"the amounts {agency} collected on claim {quote(line.claim)} "
            message += f"come to {money_text(Money(totals[line.claim], currency))} "
            message += f"{currency} with this row, more than the "
            message += f"{money_text(Money(handover.total, currency))} {currency} "
            message += "handed over (principal, fees and interest)"
            value = format(line.amount, "f")
            problems.append(Problem(path, message, line.row, "collected_amount", value))


def _record_return(
    conn: sqlite3.Connection,
    agency: str,
    line: _Line,
    handover_id: int,
    path: str,
    stamp: str,
) -> None:
    """The `agency_returned` event, the handover marked returned, the claim's
    agency cleared; each change audited."""
    outcome = f"returned: {line.note}" if line.note else "returned as uncollectable"
    conn.execute(
        "INSERT INTO events (id, claim_id, kind, happened_on, reason, actor) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            f"agency-returned:{agency}:{line.claim}",
            line.claim,
            RETURNED_EVENT,
            line.date,
            f"{agency}: {line.note or 'returned as uncollectable'}",
            f"agency {agency}",
        ),
    )
    conn.execute(
        "UPDATE handovers SET returned_on = ?, outcome = ? WHERE id = ?",
        (line.date, outcome, handover_id),
    )
    source = f"{path}:{line.row}"
    audit = (
        "INSERT INTO audit_changes (recorded_at, actor, table_name, row_id, field, "
        "old_value, new_value, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    )
    actor = f"agency {agency}"
    for field, value in (("returned_on", line.date), ("outcome", outcome)):
        conn.execute(
            audit,
            (stamp, actor, "handovers", str(handover_id), field, None, value, source),
        )
    old = conn.execute(
        "SELECT agency FROM claims WHERE id = ?", (line.claim,)
    ).fetchone()
    conn.execute("UPDATE claims SET agency = NULL WHERE id = ?", (line.claim,))
    conn.execute(
        audit, (stamp, actor, "claims", line.claim, "agency", old[0], None, source)
    )

"""Input that must be refused: amounts, currencies, event kinds, damaged files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli.main import cli

CUSTOMERS = "id,name\nK1,Alpha\nK2,Beta\n"
CLAIMS = "id,customer_id,kind,currency,amount,issue_date,due_date\n"
POLICY = (
    'policy "P" version "1"\ngroup all otherwise\nmeasure note = letter "note"\n'
    "dunning all\n  current -> done after 14 days overdue do note\n  terminal done\n"
)


def _setup(tmp_path: Path) -> str:
    """A database with customers K1, K2 and claim B1 (100.00 EUR of K1)."""
    db = str(tmp_path / "d.db")
    (tmp_path / "k.csv").write_text(CUSTOMERS, encoding="utf-8")
    claims = CLAIMS + "B1,K1,invoice,EUR,100.00,2025-01-01,2025-01-31\n"
    (tmp_path / "c.csv").write_text(claims, encoding="utf-8")
    runner = CliRunner()
    assert (
        runner.invoke(
            cli, ["import", "customers", str(tmp_path / "k.csv"), "--db", db]
        ).exit_code
        == 0
    )
    assert (
        runner.invoke(
            cli, ["import", "claims", str(tmp_path / "c.csv"), "--db", db]
        ).exit_code
        == 0
    )
    return db


def _import(tmp_path: Path, db: str, kind: str, text: str) -> tuple[int, str]:
    path = tmp_path / "in.csv"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["import", kind, str(path), "--db", db])
    return result.exit_code, result.output.replace(str(path), "in.csv")


def test_unknown_currency_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    """`EUX` is no currency; the closest known code is EUR."""
    db = _setup(tmp_path)
    code, output = _import(
        tmp_path,
        db,
        "claims",
        CLAIMS + "B2,K1,invoice,EUX,1.00,2025-01-01,2025-01-31\n",
    )
    assert code == 1
    assert (
        "in.csv:2: column `currency`: `EUX` is not a known currency code; did you mean EUR?"
        in output
    )


def test_a_dunned_claim_keeps_its_customer_and_currency(tmp_path: Path) -> None:
    """After a run B1 has a state, so K2/USD are refused and nothing changes."""
    db = _setup(tmp_path)
    (tmp_path / "p.dun").write_text(POLICY, encoding="utf-8")
    run = CliRunner().invoke(
        cli,
        [
            "run",
            "--policy",
            str(tmp_path / "p.dun"),
            "--as-of",
            "2025-03-01",
            "--db",
            db,
        ],
    )
    assert run.exit_code == 0

    code, output = _import(
        tmp_path,
        db,
        "claims",
        CLAIMS + "B1,K2,invoice,USD,100.00,2025-01-01,2025-01-31\n",
    )

    assert code == 1
    assert (
        "in.csv:2: column `currency`: claim `B1` is being dunned in EUR for customer `K1`; a claim's currency cannot change"
        in output
    )
    assert "in.csv:2: column `customer_id`: claim `B1` is being dunned in EUR" in output


def test_payment_events_and_too_large_promises_are_refused(tmp_path: Path) -> None:
    """A payment belongs in the payments file; 1000 is more than B1's 100.00."""
    db = _setup(tmp_path)
    text = "id,claim_id,kind,happened_on,until,amount\n"
    text += (
        "E1,B1,payment,2025-02-01,,50\nE2,B1,promise_given,2025-02-01,2025-03-01,1000\n"
    )

    code, output = _import(tmp_path, db, "events", text)

    assert code == 1
    assert "in.csv:2: column `kind`: `payment` is not imported as an event" in output
    assert "dunning import payments FILE" in output
    assert (
        "in.csv:3: column `amount`: `1000` is more than claim `B1` still owes (100.00 EUR)"
        in output
    )


def test_credit_amounts_are_checked_and_printed_with_decimals(tmp_path: Path) -> None:
    """1e3 and 10^20 are usage errors; 150 is shown as 150.00 EUR."""
    db = _setup(tmp_path)
    base = ["credit", "--customer", "K1", "--on", "2025-02-01", "--db", db]
    runner = CliRunner()

    exponent = runner.invoke(cli, [*base, "--amount", "1e3"])
    huge = runner.invoke(cli, [*base, "--amount", "99999999999999999999"])
    currency = runner.invoke(cli, [*base, "--amount", "5", "--currency", "XYZ"])
    fine = runner.invoke(cli, [*base, "--amount", "150"])

    assert exponent.exit_code == 2 and "'1e3' is not an amount" in exponent.output
    assert huge.exit_code == 2 and "is too large" in huge.output
    assert (
        currency.exit_code == 2
        and "`XYZ` is not a known currency code" in currency.output
    )
    assert fine.exit_code == 0
    assert (
        fine.output
        == "credit CR-K1-1 of customer K1: 150.00 EUR (unapplied payment) received 2025-02-01\n"
    )


def test_promise_amount_not_a_number_is_a_usage_error(tmp_path: Path) -> None:
    """NaN is not an amount: exit 2 naming --amount."""
    db = _setup(tmp_path)
    result = CliRunner().invoke(
        cli, ["promise", "B1", "--amount", "NaN", "--until", "2025-04-01", "--db", db]
    )
    assert result.exit_code == 2
    assert "Invalid value for '--amount': 'NaN' is not an amount" in result.output


def test_a_truncated_database_is_reported_as_damaged(tmp_path: Path) -> None:
    """A cut-off SQLite file: restore it from a backup, not start over."""
    db = _setup(tmp_path)
    damaged = tmp_path / "cut.db"
    damaged.write_bytes(Path(db).read_bytes()[:20000])

    result = CliRunner().invoke(
        cli,
        [
            "credit",
            "--customer",
            "K1",
            "--amount",
            "5",
            "--on",
            "2025-02-01",
            "--db",
            str(damaged),
        ],
    )

    assert result.exit_code == 1
    assert "the dunning database is damaged" in result.output
    assert "Restore it from a backup" in result.output


def test_run_takes_a_base_rate_table(tmp_path: Path) -> None:
    """An unreadable --base-rates table stops the run before it starts (exit 1)."""
    db = _setup(tmp_path)
    (tmp_path / "p.dun").write_text(POLICY, encoding="utf-8")
    (tmp_path / "rates.csv").write_text("nonsense\n", encoding="utf-8")

    result = CliRunner().invoke(
        cli,
        [
            "run",
            "--policy",
            str(tmp_path / "p.dun"),
            "--as-of",
            "2025-03-01",
            "--base-rates",
            str(tmp_path / "rates.csv"),
            "--db",
            db,
        ],
    )

    assert result.exit_code == 1
    assert "base rates not loaded" in result.output


def test_a_promise_ending_before_the_last_run_is_refused(tmp_path: Path) -> None:
    """The last run stood on 2025-03-01; a promise until 2025-02-28 would be
    broken at once, so it is refused and nothing is recorded."""
    db = _setup(tmp_path)
    (tmp_path / "p.dun").write_text(POLICY, encoding="utf-8")
    runner = CliRunner()
    run = runner.invoke(
        cli,
        [
            "run",
            "--policy",
            str(tmp_path / "p.dun"),
            "--as-of",
            "2025-03-01",
            "--db",
            db,
        ],
    )
    assert run.exit_code == 0

    result = runner.invoke(
        cli,
        [
            "promise",
            "B1",
            "--amount",
            "50.00",
            "--until",
            "2025-02-28",
            "--on",
            "2025-02-20",
            "--db",
            db,
        ],
    )

    assert result.exit_code == 1
    assert result.output == (
        "Error: the promise ends on 2025-02-28, before the last run (2025-03-01); "
        "it would count as broken at once: give an end date on or after 2025-03-01\n"
    )


def _damage_claims(db: str) -> None:
    """Overwrite the page that holds the claims with noise; the schema stays."""
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (page,) = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'claims'"
        ).fetchone()
        (size,) = conn.execute("PRAGMA page_size").fetchone()
    conn.close()
    with open(db, "r+b") as file:
        file.seek((page - 1) * size)
        file.write(bytes(range(256)) * (size // 256))


@pytest.mark.parametrize(
    "arguments",
    [
        ["run", "--policy", "{tmp}/p.dun", "--as-of", "2025-02-20"],
        ["why", "B1", "--policy", "{tmp}/p.dun"],
        ["history", "B1", "--policy", "{tmp}/p.dun"],
        ["import", "claims", "{tmp}/c.csv"],
    ],
    ids=["run", "why", "history", "import"],
)
def test_a_damaged_page_of_claims_is_reported_with_the_database(
    tmp_path: Path, arguments: list[str]
) -> None:
    """Damage beyond the schema: exit 1 naming the file, no traceback."""
    db = _setup(tmp_path)
    (tmp_path / "p.dun").write_text(POLICY, encoding="utf-8")
    _damage_claims(db)

    result = CliRunner().invoke(
        cli, [*(a.format(tmp=tmp_path) for a in arguments), "--db", db]
    )

    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert f"Error: {db}: the dunning database is damaged (SQLite says: " in (
        result.output
    )
    assert "Restore the database from a backup" in result.output


def test_an_empty_file_is_no_database_to_run_on(tmp_path: Path) -> None:
    """`run` needs a dunning database: an empty file is refused, and stays empty."""
    (tmp_path / "p.dun").write_text(POLICY, encoding="utf-8")
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")

    result = CliRunner().invoke(
        cli,
        [
            "run",
            *("--policy", str(tmp_path / "p.dun")),
            *("--as-of", "2025-02-20", "--db", str(empty)),
        ],
    )

    assert result.exit_code == 1
    assert f"Error: {empty}: an empty file, not a dunning database; import data " in (
        result.output
    )
    assert empty.read_bytes() == b""

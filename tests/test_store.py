"""The database file across versions: migration keeps data, audit tables stay append-only."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from engine.store import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION, Store, unwritable


def _version_1_file(path: Path) -> None:
    """A database exactly as version 1 of the schema wrote it, with one customer."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    MIGRATIONS[1](conn)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO customers (id, name) VALUES ('C1', 'Kaya GmbH')")
    conn.execute(
        "INSERT INTO claims (id, customer_id, currency, amount, open_amount, "
        "issue_date, due_date) VALUES ('I1', 'C1', 'EUR', '100.00', '100.00', "
        "'2026-01-01', '2026-01-31')"
    )
    conn.execute("COMMIT")
    conn.close()


def test_a_version_1_database_is_migrated_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    _version_1_file(path)

    with Store.open(path) as store:
        assert store.schema_version == SCHEMA_VERSION == 2
        assert store.conn.execute("SELECT name FROM customers").fetchall() == [
            ("Kaya GmbH",)
        ]
        claim = store.conn.execute(
            "SELECT id, open_amount, interest, promise_until FROM claims"
        ).fetchone()
        assert claim == ("I1", "100.00", None, None)
        tables = {
            row[0]
            for row in store.conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            )
        }
        assert {
            "charges",
            "deliveries",
            "handovers",
            "holds",
            "instalments",
            "credits",
            "skips",
        } <= tables


@pytest.mark.parametrize("table", ["deliveries", "skips"])
def test_new_audit_tables_are_append_only(tmp_path: Path, table: str) -> None:
    with Store.open(tmp_path / "a.db") as store:
        conn = store.conn
        conn.execute("INSERT INTO customers (id) VALUES ('C1')")
        conn.execute(
            "INSERT INTO claims (id, customer_id, currency, amount, open_amount, "
            "issue_date, due_date) VALUES ('I1', 'C1', 'EUR', '1', '1', "
            "'2026-01-01', '2026-01-31')"
        )
        if table == "skips":
            conn.execute(
                "INSERT INTO skips (as_of, claim_id, customer_id, cause, detail) "
                "VALUES ('2026-02-01', 'I1', 'C1', 'hold', 'held')"
            )
        else:
            conn.execute(
                "INSERT INTO runs (as_of, started_at, status) "
                "VALUES ('2026-02-01', 'now', 'done')"
            )
            conn.execute(
                "INSERT INTO transitions (run_id, as_of, claim_id, customer_id, "
                "group_name, to_state, trigger, rule, reason, actor) VALUES "
                "(1, '2026-02-01', 'I1', 'C1', 'g', 's', 'timer', 'r', 'x', 'run')"
            )
            conn.execute(
                "INSERT INTO measures (run_id, transition_id, as_of, claim_id, "
                "customer_id, measure, kind, open_amount, currency) VALUES "
                "(1, 1, '2026-02-01', 'I1', 'C1', 'm', 'letter', '1', 'EUR')"
            )
            conn.execute(
                "INSERT INTO deliveries (measure_id, attempted_at, channel, status) "
                "VALUES (1, 'now', 'letter', 'sent')"
            )
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute(f"UPDATE {table} SET id = id")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute(f"DELETE FROM {table}")


def test_a_read_only_database_is_named_as_such(tmp_path: Path) -> None:
    """SQLite's read-only error becomes a message about permissions."""
    path = tmp_path / "r.db"
    Store.open(path).close()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError) as raised:
        conn.execute("INSERT INTO customers (id) VALUES ('C1')")
    conn.close()

    assert unwritable(raised.value) == (
        "the database cannot be written (SQLite says: attempt to write a readonly "
        "database); check that this user may write the file and its folder"
    )


def test_other_sqlite_errors_are_not_taken_for_unwritable_files(
    tmp_path: Path,
) -> None:
    """A syntax error is no permission problem: no message, the error stands."""
    conn = sqlite3.connect(tmp_path / "x.db")
    with pytest.raises(sqlite3.OperationalError) as raised:
        conn.execute("SELEC 1")
    conn.close()

    assert unwritable(raised.value) is None

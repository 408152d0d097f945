"""The SQLite store: one file holds imported data, dunning state and the audit trail.

The schema is versioned (`PRAGMA user_version`) and marked as ours
(`PRAGMA application_id`); a file that is not a dunning database, or one written
by a newer version, is refused before anything is written to it. Audit tables
are append-only: triggers in the database reject updates and deletes.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

log = logging.getLogger(__name__)

APPLICATION_ID = 0x44554E4E  # "DUNN"
SCHEMA_VERSION = 2
DEFAULT_PATH = "dunning.db"

_SCHEMA_V1 = """
CREATE TABLE customers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL DEFAULT 'business' CHECK (kind IN ('consumer', 'business')),
    segment TEXT,
    country TEXT,
    language TEXT,
    email TEXT,
    address TEXT,
    credit_limit TEXT,
    currency TEXT,
    dunning_group TEXT,
    attributes TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE claims (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    kind TEXT NOT NULL DEFAULT 'invoice',
    currency TEXT NOT NULL,
    amount TEXT NOT NULL,
    open_amount TEXT NOT NULL,
    issue_date TEXT NOT NULL,
    due_date TEXT NOT NULL,
    attributes TEXT NOT NULL DEFAULT '{}',
    group_name TEXT,
    state TEXT,
    state_since TEXT,
    hold_return TEXT,
    hold_return_since TEXT,
    next_check TEXT,
    settled_on TEXT,
    changed INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX claims_customer ON claims(customer_id);
CREATE INDEX claims_next_check ON claims(next_check) WHERE next_check IS NOT NULL;
CREATE INDEX claims_changed ON claims(issue_date) WHERE changed = 1;

CREATE TABLE payments (
    id TEXT PRIMARY KEY,
    claim_id TEXT NOT NULL REFERENCES claims(id),
    amount TEXT NOT NULL,
    currency TEXT NOT NULL,
    paid_on TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'payment' CHECK (kind IN ('payment', 'credit_note')),
    applied_run INTEGER
);
CREATE INDEX payments_pending ON payments(paid_on) WHERE applied_run IS NULL;

CREATE TABLE events (
    id TEXT PRIMARY KEY,
    claim_id TEXT REFERENCES claims(id),
    customer_id TEXT REFERENCES customers(id),
    kind TEXT NOT NULL,
    happened_on TEXT NOT NULL,
    until TEXT,
    amount TEXT,
    reason TEXT,
    actor TEXT NOT NULL DEFAULT 'import',
    applied_run INTEGER
);
CREATE INDEX events_pending ON events(happened_on) WHERE applied_run IS NULL;

CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    as_of TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL CHECK (status IN ('running', 'done')),
    replay INTEGER NOT NULL DEFAULT 0,
    policy_path TEXT,
    policy_name TEXT,
    policy_version TEXT,
    policy_digest TEXT,
    claims_evaluated INTEGER NOT NULL DEFAULT 0,
    transitions INTEGER NOT NULL DEFAULT 0,
    measures INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE transitions (
    id INTEGER PRIMARY KEY,
    run_id INTEGER REFERENCES runs(id),
    as_of TEXT NOT NULL,
    claim_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    group_name TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    trigger TEXT NOT NULL,
    rule TEXT NOT NULL,
    policy_path TEXT,
    policy_line INTEGER,
    policy_digest TEXT,
    reason TEXT NOT NULL,
    seen TEXT NOT NULL DEFAULT '{}',
    measures TEXT NOT NULL DEFAULT '[]',
    actor TEXT NOT NULL
);
CREATE INDEX transitions_claim ON transitions(claim_id);

CREATE TABLE measures (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    transition_id INTEGER NOT NULL REFERENCES transitions(id),
    as_of TEXT NOT NULL,
    claim_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    measure TEXT NOT NULL,
    kind TEXT NOT NULL,
    template TEXT,
    queue TEXT,
    agency TEXT,
    text TEXT,
    open_amount TEXT NOT NULL,
    currency TEXT NOT NULL,
    fee TEXT,
    cost TEXT,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    UNIQUE (transition_id, measure)
);
CREATE INDEX measures_claim ON measures(claim_id);
CREATE INDEX measures_status ON measures(status);

CREATE TABLE audit_changes (
    id INTEGER PRIMARY KEY,
    recorded_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    table_name TEXT NOT NULL,
    row_id TEXT NOT NULL,
    field TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT,
    source TEXT
);
CREATE INDEX audit_changes_row ON audit_changes(table_name, row_id);
"""


# Version 2: measures that do real work (charges, deliveries, agency handovers)
# and individual treatment (holds, promises, instalments, customer credits,
# skipped claims).
_SCHEMA_V2 = """
ALTER TABLE claims ADD COLUMN interest TEXT;
ALTER TABLE claims ADD COLUMN interest_since TEXT;
ALTER TABLE claims ADD COLUMN promise_until TEXT;
ALTER TABLE claims ADD COLUMN promise_amount TEXT;
ALTER TABLE claims ADD COLUMN agency TEXT;

ALTER TABLE measures ADD COLUMN channel TEXT;
ALTER TABLE measures ADD COLUMN notice TEXT;
ALTER TABLE measures ADD COLUMN sent_at TEXT;
ALTER TABLE measures ADD COLUMN document TEXT;
CREATE INDEX measures_pending ON measures(kind, status)
    WHERE status IN ('pending', 'failed');

CREATE TABLE charges (
    id INTEGER PRIMARY KEY,
    claim_id TEXT NOT NULL REFERENCES claims(id),
    customer_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('fee', 'flat_fee', 'interest')),
    measure TEXT NOT NULL DEFAULT '',
    run_id INTEGER REFERENCES runs(id),
    transition_id INTEGER REFERENCES transitions(id),
    as_of TEXT NOT NULL,
    amount TEXT NOT NULL,
    currency TEXT NOT NULL,
    open_amount TEXT NOT NULL,
    settled_on TEXT,
    basis TEXT NOT NULL,
    UNIQUE (claim_id, kind, measure)
);
CREATE INDEX charges_claim ON charges(claim_id);

CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY,
    measure_id INTEGER NOT NULL REFERENCES measures(id),
    attempted_at TEXT NOT NULL,
    channel TEXT NOT NULL,
    status TEXT NOT NULL
        CHECK (status IN ('sent', 'failed', 'undeliverable', 'done')),
    detail TEXT,
    document TEXT
);
CREATE INDEX deliveries_measure ON deliveries(measure_id);

CREATE TABLE handovers (
    id INTEGER PRIMARY KEY,
    agency TEXT NOT NULL,
    claim_id TEXT NOT NULL REFERENCES claims(id),
    customer_id TEXT NOT NULL,
    measure_id INTEGER REFERENCES measures(id),
    handed_over_on TEXT NOT NULL,
    file TEXT,
    principal TEXT NOT NULL,
    fees TEXT NOT NULL,
    interest TEXT NOT NULL,
    currency TEXT NOT NULL,
    returned_on TEXT,
    outcome TEXT,
    UNIQUE (agency, claim_id)
);

CREATE TABLE holds (
    id INTEGER PRIMARY KEY,
    claim_id TEXT REFERENCES claims(id),
    customer_id TEXT REFERENCES customers(id),
    kind TEXT NOT NULL DEFAULT 'hold'
        CHECK (kind IN ('hold', 'dispute', 'promise', 'exclusion')),
    reason TEXT NOT NULL,
    set_by TEXT NOT NULL,
    set_at TEXT NOT NULL,
    starts TEXT NOT NULL,
    until TEXT,
    released_on TEXT,
    released_by TEXT,
    release_note TEXT,
    CHECK ((claim_id IS NULL) <> (customer_id IS NULL))
);
CREATE INDEX holds_claim ON holds(claim_id) WHERE claim_id IS NOT NULL;
CREATE INDEX holds_customer ON holds(customer_id) WHERE customer_id IS NOT NULL;

CREATE TABLE instalments (
    claim_id TEXT NOT NULL REFERENCES claims(id),
    number INTEGER NOT NULL CHECK (number >= 1),
    due_date TEXT NOT NULL,
    amount TEXT NOT NULL,
    paid_amount TEXT NOT NULL DEFAULT '0',
    missed_run INTEGER REFERENCES runs(id),
    PRIMARY KEY (claim_id, number)
);

CREATE TABLE credits (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    kind TEXT NOT NULL CHECK (kind IN ('unapplied_payment', 'credit_note')),
    amount TEXT NOT NULL,
    currency TEXT NOT NULL,
    received_on TEXT NOT NULL,
    open_amount TEXT NOT NULL,
    reference TEXT
);
CREATE INDEX credits_customer ON credits(customer_id);

CREATE TABLE skips (
    id INTEGER PRIMARY KEY,
    run_id INTEGER REFERENCES runs(id),
    as_of TEXT NOT NULL,
    claim_id TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    cause TEXT NOT NULL
        CHECK (cause IN ('hold', 'dispute', 'promise', 'exclusion', 'credit',
                         'small_balance', 'not_business_day')),
    reference TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX skips_claim ON skips(claim_id);
CREATE INDEX payments_claim ON payments(claim_id);
CREATE INDEX events_promises ON events(claim_id) WHERE kind = 'promise_given';

-- The day up to which a paid claim owes interest that could not be booked
-- yet, because the base rate table did not reach that day.
ALTER TABLE claims ADD COLUMN interest_until TEXT;
CREATE INDEX claims_interest_until ON claims(interest_until)
    WHERE interest_until IS NOT NULL;
"""

_APPEND_ONLY = """
CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only: {table} rows cannot change');
END;
CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only: {table} rows are kept');
END;
"""

AUDIT_TABLES = ("transitions", "audit_changes")
AUDIT_TABLES_V2 = ("deliveries", "skips")

# Migrations from version N-1 to N, applied in one transaction each.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {}


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    """Run statements one by one, inside the caller's transaction.

    `executescript` would commit first, which breaks all-or-nothing migrations.
    """
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            conn.execute(statement)
            statement = ""


def _create_v1(conn: sqlite3.Connection) -> None:
    _run_script(conn, _SCHEMA_V1)
    for table in AUDIT_TABLES:
        _run_script(conn, _APPEND_ONLY.format(table=table))


MIGRATIONS[1] = _create_v1


def _create_v2(conn: sqlite3.Connection) -> None:
    _run_script(conn, _SCHEMA_V2)
    for table in AUDIT_TABLES_V2:
        _run_script(conn, _APPEND_ONLY.format(table=table))


MIGRATIONS[2] = _create_v2


_SQLITE_HEADER = b"SQLite format 3\x00"


def _looks_like_sqlite(path: str) -> bool:
    """Whether the file starts as an SQLite database does: then a file SQLite
    cannot read is a damaged database, not some other kind of file."""
    if path == ":memory:":
        return False
    try:
        with open(path, "rb") as handle:
            return handle.read(len(_SQLITE_HEADER)) == _SQLITE_HEADER
    except OSError:
        return False


class StoreError(Exception):
    """The database cannot be used: not ours, too new, damaged, or unwritable."""


def _size(path: str) -> int:
    """The file's size in bytes (0 for one that cannot be asked)."""
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0


def is_damage(error: sqlite3.DatabaseError) -> bool:
    """True when SQLite found the database file damaged (or not a database)."""
    name = getattr(error, "sqlite_errorname", "")
    return name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))


def unwritable(error: sqlite3.OperationalError) -> str | None:
    """What to tell the user when SQLite could not write; None for other errors."""
    name = getattr(error, "sqlite_errorname", "")
    if name.startswith("SQLITE_READONLY"):
        return (
            f"the database cannot be written (SQLite says: {error}); check that "
            "this user may write the file and its folder"
        )
    if name == "SQLITE_FULL":
        return (
            f"the disk is full (SQLite says: {error}); nothing of this command "
            "was stored; free some space and run it again"
        )
    if name.startswith("SQLITE_IOERR"):
        return (
            f"the database file could not be written (SQLite says: {error}); "
            "nothing of this command was stored; check the disk and run it again"
        )
    return None


class Store:
    """An open dunning database."""

    def __init__(self, db: sqlite_utils.Database, path: str) -> None:
        self.db = db
        self.path = path

    @property
    def conn(self) -> sqlite3.Connection:
        """The raw connection, for bulk statements on the hot path."""
        return self.db.conn

    @classmethod
    def open(cls, path: str | Path = DEFAULT_PATH, *, create: bool = True) -> Store:
        """Open (or create) a dunning database, migrating it to this version.

        Refuses, without writing anything, a file that is not an SQLite
        database, an SQLite database of another application, or one written by
        a newer version of this program.
        """
        path = str(path)
        exists = path == ":memory:" or Path(path).exists()
        if not exists and not create:
            raise StoreError(
                f"{path}: no such database; import data first "
                "(dunning import ... --db PATH) or give the path of a dunning database"
            )
        if exists and path != ":memory:" and Path(path).is_dir():
            raise StoreError(f"{path}: is a folder, not a database file")
        if exists and not create and path != ":memory:" and not _size(path):
            # SQLite would take an empty file for a new database.
            raise StoreError(
                f"{path}: an empty file, not a dunning database; import data "
                "first (dunning import ... --db PATH) or give the path of a "
                "dunning database"
            )

        try:
            conn = sqlite3.connect(path, isolation_level=None)
        except sqlite3.Error as error:
            raise StoreError(f"{path}: cannot open: {error}") from None
        try:
            application_id, version, tables = _identify(conn)
        except sqlite3.DatabaseError as error:
            conn.close()
            if getattr(error, "sqlite_errorname", "") == "SQLITE_CANTOPEN":
                # Not damage: the file or its folder cannot be used (a WAL
                # database needs to write files beside it even to read).
                raise StoreError(
                    f"{path}: cannot be opened (SQLite says: {error}); check that "
                    "this user may read and write the file and its folder"
                ) from None
            if _looks_like_sqlite(path):
                raise StoreError(
                    f"{path}: the dunning database is damaged (SQLite says: "
                    f"{error}); it was left untouched. Restore it from a backup; "
                    "do not start a new database in its place, or the claims' "
                    "history is lost"
                ) from None
            raise StoreError(
                f"{path}: not a dunning database (SQLite says: {error}); "
                "give the path of a database made by `dunning`, or a new file name"
            ) from None

        if application_id != APPLICATION_ID and (tables or application_id):
            conn.close()
            raise StoreError(
                f"{path}: an SQLite database of another program, not a dunning "
                "database; it was left untouched; give a new file name or the path "
                "of a dunning database"
            )
        if version > SCHEMA_VERSION:
            conn.close()
            raise StoreError(
                f"{path}: written by a newer version of dunning (schema {version}, "
                f"this program knows up to {SCHEMA_VERSION}); upgrade dunning"
            )

        try:
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = NORMAL")
            if path != ":memory:":
                conn.execute("PRAGMA journal_mode = WAL")
                # Fewer, larger checkpoints: a run commits many batches, and
                # each automatic checkpoint costs a sync of the database file.
                conn.execute("PRAGMA wal_autocheckpoint = 16384")
            store = cls(sqlite_utils.Database(conn), path)
            store._migrate(version)
        except sqlite3.OperationalError as error:
            conn.close()
            problem = unwritable(error)
            if problem is None:
                raise
            raise StoreError(f"{path}: {problem}; it was left as it was") from None
        return store

    def _migrate(self, version: int) -> None:
        for target in range(version + 1, SCHEMA_VERSION + 1):
            log.info("migrating %s to schema version %s", self.path, target)
            with self.transaction():
                MIGRATIONS[target](self.conn)
                self.conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                self.conn.execute(f"PRAGMA user_version = {target}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All statements inside land together or not at all."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    @property
    def schema_version(self) -> int:
        """The schema version of the open file."""
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        """Close the file."""
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _identify(conn: sqlite3.Connection) -> tuple[int, int, int]:
    application_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
    ).fetchone()[0]
    return int(application_id), int(version), int(tables)

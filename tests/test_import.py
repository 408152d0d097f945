"""The importer: native files, mapping files, the IBM sample, bad rows, re-imports."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dunlang import load_policy
from engine import Claim, Customer, Engine, Payment, RecordError
from engine.importer import (
    ImportFailed,
    ImportResult,
    apply_import,
    check_file,
    import_file,
)
from engine.mapping import (
    DateParser,
    attribute_key,
    bundled_mappings,
    load_mapping,
    too_precise,
)
from engine.store import Store

from .conftest import POLICIES, eur

IBM = "ibm-late-payment-histories/WA_Fn-UseC_-Accounts-Receivable.csv"
NOON = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)

CUSTOMERS = """\
id,name,kind,segment,country,language,email,address,credit_limit,currency,dunning_group
C1,Alpha GmbH,business,key,DE,de,ap@alpha.example,"Hauptstr. 1, 10115 Berlin",5000.00,EUR,
C2,Bea Bauer,consumer,retail,AT,de,,,,,
"""
CLAIMS = """\
id,customer_id,kind,currency,amount,issue_date,due_date
I1,C1,invoice,EUR,100.00,2025-01-02,2025-02-01
I2,C1,,EUR,60.50,2025-01-10,2025-01-24
I3,C2,instalment,EUR,19.99,2025-02-01,2025-02-15
"""
PAYMENTS = """\
id,claim_id,amount,currency,paid_on,kind
P1,I1,40.00,EUR,2025-02-10,payment
P2,I2,60.50,EUR,2025-01-20,
"""
EVENTS = """\
id,claim_id,customer_id,kind,happened_on,until,amount,reason
E1,I1,C1,promise_given,2025-02-05,2025-02-28,60.00,will pay at month end
E2,,C2,hold_set,2025-02-03,,,customer in hospital
"""


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """An empty dunning database in a temporary folder."""
    return Store.open(tmp_path / "test.db")


def write(folder: Path, name: str, text: str, encoding: str = "utf-8") -> str:
    """Write a data file and return its path as text."""
    path = folder / name
    path.write_text(text, encoding=encoding)
    return str(path)


def rows(store: Store, sql: str) -> list[tuple[object, ...]]:
    """All rows of a query."""
    return store.conn.execute(sql).fetchall()


def dump(store: Store) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the tables an import writes, to compare before and after."""
    tables = ("customers", "claims", "payments", "events", "audit_changes")
    return {table: rows(store, f"SELECT * FROM {table} ORDER BY 1") for table in tables}


def load_native(store: Store, folder: Path) -> list[ImportResult]:
    """Import the four native sample files of this module."""
    texts = {"customers": CUSTOMERS, "claims": CLAIMS, "payments": PAYMENTS}
    texts["events"] = EVENTS
    return [
        import_file(store, kind, write(folder, f"{kind}.csv", text), clock=lambda: NOON)
        for kind, text in texts.items()
    ]


def problems_of(failure: pytest.ExceptionInfo[ImportFailed], folder: Path) -> list[str]:
    """The rendered problems, with the temporary folder left out."""
    return [str(p).replace(f"{folder}/", "") for p in failure.value.problems]


# ---- native files -----------------------------------------------------------


def test_native_files_land_with_their_values(store: Store, tmp_path: Path) -> None:
    """The four native files import with every value stored as written."""
    results = load_native(store, tmp_path)

    assert [(r.kind, r.new, r.changed, r.unchanged) for r in results] == [
        ("customers", 2, 0, 0),
        ("claims", 3, 0, 0),
        ("payments", 2, 0, 0),
        ("events", 2, 0, 0),
    ]
    assert rows(store, "SELECT * FROM customers ORDER BY id") == [
        ("C1", "Alpha GmbH", "business", "key", "DE", "de", "ap@alpha.example",
         "Hauptstr. 1, 10115 Berlin", "5000.00", "EUR", None, "{}"),
        ("C2", "Bea Bauer", "consumer", "retail", "AT", "de", None, None, None, None,
         None, "{}"),
    ]  # fmt: skip
    assert rows(store, "SELECT id, customer_id, kind, currency, amount, open_amount, "
                "issue_date, due_date, attributes, state, changed FROM claims") == [
        ("I1", "C1", "invoice", "EUR", "100.00", "100.00", "2025-01-02", "2025-02-01",
         "{}", None, 1),
        ("I2", "C1", "invoice", "EUR", "60.50", "60.50", "2025-01-10", "2025-01-24",
         "{}", None, 1),
        ("I3", "C2", "instalment", "EUR", "19.99", "19.99", "2025-02-01", "2025-02-15",
         "{}", None, 1),
    ]  # fmt: skip
    assert rows(store, "SELECT * FROM payments ORDER BY id") == [
        ("P1", "I1", "40.00", "EUR", "2025-02-10", "payment", None),
        ("P2", "I2", "60.50", "EUR", "2025-01-20", "payment", None),
    ]
    assert rows(store, "SELECT * FROM events ORDER BY id") == [
        ("E1", "I1", "C1", "promise_given", "2025-02-05", "2025-02-28", "60.00",
         "will pay at month end", "import", None),
        ("E2", None, "C2", "hold_set", "2025-02-03", None, None, "customer in hospital",
         "import", None),
    ]  # fmt: skip
    assert rows(store, "SELECT count(*) FROM audit_changes") == [(0,)]


def test_json_list_and_json_lines_give_the_same_rows(tmp_path: Path) -> None:
    """A JSON list and JSON lines import exactly like the CSV file."""
    objects = [
        {"id": "C1", "name": "Alpha", "credit_limit": 5000.5, "currency": "EUR"},
        {"id": "C2", "name": "Bea", "kind": "consumer", "vip": True, "note": None},
    ]
    listing = write(tmp_path, "customers.json", json.dumps(objects, indent=2))
    lines = write(tmp_path, "customers.jsonl", "\n".join(map(json.dumps, objects)))
    text = "id,name,kind,credit_limit,currency,vip,note\n"
    text += "C1,Alpha,,5000.5,EUR,,\nC2,Bea,consumer,,,true,\n"
    table = write(tmp_path, "customers.csv", text)

    found = []
    for number, path in enumerate((listing, lines, table)):
        store = Store.open(tmp_path / f"{number}.db")
        assert import_file(store, "customers", path).new == 2
        found.append(rows(store, "SELECT * FROM customers ORDER BY id"))
    assert found[0] == found[1] == found[2]
    assert found[0][1][-1] == '{"vip": "true", "note": null}'
    assert found[0][0][8] == "5000.5"


def test_extra_columns_become_attributes_with_identifier_names(
    store: Store, tmp_path: Path
) -> None:
    """Columns that are no field are kept as text under a lower-case name."""
    write(tmp_path, "customers.csv", "id,countryCode\nC1,391\n")
    import_file(store, "customers", str(tmp_path / "customers.csv"))
    text = (
        "id,customer_id,currency,amount,issue_date,due_date,PaperlessBill,Days Late\n"
    )
    text += "I1,C1,USD,55.94,2013-01-02,2013-02-01,Paper,0\n"
    import_file(store, "claims", write(tmp_path, "claims.csv", text))

    assert rows(store, "SELECT attributes FROM customers") == [
        ('{"country_code": "391"}',)
    ]
    assert rows(store, "SELECT attributes FROM claims") == [
        ('{"paperless_bill": "Paper", "days_late": "0"}',)
    ]


@pytest.mark.parametrize(
    ("column", "key"),
    [
        ("PaperlessBill", "paperless_bill"),
        ("countryCode", "country_code"),
        ("customerID", "customer_id"),
        ("HTTPStatus", "http_status"),
        ("Days To Settle", "days_to_settle"),
        ("invoice-no.", "invoice_no"),
        ("2nd Reminder", "_2nd_reminder"),
        ("%%", ""),
    ],
)
def test_attribute_names(column: str, key: str) -> None:
    """Column names become identifiers a policy can write after `claim.`."""
    assert attribute_key(column) == key


# ---- mapping files ----------------------------------------------------------

MAPPING = """\
date_format = "%d.%m.%Y"
decimal_separator = ","
thousands_separator = "."
delimiter = ";"
encoding = "cp1252"

[claims]
columns = { id = "Beleg", customer_id = "Kunde", amount = "Betrag", issue_date = "Datum", due_date = "Fällig", kind = "Art" }
constants = { currency = "EUR" }
values = { kind = { "Rechnung" = "invoice", "Rate" = "instalment" } }
attributes = ["Mahnsperre"]
"""  # noqa: E501


def test_a_mapping_renames_columns_and_reads_local_numbers(
    store: Store, tmp_path: Path
) -> None:
    """Columns, constants, separators, date format, encoding and value
    translation of a mapping file all apply."""
    import_file(store, "customers", write(tmp_path, "customers.csv", "id\nK-7\n"))
    mapping_file = write(tmp_path, "erp.toml", MAPPING)
    text = "Beleg;Kunde;Art;Betrag;Datum;Fällig;Mahnsperre;Notiz\n"
    text += "R-001;K-7;Rechnung;1.234,50;31.01.2025;2.3.2025;ja;Grüße\n"
    text += "R-002;K-7;Rate;99,9;1.2.2025;15.02.2025;;\n"
    path = write(tmp_path, "belege.csv", text, encoding="cp1252")

    import_file(store, "claims", path, mapping=load_mapping(mapping_file))

    assert rows(store, "SELECT id, customer_id, kind, currency, amount, open_amount, "
                "issue_date, due_date, attributes FROM claims ORDER BY id") == [
        ("R-001", "K-7", "invoice", "EUR", "1234.50", "1234.50", "2025-01-31",
         "2025-03-02", '{"mahnsperre": "ja"}'),
        ("R-002", "K-7", "instalment", "EUR", "99.9", "99.9", "2025-02-01",
         "2025-02-15", '{"mahnsperre": null}'),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[claim]\ncolumns = { id = "No" }\n',
            "m.toml: claim: is neither a kind of data nor a setting; did you mean "
            "`claims`?",
        ),
        (
            '[claims]\ncolumns = { id = "No", customer = "Cust", currency = "Cur", '
            'amount = "A", issue_date = "I", due_date = "D" }\n',
            "m.toml: [claims] columns.customer: is not a claim field; did you mean "
            "`customer_id`? (claim fields: id, customer_id, kind, currency, amount, "
            "issue_date, due_date)\n"
            "m.toml: [claims] columns: no source for the required field "
            "`customer_id`; name its column here or give it in `constants`",
        ),
        (
            '[payments]\ncolumns = { id = "No", claim_id = "No", amount = "A", '
            'currency = "C" }\n',
            "m.toml: [payments] columns: no source for the required field `paid_on`; "
            "name its column here or give it in `constants`",
        ),
        (
            '[payments]\ncolums = { id = "No" }\n',
            "m.toml: [payments] colums: is not a mapping key; did you mean `columns`? "
            "(keys: columns, constants, values, attributes, date_attributes, "
            "date_format, decimal_separator, thousands_separator, delimiter, "
            "encoding, format)\n"
            "m.toml: [payments] columns: is missing; name the column of id, "
            "claim_id, amount, currency, paid_on",
        ),
        (
            'date_format = "%m/%d"\n[customers]\ncolumns = { id = "No" }\n',
            "m.toml: date_format: `%m/%d` does not name a year, a month and a day "
            '(like "%m/%d/%Y" or "%d.%m.%Y")',
        ),
        (
            '[customers]\ncolumns = { id = "No" }\nconstants = { id = "X" }\n',
            "m.toml: [customers] constants.id: is also given in `columns`; keep one "
            "of them",
        ),
        (
            "[customers]\ncolumns = { id = 7 }\n",
            "m.toml: [customers] columns.id: must be text in quotes",
        ),
        (
            "[customers]\ncolumns = 5\n",
            "m.toml: [customers] columns: must be a table of names to text, like "
            '`{ id = "Number" }`',
        ),
        (
            "[claims\n",
            "m.toml: is not valid TOML (Expected ']' at the end of a table "
            "declaration (at line 1, column 8))",
        ),
        (
            'decimal_separator = ","\nthousands_separator = ","\n[customers]\n'
            'columns = { id = "No" }\n',
            "m.toml: thousands_separator: `,` is also the `decimal_separator`; one "
            "character cannot be both, as `1,234` could be read two ways",
        ),
        (
            '[customers]\ncolumns = { id = "No" }\nthousands_separator = "."\n',
            "m.toml: [customers] thousands_separator: `.` is also the decimal "
            "separator (the default of `decimal_separator`); one character cannot be "
            "both, as `1.234` could be read two ways",
        ),
        (
            'decimal_separator = ","\n[customers]\ncolumns = { id = "No" }\n'
            'thousands_separator = ","\n',
            "m.toml: [customers] thousands_separator: `,` is also the "
            "`decimal_separator` at the top of the file; one character cannot be "
            "both, as `1,234` could be read two ways",
        ),
        (
            'thousands_separator = "."\ndecimal_separator = ","\n[customers]\n'
            'columns = { id = "No" }\ndecimal_separator = "."\n',
            "m.toml: [customers] decimal_separator: `.` is also the "
            "`thousands_separator` at the top of the file; one character cannot be "
            "both, as `1.234` could be read two ways",
        ),
    ],
)
def test_mapping_file_errors_name_the_file_and_the_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    """A broken mapping file is refused with the key that is wrong."""
    path = write(tmp_path, "m.toml", text)

    with pytest.raises(ImportFailed) as failure:
        load_mapping(path)

    assert "\n".join(problems_of(failure, tmp_path)) == expected


def test_a_table_may_override_separators_the_top_level_would_clash_on(
    tmp_path: Path,
) -> None:
    """A top-level thousands separator equal to the default decimal separator is
    no clash when every table names its own decimal separator."""
    text = 'thousands_separator = "."\n[customers]\ncolumns = { id = "No" }\n'
    text += 'decimal_separator = ","\n'

    mapping = load_mapping(write(tmp_path, "m.toml", text))

    table = mapping.tables["customers"]
    assert (table.decimal_separator, table.thousands_separator) == (",", ".")


def test_digits_grouped_by_an_undeclared_separator_are_refused(
    store: Store, tmp_path: Path
) -> None:
    """With `.` as decimal separator and no thousands separator, `5,001` is no
    amount: it is not read as 5001, nor as 5.001."""
    load_native(store, tmp_path)
    mapping = write(tmp_path, "m.toml", """\
decimal_separator = "."
[payments]
columns = { id = "No", claim_id = "Invoice", amount = "Paid", paid_on = "On" }
constants = { currency = "EUR" }
""")  # fmt: skip
    text = 'No,Invoice,Paid,On\nP8,I1,"5,001",2025-03-01\nP9,I1,",",2025-03-01\n'
    path = write(tmp_path, "p.csv", text)

    with pytest.raises(ImportFailed) as failure:
        import_file(store, "payments", path, mapping=load_mapping(mapping))

    assert problems_of(failure, tmp_path) == [
        "p.csv:2: column `Paid`: `5,001` is not an amount (expected digits with `.` "
        "as decimal separator, like 1234.56)",
        "p.csv:3: column `Paid`: `,` is not an amount (expected digits with `.` as "
        "decimal separator, like 1234.56)",
    ]


def test_a_mapped_column_missing_from_the_header_is_named(
    store: Store, tmp_path: Path
) -> None:
    """The mapping names a column the file lacks: mapping file, key, column and
    the closest header column are named."""
    mapping = write(
        tmp_path, "m.toml", '[customers]\ncolumns = { id = "customerId" }\n'
    )
    path = write(tmp_path, "c.csv", "customerID,countryCode\nX,1\n")

    with pytest.raises(ImportFailed) as failure:
        import_file(store, "customers", path, mapping=load_mapping(mapping))

    assert problems_of(failure, tmp_path) == [
        "m.toml: [customers] columns.id: column `customerId` is not in the header of "
        "c.csv; did you mean `customerID`?"
    ]


def test_bundled_mappings_load_by_name(tmp_path: Path) -> None:
    """`ibm-late-payment-histories` finds the bundled file; a typo is suggested."""
    assert "ibm-late-payment-histories" in bundled_mappings()
    mapping = load_mapping("ibm-late-payment-histories")
    assert mapping.source == "mappings/ibm-late-payment-histories.toml"
    assert list(mapping.tables) == ["customers", "claims", "payments"]
    assert mapping.tables["claims"].constants == {"currency": "EUR", "kind": "invoice"}
    assert mapping.tables["payments"].constants == {
        "currency": "EUR",
        "kind": "payment",
    }

    with pytest.raises(ImportFailed) as failure:
        load_mapping("ibm-late-payment-history")
    assert str(failure.value) == (
        "ibm-late-payment-history: no such mapping file, and no bundled mapping of "
        "that name; did you mean `ibm-late-payment-histories`? (bundled: "
        "ibm-late-payment-histories)"
    )


# ---- the IBM sample ---------------------------------------------------------


def test_ibm_sample_imports_unchanged(store: Store, shared_data: Path) -> None:
    """The IBM file gives 100 customers, 2,466 claims and 2,466 payments whose
    totals match the published 147,703.18."""
    path = str(shared_data / IBM)
    mapping = load_mapping("ibm-late-payment-histories")

    results = [
        import_file(store, kind, path, mapping=mapping)
        for kind in ("customers", "claims", "payments")
    ]

    assert [(r.new, r.repeated) for r in results] == [(100, 2366), (2466, 0), (2466, 0)]
    claims = rows(store, "SELECT amount, open_amount, currency FROM claims")
    payments = rows(store, "SELECT amount, currency FROM payments")
    assert sum(Decimal(str(amount)) for amount, _, _ in claims) == Decimal("147703.18")
    assert sum(Decimal(str(amount)) for amount, _ in payments) == Decimal("147703.18")
    assert {currency for _, _, currency in claims} == {"EUR"}
    assert {currency for _, currency in payments} == {"EUR"}


def test_ibm_sample_rows_read_by_hand(store: Store, shared_data: Path) -> None:
    """Two invoices of the file, checked field by field against the CSV text."""
    path = str(shared_data / IBM)
    mapping = load_mapping("ibm-late-payment-histories")
    apply_import(store, check_file(path, ["customers", "claims", "payments"], mapping))

    # 391,0379-NEVHP,4/6/2013,0000611365,1/2/2013,2/1/2013,55.94,No,1/15/2013,Paper,..
    assert rows(store, "SELECT * FROM customers WHERE id = '0379-NEVHP'") == [
        ("0379-NEVHP", "", "business", None, "391", None, None, None, None, None, None,
         '{"paperless_date": "2013-04-06"}'),
    ]  # fmt: skip
    assert rows(store, "SELECT id, customer_id, kind, currency, amount, issue_date, "
                "due_date, attributes FROM claims WHERE id = '0000611365'") == [
        ("0000611365", "0379-NEVHP", "invoice", "EUR", "55.94", "2013-01-02",
         "2013-02-01", '{"disputed": "No", "paperless_bill": "Paper"}'),
    ]  # fmt: skip
    assert rows(store, "SELECT * FROM payments WHERE id = '0000611365'") == [
        ("0000611365", "0000611365", "55.94", "EUR", "2013-01-15", "payment", None),
    ]
    # 406,8976-AMJEO,3/3/2012,0007900770,1/26/2013,2/25/2013,61.74,Yes,3/3/2013,Electronic
    assert rows(store, "SELECT c.amount, c.due_date, c.attributes, p.paid_on, "
                "k.country FROM claims c JOIN payments p ON p.claim_id = c.id "
                "JOIN customers k ON k.id = c.customer_id WHERE c.id = '0007900770'") == [
        ("61.74", "2013-02-25", '{"disputed": "Yes", "paperless_bill": "Electronic"}',
         "2013-03-03", "406"),
    ]  # fmt: skip


def test_ibm_sample_imports_again_without_change(
    store: Store, shared_data: Path
) -> None:
    """Importing the IBM file a second time changes nothing at all."""
    path = str(shared_data / IBM)
    mapping = load_mapping("ibm-late-payment-histories")
    kinds = ["customers", "claims", "payments"]
    apply_import(store, check_file(path, kinds, mapping))
    before = dump(store)

    again = apply_import(store, check_file(path, kinds, mapping))

    assert [(r.new, r.changed, r.unchanged) for r in again] == [
        (0, 0, 100), (0, 0, 2466), (0, 0, 2466)
    ]  # fmt: skip
    assert dump(store) == before


# ---- bad rows ---------------------------------------------------------------

CLAIMS_HEADER = "id,customer_id,kind,currency,amount,issue_date,due_date\n"


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            "I9,C1,invoice,EUR,10.00,2025-13-01,2025-02-01",
            "column `issue_date`: `2025-13-01` is not a date (expected YYYY-MM-DD like "
            "2013-01-31)",
        ),
        (
            "I9,C1,invoice,EUR,10.00,1/2/2025,2025-02-01",
            "column `issue_date`: `1/2/2025` is not a date (expected YYYY-MM-DD like "
            "2013-01-31)",
        ),
        (
            'I9,C1,invoice,EUR,"10,00",2025-01-01,2025-02-01',
            "column `amount`: `10,00` is not an amount (expected digits with `.` as "
            "decimal separator, like 1234.56)",
        ),
        (
            "I9,C1,invoice,EUR,1e3,2025-01-01,2025-02-01",
            "column `amount`: `1e3` is not an amount (expected digits with `.` as "
            "decimal separator, like 1234.56)",
        ),
        (
            # Digits of other scripts (full-width, Arabic-Indic) are not 0-9.
            "I9,C1,invoice,EUR,\uff11\uff12.\uff15\uff10,2025-01-01,2025-02-01",
            "column `amount`: `\uff11\uff12.\uff15\uff10` is not an amount (expected "
            "digits with `.` as decimal separator, like 1234.56)",
        ),
        (
            "I9,C1,invoice,EUR,\u0663,2025-01-01,2025-02-01",
            "column `amount`: `\u0663` is not an amount (expected digits with `.` as "
            "decimal separator, like 1234.56)",
        ),
        (
            "I9,C1,invoice,€,10.00,2025-01-01,2025-02-01",
            "column `currency`: `€` is not a currency (expected 3 upper-case letters "
            "like EUR)",
        ),
        (
            "I9,C1,bill,EUR,10.00,2025-01-01,2025-02-01",
            "column `kind`: `bill` is not a claim kind (expected `invoice` or "
            "`instalment`)",
        ),
        (
            "I9,C7,invoice,EUR,10.00,2025-01-01,2025-02-01",
            "column `customer_id`: `C7` is not a known customer: it is neither in the "
            "database nor among the customers of this import",
        ),
        (
            "I9,C1,invoice,,10.00,2025-01-01,2025-02-01",
            "column `currency`: is empty, but every claim needs a currency",
        ),
        (
            "I9,C1,invoice,EUR,-10.00,2025-01-01,2025-02-01",
            "column `amount`: `-10.00` is not more than zero; the amount of a claim must "
            "be positive (a credit note is a payment of kind `credit_note`)",
        ),
        (
            "I9,C1,invoice,EUR,0.00,2025-01-01,2025-02-01",
            "column `amount`: `0.00` is not more than zero; the amount of a claim must "
            "be positive (a credit note is a payment of kind `credit_note`)",
        ),
        (
            "I9,C1,invoice,EUR,10.123456,2025-01-01,2025-02-01",
            "column `amount`: `10.123456` has more decimal places than EUR allows (2)",
        ),
        (
            "I9,C1,invoice,JPY,100.5,2025-01-01,2025-02-01",
            "column `amount`: `100.5` has more decimal places than JPY allows (0)",
        ),
        (
            "I9,C1,invoice,EUR,10.5001,2025-01-01,2025-02-01",
            "column `amount`: `10.5001` has more decimal places than EUR allows (2)",
        ),
        (
            "I9,C1,invoice,EUR,1000000000000000.01,2025-01-01,2025-02-01",
            "column `amount`: `1000000000000000.01` is too large: an amount may be at "
            "most 1000000000000000 (10^15)",
        ),
        (
            "I9,C1,invoice,EUR,2000000000000000,2025-01-01,2025-02-01",
            "column `amount`: `2000000000000000` is too large: an amount may be at "
            "most 1000000000000000 (10^15)",
        ),
        (
            "I9,C1,invoice,EUR,10.00,0001-01-01,2025-02-01",
            "column `issue_date`: `0001-01-01` is outside the dates an import accepts "
            "(1900-01-01 to 2199-12-31)",
        ),
        (
            "I9,C1,invoice,EUR,10.00,2025-01-01,9999-12-31",
            "column `due_date`: `9999-12-31` is outside the dates an import accepts "
            "(1900-01-01 to 2199-12-31)",
        ),
        (
            "I9,C1,invoice,EUR,10.00,2025-02-01,2025-01-31",
            "column `due_date`: `2025-01-31` is before the issue date 2025-02-01; a claim "
            "cannot fall due before it is issued",
        ),
        (
            "I1,C1,invoice,EUR,100.00,2025-01-02,2025-02-02",
            "column `id`: `I1` appears again with other values (first on row 2, where "
            "`due_date` is `2025-02-01`, here `2025-02-02`); an id may appear only once, "
            "or again with the same values",
        ),
        (
            "I9,C1,invoice,EUR,10.00,2025-01-01",
            "has 6 values, but the header has 7 columns",
        ),
    ],
)
def test_each_bad_claim_row_is_named_and_nothing_lands(
    store: Store, tmp_path: Path, row: str, expected: str
) -> None:
    """One bad row among good ones: its problem is reported at row 5 and not a
    single claim is imported."""
    import_file(store, "customers", write(tmp_path, "customers.csv", CUSTOMERS))
    before = dump(store)
    good = "I1,C1,invoice,EUR,100.00,2025-01-02,2025-02-01\n"
    good += (
        "I2,C1,,EUR,60.50,2025-01-10,2025-01-24\nI3,C2,,EUR,5,2025-01-01,2025-01-01\n"
    )
    path = write(tmp_path, "claims.csv", CLAIMS_HEADER + good + row + "\n")

    with pytest.raises(ImportFailed) as failure:
        import_file(store, "claims", path)

    assert problems_of(failure, tmp_path) == [f"claims.csv:5: {expected}"]
    assert dump(store) == before


def test_every_bad_row_is_reported_in_file_order(store: Store, tmp_path: Path) -> None:
    """Several bad rows: all are listed, sorted by line."""
    import_file(store, "customers", write(tmp_path, "customers.csv", CUSTOMERS))
    text = CLAIMS_HEADER + "I1,C9,invoice,EUR,1,2025-01-01,2025-01-01\n"
    text += "I2,C1,invoce,usd,x,2025-01-01,2025-01-01\n"
    text += "I3,C1,invoice,EUR,1,2025-01-01,2025-01-01\n" + ",,,,,,\n"
    text += "I4,,invoice,EUR,1,2025-01-05,2025-01-01\n"

    with pytest.raises(ImportFailed) as failure:
        import_file(store, "claims", write(tmp_path, "claims.csv", text))

    assert problems_of(failure, tmp_path) == [
        "claims.csv:2: column `customer_id`: `C9` is not a known customer: it is "
        "neither in the database nor among the customers of this import",
        "claims.csv:3: column `kind`: `invoce` is not a claim kind (expected `invoice` "
        "or `instalment`); did you mean `invoice`?",
        "claims.csv:3: column `currency`: `usd` is not a currency (expected 3 "
        "upper-case letters like EUR)",
        "claims.csv:3: column `amount`: `x` is not an amount (expected digits with "
        "`.` as decimal separator, like 1234.56)",
        "claims.csv:6: column `customer_id`: is empty, but every claim needs a customer",
        "claims.csv:6: column `due_date`: `2025-01-01` is before the issue date "
        "2025-01-05; a claim cannot fall due before it is issued",
    ]
    assert rows(store, "SELECT count(*) FROM claims") == [(0,)]


def test_bad_payment_and_event_rows(store: Store, tmp_path: Path) -> None:
    """Payments in another currency or for unknown claims, and events of an
    unknown kind, without a subject or ending before they happen, are refused."""
    load_native(store, tmp_path)
    before = dump(store)
    payments = "id,claim_id,amount,currency,paid_on\nP8,I1,5,USD,2025-03-01\n"
    payments += "P9,I404,5,EUR,2025-03-01\nP10,I1,-5,EUR,2025-03-01\n"
    events = "id,claim_id,customer_id,kind,happened_on,until\n"
    events += "E8,I1,C1,promise_brocken,2025-03-01,\nE9,,,hold_set,2025-03-01,\n"
    events += (
        "E10,I1,C1,hold_set,2025-03-01,2025-02-01\nE11,I1,C2,hold_set,2025-03-01,\n"
    )

    with pytest.raises(ImportFailed) as paid:
        import_file(store, "payments", write(tmp_path, "p.csv", payments))
    with pytest.raises(ImportFailed) as happened:
        import_file(store, "events", write(tmp_path, "e.csv", events))

    assert problems_of(paid, tmp_path) == [
        "p.csv:2: column `currency`: `USD` is not the currency of claim `I1` (EUR); a "
        "payment must be in it",
        "p.csv:3: column `claim_id`: `I404` is not a known claim: it is neither in the "
        "database nor among the claims of this import",
        "p.csv:4: column `amount`: `-5` is not more than zero; the amount of a payment "
        "must be positive",
    ]
    assert problems_of(happened, tmp_path) == [
        "e.csv:2: column `kind`: `promise_brocken` is not an event kind (expected "
        "`payment`, `partial_payment`, `credit_note`, `dispute_opened`, "
        "`dispute_resolved`, `promise_given`, `promise_kept`, `promise_broken`, "
        "`hold_set`, `hold_released`, `instalment_missed` or `agency_returned`); "
        "did you mean "
        "`promise_broken`?",
        "e.csv:3: column `claim_id`: is empty, and so is the customer; every event "
        "needs a claim or a customer",
        "e.csv:4: column `until`: `2025-02-01` is before the day of the event "
        "2025-03-01; an event cannot end before it happens",
        "e.csv:5: column `customer_id`: `C2` is not the customer of claim `I1` (C1)",
    ]
    assert dump(store) == before


def test_a_credit_note_takes_off_at_most_what_was_invoiced(
    store: Store, tmp_path: Path
) -> None:
    """I1 is 100.00: a first credit note of 30.00 is stored; of a file with
    60.00 and then 20.00 more, the 20.00 is refused (10.00 is left), and so
    is 20.00 on I3 (19.99); nothing is stored. A payment may exceed the
    claim (it pays charges or is paid back), and the stored note imported
    again counts once."""
    load_native(store, tmp_path)
    first = "id,claim_id,amount,currency,paid_on,kind\n"
    first += "N1,I1,30.00,EUR,2025-02-11,credit_note\n"
    import_file(store, "payments", write(tmp_path, "n.csv", first))
    before = dump(store)
    more = first + "N2,I1,60.00,EUR,2025-02-12,credit_note\n"
    more += "N3,I1,20.00,EUR,2025-02-13,credit_note\n"
    more += "N4,I3,20.00,EUR,2025-02-13,credit_note\n"
    more += "P5,I3,25.00,EUR,2025-02-13,payment\n"

    with pytest.raises(ImportFailed) as failure:
        import_file(store, "payments", write(tmp_path, "more.csv", more))

    assert problems_of(failure, tmp_path) == [
        "more.csv:4: column `amount`: `20.00` is more than claim `I1` can still be "
        "credited (10.00: its amount 100.00 less 90.00 credited before); a credit "
        "note takes off at most what was invoiced",
        "more.csv:5: column `amount`: `20.00` is more than claim `I3` can still be "
        "credited (19.99: its amount 19.99); a credit note takes off at most what "
        "was invoiced",
    ]
    assert dump(store) == before


def test_a_claim_cannot_go_below_its_credit_notes(store: Store, tmp_path: Path) -> None:
    """I1 (100.00) has credit notes of 60.00 and 40.00, not yet applied by a
    run: lowering it to 90.00 is refused, as 100.00 is credited."""
    load_native(store, tmp_path)
    notes = "id,claim_id,amount,currency,paid_on,kind\n"
    notes += "N1,I1,60.00,EUR,2025-02-11,credit_note\n"
    notes += "N2,I1,40.00,EUR,2025-02-12,credit_note\n"
    import_file(store, "payments", write(tmp_path, "n.csv", notes))
    before = dump(store)
    lower = CLAIMS_HEADER + "I1,C1,invoice,EUR,90.00,2025-01-02,2025-02-01\n"

    with pytest.raises(ImportFailed) as failure:
        import_file(store, "claims", write(tmp_path, "c.csv", lower))

    assert problems_of(failure, tmp_path) == [
        "c.csv:2: column `amount`: `90.00` is less than the 100.00 credited on "
        "claim `I1`; a credit note takes off at most what was invoiced"
    ]
    assert dump(store) == before


def test_a_file_without_kinds_keeps_stored_credit_notes_in_the_limit(
    store: Store, tmp_path: Path
) -> None:
    """Credit notes of 20.00, 40.00 and 40.00 on I1 (100.00); a file without a
    `kind` column raising N1 to 100.00 keeps it a credit note: 180.00 would be
    credited, so it is refused. Turning N1 into a payment of 30.00 next to a
    new credit note of 10.00 leaves 90.00 credited, which fits."""
    load_native(store, tmp_path)
    notes = "id,claim_id,amount,currency,paid_on,kind\n"
    notes += "N1,I1,20.00,EUR,2025-02-11,credit_note\n"
    notes += "N2,I1,40.00,EUR,2025-02-11,credit_note\n"
    notes += "N3,I1,40.00,EUR,2025-02-11,credit_note\n"
    import_file(store, "payments", write(tmp_path, "n.csv", notes))
    raised = "id,claim_id,amount,currency,paid_on\nN1,I1,100.00,EUR,2025-02-11\n"
    turned = "id,claim_id,amount,currency,paid_on,kind\n"
    turned += "N1,I1,30.00,EUR,2025-02-11,payment\n"
    turned += "N4,I1,10.00,EUR,2025-02-12,credit_note\n"

    with pytest.raises(ImportFailed) as failure:
        import_file(store, "payments", write(tmp_path, "raised.csv", raised))
    import_file(store, "payments", write(tmp_path, "turned.csv", turned))

    assert problems_of(failure, tmp_path) == [
        "raised.csv:2: column `amount`: `100.00` is more than claim `I1` can still "
        "be credited (20.00: its amount 100.00 less 80.00 credited before); a "
        "credit note takes off at most what was invoiced"
    ]
    assert rows(
        store, "SELECT id, kind, amount FROM payments WHERE claim_id = 'I1' ORDER BY id"
    ) == [
        ("N1", "payment", "30.00"),
        ("N2", "credit_note", "40.00"),
        ("N3", "credit_note", "40.00"),
        ("N4", "credit_note", "10.00"),
        ("P1", "payment", "40.00"),
    ]


def test_the_api_refuses_a_credit_note_above_what_is_left(store: Store) -> None:
    """Engine.add_payments checks the same: 100.00 less 70.00 credited leaves 30.00."""
    engine = Engine(store, load_policy(POLICIES / "de-b2b-trade.dun"))
    engine.add_customers([Customer("C1", "Alpha GmbH")])
    due = dt.date(2025, 2, 1)
    engine.add_claims(
        [Claim("I1", "C1", eur("100.00"), eur("100.00"), due - dt.timedelta(30), due)]
    )
    engine.add_payments([Payment("N1", "I1", eur("70.00"), due, kind="credit_note")])

    with pytest.raises(RecordError) as refused:
        engine.add_payments(
            [Payment("N2", "I1", eur("30.01"), due, kind="credit_note")]
        )

    assert (
        "amount 30.01 EUR is more than claim I1 can still be credited (30.00 EUR)"
        in (str(refused.value))
    )
    engine.add_payments([Payment("N2", "I1", eur("30.00"), due, kind="credit_note")])


NEVER_CLOSED = (
    "a double quote opened in this row is never closed, so the rest of the file "
    "would be read as one value; close it, or double a quote that belongs to the "
    'value ("")'
)
TEXT_AFTER_QUOTE = (
    "a closing double quote is followed by more text; a quote that belongs to a "
    'value is written twice (""), and nothing but the delimiter or the line end '
    "may follow a closing quote"
)


def closed_on(line: int) -> str:
    """The problem of a quote that a later line closes."""
    return (
        f"a double quote opened in this row is closed only on line {line}, where "
        "text follows it; close it in this row, or double a quote that belongs to "
        'the value ("")'
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('id,name\nK1,"Alpha\nK2,Beta\nK3,Gamma\n', f"k.csv:2: {NEVER_CLOSED}"),
        ('id,name\nK1,Alpha\nK2,"Beta', f"k.csv:3: {NEVER_CLOSED}"),
        ('id,name,address\nK1,A,"Road 1\nK2,B,""\n', f"k.csv:2: {NEVER_CLOSED}"),
        (
            'id,name,address\nK1,A,"Road 1\nK2,B,"Road 2"\nK3,C,x\n',
            f"k.csv:2: {closed_on(3)}",
        ),
        ('id,name,address\nK1,A,"Road 1\nK2,B,Road 2\nK3,C,"Road 3"\n',
         f"k.csv:2: {closed_on(4)}"),
        ('id,name,address\nK1,A,x\nK2,"Beta,y\nK3,C,z\nK5,"Eps, Ltd",w\n',
         f"k.csv:3: {closed_on(5)}"),
        ('id,name\nK1,"Alpha" \n', f"k.csv:2: {TEXT_AFTER_QUOTE}"),
        ('id,name\nK0,A\nK1,"Alpha\n' + "K2,Beta\n" * 30000,
         f"k.csv:3: {NEVER_CLOSED}"),
    ],
    ids=["to the end", "no last line end", "doubled quote at the end",
         "closed by a later quote", "last value quoted", "quoted values after it",
         "space after the quote", "longer than a value may be"],
)  # fmt: skip
def test_a_quote_never_closed_is_named_not_read_as_one_value(
    store: Store, tmp_path: Path, text: str, problem: str
) -> None:
    """A quote that the file never closes would take the rows after it into
    one value (three customers become one with a three-line name): the file
    is refused and nothing is stored."""
    with pytest.raises(ImportFailed) as failure:
        import_file(store, "customers", write(tmp_path, "k.csv", text))

    assert problems_of(failure, tmp_path) == [problem]
    assert rows(store, "SELECT count(*) FROM customers") == [(0,)]


def test_values_over_several_lines_that_are_closed_are_read(
    store: Store, tmp_path: Path
) -> None:
    """Quoted addresses over two lines, with LF or CR LF, a row of empty
    values at the end as spreadsheets write it, and a line of blanks."""
    text = 'id,name,address\nK1,A,"Road 1\nTown"\nK2,B,"Road 2\r\n5000 City"\n,,\n  \n'

    import_file(store, "customers", write(tmp_path, "ok.csv", text))

    assert rows(store, "SELECT id, address FROM customers ORDER BY id") == [
        ("K1", "Road 1\nTown"),
        ("K2", "Road 2\r\n5000 City"),
    ]


def test_trailing_columns_without_name_or_values_are_dropped(
    store: Store, tmp_path: Path
) -> None:
    """`id,name,,` as spreadsheets export it: the two empty columns are no
    columns. One that holds a value is still a column without a name."""
    empty = "id,name,,\nK1,Alpha,,\nK2,Beta,,\n"
    filled = "id,name,,\nK3,Gamma,x,\n"

    import_file(store, "customers", write(tmp_path, "k.csv", empty))
    with pytest.raises(ImportFailed) as failure:
        import_file(store, "customers", write(tmp_path, "x.csv", filled))

    assert rows(store, "SELECT id, name FROM customers ORDER BY id") == [
        ("K1", "Alpha"),
        ("K2", "Beta"),
    ]
    assert problems_of(failure, tmp_path) == [
        "x.csv:1: column 3 of the header has no name"
    ]


def test_a_tsv_file_is_read_with_tabs(store: Store, tmp_path: Path) -> None:
    """The extension says tab-separated; a comma stays part of a name."""
    text = "id\tname\nK1\tAlpha, Berlin\nK2\tBeta\n"

    import_file(store, "customers", write(tmp_path, "k.tsv", text))

    assert rows(store, "SELECT id, name FROM customers ORDER BY id") == [
        ("K1", "Alpha, Berlin"),
        ("K2", "Beta"),
    ]


OUTSIDE = "is outside the dates an import accepts (1900-01-01 to 2199-12-31)"


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        (
            "claims",
            CLAIMS_HEADER + "I9,C1,invoice,EUR,10.00,1899-12-31,2200-01-01\n",
            [
                f"x.csv:2: column `issue_date`: `1899-12-31` {OUTSIDE}",
                f"x.csv:2: column `due_date`: `2200-01-01` {OUTSIDE}",
            ],
        ),
        (
            "payments",
            "id,claim_id,amount,currency,paid_on\nP9,I1,5.00,EUR,0001-01-01\n",
            [f"x.csv:2: column `paid_on`: `0001-01-01` {OUTSIDE}"],
        ),
        (
            "events",
            "id,claim_id,kind,happened_on,until\nE9,I1,hold_set,1000-01-01,"
            "9999-12-31\n",
            [
                f"x.csv:2: column `happened_on`: `1000-01-01` {OUTSIDE}",
                f"x.csv:2: column `until`: `9999-12-31` {OUTSIDE}",
            ],
        ),
    ],
)
def test_dates_far_outside_business_use_are_refused(
    store: Store, tmp_path: Path, kind: str, text: str, expected: list[str]
) -> None:
    """Every date column refuses dates before 1900 or after 2199, naming the
    file, row, column, value and the range."""
    load_native(store, tmp_path)

    with pytest.raises(ImportFailed) as failure:
        import_file(store, kind, write(tmp_path, "x.csv", text))

    assert problems_of(failure, tmp_path) == expected


def test_the_first_and_last_accepted_dates(store: Store, tmp_path: Path) -> None:
    """1900-01-01 and 2199-12-31 themselves are accepted."""
    load_native(store, tmp_path)
    text = CLAIMS_HEADER + "I9,C1,invoice,EUR,10.00,1900-01-01,2199-12-31\n"

    import_file(store, "claims", write(tmp_path, "x.csv", text))

    assert rows(store, "SELECT issue_date, due_date FROM claims WHERE id = 'I9'") == [
        ("1900-01-01", "2199-12-31")
    ]


def test_a_date_attribute_in_another_format_is_checked_too(
    store: Store, tmp_path: Path
) -> None:
    """A date attribute read with a `date_format` shows the date as read."""
    mapping = write(tmp_path, "m.toml", """\
date_format = "%d.%m.%Y"
[customers]
columns = { id = "Customer" }
attributes = ["Since"]
date_attributes = ["Since"]
""")  # fmt: skip
    path = write(tmp_path, "k.csv", "Customer,Since\nK1,31.12.9999\nK2,1.1.1900\n")

    with pytest.raises(ImportFailed) as failure:
        import_file(store, "customers", path, mapping=load_mapping(mapping))

    assert problems_of(failure, tmp_path) == [
        f"k.csv:2: column `Since`: `31.12.9999` (9999-12-31) {OUTSIDE}"
    ]


def test_amounts_fit_the_currency_in_every_kind(store: Store, tmp_path: Path) -> None:
    """Customers' credit limits, payments and events are held to the decimal
    places of their currency; an event's currency is its claim's."""
    load_native(store, tmp_path)
    customers = "id,credit_limit,currency\nC8,100.001,EUR\nC9,100.001,\n"
    payments = "id,claim_id,amount,currency,paid_on\nP8,I1,0.001,EUR,2025-03-01\n"
    events = "id,claim_id,customer_id,kind,happened_on,until,amount\n"
    events += "E8,I1,,promise_given,2025-03-01,2025-03-31,10.123\n"
    events += "E9,,C1,promise_given,2025-03-01,2025-03-31,10.123\n"

    with pytest.raises(ImportFailed) as limited:
        import_file(store, "customers", write(tmp_path, "c.csv", customers))
    with pytest.raises(ImportFailed) as paid:
        import_file(store, "payments", write(tmp_path, "p.csv", payments))
    with pytest.raises(ImportFailed) as promised:
        import_file(store, "events", write(tmp_path, "e.csv", events))

    assert problems_of(limited, tmp_path) == [
        "c.csv:2: column `credit_limit`: `100.001` has more decimal places than EUR "
        "allows (2)"
    ]
    assert problems_of(paid, tmp_path) == [
        "p.csv:2: column `amount`: `0.001` has more decimal places than EUR allows (2)"
    ]
    assert problems_of(promised, tmp_path) == [
        "e.csv:2: column `amount`: `10.123` has more decimal places than EUR allows (2)"
    ]


def test_a_promise_needs_until_and_amount_columns(store: Store, tmp_path: Path) -> None:
    """A promise_given row in a file without an `until` or `amount` column is
    refused, naming the row and the missing column; nothing is stored."""
    load_native(store, tmp_path)
    before = dump(store)
    events = "id,claim_id,kind,happened_on,reason\n"
    events += "E8,I1,dispute_opened,2025-03-01,goods damaged\n"
    events += "E9,I1,promise_given,2025-03-01,will pay soon\n"
    partial = "id,claim_id,kind,happened_on,until\n"
    partial += "E9,I1,promise_given,2025-03-01,2025-03-31\n"

    with pytest.raises(ImportFailed) as neither:
        import_file(store, "events", write(tmp_path, "e.csv", events))
    with pytest.raises(ImportFailed) as no_amount:
        import_file(store, "events", write(tmp_path, "e2.csv", partial))

    # Row 2 is a dispute, which needs neither; row 3 is the promise.
    assert problems_of(neither, tmp_path) == [
        "e.csv:3: column `until`: the file has no `until` column, but a "
        "promise_given event needs the day the customer promised to pay by",
        "e.csv:3: column `amount`: the file has no `amount` column, but a "
        "promise_given event needs the amount the customer promised to pay",
    ]
    assert problems_of(no_amount, tmp_path) == [
        "e2.csv:2: column `amount`: the file has no `amount` column, but a "
        "promise_given event needs the amount the customer promised to pay",
    ]
    assert dump(store) == before


def test_exact_amounts_with_trailing_zeros_are_accepted(
    store: Store, tmp_path: Path
) -> None:
    """`10.500` EUR and `100.000` JPY are exact; 10^15 is the largest amount."""
    load_native(store, tmp_path)
    text = CLAIMS_HEADER + "I8,C1,invoice,EUR,10.500,2025-01-01,2025-01-31\n"
    text += "I9,C1,invoice,JPY,100.000,2025-01-01,2025-01-31\n"
    text += "I10,C1,invoice,EUR,1000000000000000.00,2025-01-01,2025-01-31\n"

    result = import_file(store, "claims", write(tmp_path, "x.csv", text))

    assert result.new == 3
    assert rows(store, "SELECT id, currency, amount FROM claims WHERE id IN "
                "('I8', 'I9', 'I10') ORDER BY id") == [
        ("I10", "EUR", "1000000000000000.00"),
        ("I8", "EUR", "10.500"),
        ("I9", "JPY", "100.000"),
    ]  # fmt: skip


def test_every_problem_of_a_row_is_reported(store: Store, tmp_path: Path) -> None:
    """A row with a bad value is still checked in its other values, against the
    other values of the row and against the database."""
    load_native(store, tmp_path)
    before = dump(store)
    events = "id,claim_id,customer_id,kind,happened_on,until,amount\n"
    events += "E8,I1,C1,promise_given,2025-03-01,2025-02-01,-5\n"
    events += "E9,I404,C2,promise_brocken,2025-03-01,,\n"
    events += "E10,I1,C2,hold_set,2025-03-01,2025-02-01,1.001\n"
    claims = CLAIMS_HEADER + "I8,C9,invoce,EUR,1.001,2025-02-01,2025-01-31\n"

    with pytest.raises(ImportFailed) as happened:
        import_file(store, "events", write(tmp_path, "e.csv", events))
    with pytest.raises(ImportFailed) as claimed:
        import_file(store, "claims", write(tmp_path, "c.csv", claims))

    assert problems_of(happened, tmp_path) == [
        "e.csv:2: column `until`: `2025-02-01` is before the day of the event "
        "2025-03-01; an event cannot end before it happens",
        "e.csv:2: column `amount`: `-5` is below zero; an amount cannot be negative",
        "e.csv:3: column `kind`: `promise_brocken` is not an event kind (expected "
        "`payment`, `partial_payment`, `credit_note`, `dispute_opened`, "
        "`dispute_resolved`, `promise_given`, `promise_kept`, `promise_broken`, "
        "`hold_set`, `hold_released`, `instalment_missed` or `agency_returned`); "
        "did you mean "
        "`promise_broken`?",
        "e.csv:3: column `claim_id`: `I404` is not a known claim: it is neither in the "
        "database nor among the claims of this import",
        "e.csv:4: column `until`: `2025-02-01` is before the day of the event "
        "2025-03-01; an event cannot end before it happens",
        "e.csv:4: column `customer_id`: `C2` is not the customer of claim `I1` (C1)",
        "e.csv:4: column `amount`: `1.001` has more decimal places than EUR allows (2)",
    ]
    assert problems_of(claimed, tmp_path) == [
        "c.csv:2: column `kind`: `invoce` is not a claim kind (expected `invoice` or "
        "`instalment`); did you mean `invoice`?",
        "c.csv:2: column `amount`: `1.001` has more decimal places than EUR allows (2)",
        "c.csv:2: column `due_date`: `2025-01-31` is before the issue date "
        "2025-02-01; a claim cannot fall due before it is issued",
        "c.csv:2: column `customer_id`: `C9` is not a known customer: it is neither "
        "in the database nor among the customers of this import",
    ]
    assert dump(store) == before


def test_a_bad_row_is_compared_with_the_database_by_its_right_values(
    store: Store, tmp_path: Path
) -> None:
    """An applied payment with a bad date and a new amount: both are reported;
    a claim with a bad kind that drops below what was paid: both too."""
    load_native(store, tmp_path)
    store.conn.execute("UPDATE payments SET applied_run = 3 WHERE id = 'P1'")
    store.conn.execute("UPDATE claims SET open_amount = '60.00' WHERE id = 'I1'")
    payments = "id,claim_id,amount,currency,paid_on\nP1,I1,45.00,EUR,10.02.2025\n"
    claims = CLAIMS_HEADER + "I1,C1,bill,EUR,30.00,2025-01-02,2025-02-01\n"

    with pytest.raises(ImportFailed) as paid:
        import_file(store, "payments", write(tmp_path, "p.csv", payments))
    with pytest.raises(ImportFailed) as claimed:
        import_file(store, "claims", write(tmp_path, "c.csv", claims))

    assert problems_of(paid, tmp_path) == [
        "p.csv:2: column `paid_on`: `10.02.2025` is not a date (expected YYYY-MM-DD "
        "like 2013-01-31)",
        "p.csv:2: column `amount`: `45.00` would change payment `P1` (now `40.00`), "
        "which run 3 has already applied; record a correction as a new payment",
    ]
    assert problems_of(claimed, tmp_path) == [
        "c.csv:2: column `kind`: `bill` is not a claim kind (expected `invoice` or "
        "`instalment`)",
        "c.csv:2: column `amount`: `30.00` is less than the 40.00 already paid or "
        "credited on claim `I1`; record a credit note instead",
    ]


def test_a_payment_is_checked_against_a_bad_claim_row_of_the_same_import(
    store: Store, tmp_path: Path
) -> None:
    """A claim row with a bad kind still lends its right currency to the check
    of the payments that refer to it."""
    load_native(store, tmp_path)
    mapping = write(tmp_path, "m.toml", """\
[claims]
columns = { id = "Invoice", customer_id = "Customer", currency = "Currency", \
amount = "Amount", issue_date = "Issued", due_date = "Due", kind = "Kind" }
attributes = []
[payments]
columns = { id = "Invoice", claim_id = "Invoice", amount = "Amount", \
currency = "Paid in", paid_on = "Paid" }
""")  # fmt: skip
    text = "Invoice,Customer,Currency,Amount,Issued,Due,Kind,Paid in,Paid\n"
    text += "R1,C1,EUR,10.00,2025-01-01,2025-01-31,bill,USD,2025-02-01\n"
    path = write(tmp_path, "all.csv", text)
    prepared = check_file(path, ["claims", "payments"], load_mapping(mapping))

    with pytest.raises(ImportFailed) as failure:
        apply_import(store, prepared)

    assert problems_of(failure, tmp_path) == [
        "all.csv:2: column `Kind`: `bill` is not a claim kind (expected `invoice` or "
        "`instalment`)",
        "all.csv:2: column `Paid in`: `USD` is not the currency of claim `R1` (EUR); "
        "a payment must be in it",
    ]


def test_a_repeated_id_is_compared_by_its_right_values(
    store: Store, tmp_path: Path
) -> None:
    """An id repeated with a bad value is a repeat if all else is equal, and is
    reported when another value differs."""
    load_native(store, tmp_path)
    text = CLAIMS_HEADER + "I8,C1,invoice,EUR,10.00,2025-01-01,2025-01-31\n"
    text += "I8,C1,invoice,EUR,ten,2025-01-01,2025-01-31\n"
    text += "I8,C2,invoice,EUR,ten,2025-01-01,2025-01-31\n"

    with pytest.raises(ImportFailed) as failure:
        import_file(store, "claims", write(tmp_path, "c.csv", text))

    amount = "is not an amount (expected digits with `.` as decimal separator, like "
    assert problems_of(failure, tmp_path) == [
        f"c.csv:3: column `amount`: `ten` {amount}1234.56)",
        "c.csv:4: column `id`: `I8` appears again with other values (first on row 2, "
        "where `customer_id` is `C1`, here `C2`); an id may appear only once, or "
        "again with the same values",
        f"c.csv:4: column `amount`: `ten` {amount}1234.56)",
    ]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        (
            "claims.csv",
            b"",
            "claims.csv: is empty (expected a header line with the "
            "column names, then one line per row)",
        ),
        (
            "claims.csv",
            b"\r\n\r\n",
            "claims.csv: is empty (expected a header line "
            "with the column names, then one line per row)",
        ),
        (
            "claims.csv",
            CLAIMS_HEADER.encode(),
            "claims.csv: has a header but no rows (nothing to import)",
        ),
        (
            "claims.csv",
            CLAIMS_HEADER.encode() + b"I1,C1,invoice,EUR,1,2025-01-01,"
            b"2025-01-31,Caf\xe9\n",
            "claims.csv:2: is not utf-8 text (byte 0xE9); save "
            "it as UTF-8, or name its encoding in a mapping file (like `encoding = "
            '"cp1252"`)',
        ),
        (
            "claims.csv",
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
            "claims.csv: is a binary file, not text (it contains NUL bytes)",
        ),
        (
            "claims.csv",
            b"id,customer_id,currency,amount,issue_date,dueDate\n1,2,3,4,5,6\n",
            "claims.csv:1: the header has no column `due_date`, which every claim needs; "
            "did you mean `dueDate`?; a mapping file can name another column (see "
            "docs/import.md)",
        ),
        (
            "claims.csv",
            b"id;customer_id;currency;amount;issue_date;due_date\n1;2\n",
            "claims.csv:1: the header is a single column, "
            '`id;customer_id;currency;amount;issue_date;due_date`; if ";" separates '
            'the columns, say so with `delimiter = ";"` in a mapping file',
        ),
        (
            "claims.csv",
            b"id,id,customer_id,currency,amount,issue_date,due_date\n",
            "claims.csv:1: column `id` appears twice in the header (columns 1 and 2)",
        ),
        (
            "claims.xlsx",
            b"PK\x03\x04",
            "claims.xlsx: cannot tell the format from the "
            "name (`.xlsx`); use --format csv, json or jsonl",
        ),
        (
            "claims.json",
            b'{"id": "I1"}',
            "claims.json: is not a JSON list (expected "
            "[{...}, {...}]; for one object per line use the extension .jsonl or "
            "--format jsonl)",
        ),
        (
            "claims.json",
            b'[\n{"id": "I1"},\n{"id": "I2",}\n]',
            "claims.json:3: is not "
            "valid JSON at column 13 (Expecting property name enclosed in double "
            "quotes)",
        ),
        (
            "claims.json",
            b"",
            "claims.json: is empty (expected a list of objects, [{...}, {...}])",
        ),
        (
            "claims.jsonl",
            b"\n \n",
            "claims.jsonl: is empty (expected one object {...} per line)",
        ),
        (
            "claims.json",
            b"[\n]\n",
            "claims.json: holds no records (the list is empty, so nothing to import)",
        ),
        (
            "claims.jsonl",
            b"[1]\n",
            'claims.jsonl:1: is not an object with named fields (expected {"column": '
            "value, ...})",
        ),
        (
            "claims.json",
            b'[{"id": "I1", "customerId": "C1"}]',
            "claims.json: no record has the field `customer_id`, which every claim "
            "needs; did you mean `customerId`?; a mapping file can name another field "
            "(see docs/import.md)\n"
            "claims.json: no record has the field `currency`, which every claim needs; "
            "a mapping file can name another field (see docs/import.md)\n"
            "claims.json: no record has the field `amount`, which every claim needs; a "
            "mapping file can name another field (see docs/import.md)\n"
            "claims.json: no record has the field `issue_date`, which every claim "
            "needs; a mapping file can name another field (see docs/import.md)\n"
            "claims.json: no record has the field `due_date`, which every claim needs; "
            "a mapping file can name another field (see docs/import.md)",
        ),
    ],
)
def test_unreadable_files_are_refused_with_a_reason(
    store: Store, tmp_path: Path, name: str, content: bytes, expected: str
) -> None:
    """Empty, header-only, mis-encoded, binary, misnamed or broken files."""
    path = tmp_path / name
    path.write_bytes(content)

    with pytest.raises(ImportFailed) as failure:
        import_file(store, "claims", str(path))

    assert "\n".join(problems_of(failure, tmp_path)) == expected


def test_missing_and_folder_paths(store: Store, tmp_path: Path) -> None:
    """A path that is no file is named as such."""
    with pytest.raises(ImportFailed) as missing:
        import_file(store, "claims", str(tmp_path / "nope.csv"))
    with pytest.raises(ImportFailed) as folder:
        import_file(store, "claims", str(tmp_path))

    assert problems_of(missing, tmp_path) == ["nope.csv: no such file"]
    assert str(folder.value) == f"{tmp_path}: is a folder, not a data file"


def test_json_rows_are_named_by_line_and_item(store: Store, tmp_path: Path) -> None:
    """A bad object in a JSON list is found by its line and its place in the list."""
    import_file(store, "customers", write(tmp_path, "customers.csv", CUSTOMERS))
    claims = [
        {"id": "I1", "customer_id": "C1", "currency": "EUR", "amount": 10,
         "issue_date": "2025-01-01", "due_date": "2025-01-31"},
        {"id": "I2", "customer_id": "C1", "currency": "EUR", "amount": "ten",
         "issue_date": "2025-01-01", "due_date": "2025-01-31", "tags": ["a"]},
    ]  # fmt: skip
    path = write(tmp_path, "claims.json", json.dumps(claims, indent=1))

    with pytest.raises(ImportFailed) as failure:
        import_file(store, "claims", path)

    assert problems_of(failure, tmp_path) == [
        "claims.json:10: item 2: column `tags`: a list or an object is not a value "
        "(expected text, a number or a flag)"
    ]


def test_json_items_that_are_no_objects_are_named(store: Store, tmp_path: Path) -> None:
    """Items of a JSON list that are no objects are named by item and line; the
    objects around them are still checked."""
    import_file(store, "customers", write(tmp_path, "customers.csv", CUSTOMERS))
    scalars = write(tmp_path, "scalars.json", '[1, 2,\n"x"]')
    claim = {"id": "I1", "customer_id": "C1", "currency": "EUR", "amount": "1.005",
             "issue_date": "2025-01-01", "due_date": "2025-01-31"}  # fmt: skip
    mixed = write(tmp_path, "mixed.json", json.dumps([claim, [1]], indent=1))

    with pytest.raises(ImportFailed) as only:
        import_file(store, "claims", scalars)
    with pytest.raises(ImportFailed) as some:
        import_file(store, "claims", mixed)

    message = 'is not an object with named fields (expected {"column": value, ...})'
    assert problems_of(only, tmp_path) == [
        f"scalars.json:1: item 1 {message}",
        f"scalars.json:1: item 2 {message}",
        f"scalars.json:2: item 3 {message}",
    ]
    assert problems_of(some, tmp_path) == [
        "mixed.json:2: item 1: column `amount`: `1.005` has more decimal places than "
        "EUR allows (2)",
        f"mixed.json:10: item 2 {message}",
    ]


# ---- re-imports and changes -------------------------------------------------


def test_importing_again_changes_nothing(store: Store, tmp_path: Path) -> None:
    """The same four files a second time: all unchanged, the database identical."""
    load_native(store, tmp_path)
    before = dump(store)

    again = load_native(store, tmp_path)

    assert [(r.new, r.changed, r.unchanged) for r in again] == [
        (0, 0, 2), (0, 0, 3), (0, 0, 2), (0, 0, 2)
    ]  # fmt: skip
    assert dump(store) == before


def test_the_same_amount_written_differently_is_no_change(
    store: Store, tmp_path: Path
) -> None:
    """60.50 and 60.5 are the same amount: re-import counts it unchanged."""
    load_native(store, tmp_path)
    text = CLAIMS_HEADER + "I2,C1,,EUR,60.5,2025-01-10,2025-01-24\n"

    result = import_file(store, "claims", write(tmp_path, "again.csv", text))

    assert (result.changed, result.unchanged) == (0, 1)
    assert rows(store, "SELECT amount FROM claims WHERE id = 'I2'") == [("60.50",)]


def test_a_changed_claim_is_updated_and_audited(store: Store, tmp_path: Path) -> None:
    """A new amount moves the open amount by the same difference, marks the claim
    for the next run and audits every changed field with file and row."""
    load_native(store, tmp_path)
    store.conn.execute("UPDATE claims SET open_amount = '60.00', changed = 0")
    text = "id,customer_id,currency,amount,issue_date,due_date,Region\n"
    text += "I3,C2,EUR,19.99,2025-02-01,2025-02-15,\n"
    text += "I1,C1,EUR,120.00,2025-01-02,2025-02-10,North\n"
    path = write(tmp_path, "fix.csv", text)

    result = import_file(store, "claims", path, clock=lambda: NOON)

    assert (result.new, result.changed, result.unchanged) == (0, 1, 1)
    assert rows(store, "SELECT id, amount, open_amount, due_date, kind, changed, "
                "attributes FROM claims ORDER BY id") == [
        ("I1", "120.00", "80.00", "2025-02-10", "invoice", 1, '{"region": "North"}'),
        ("I2", "60.50", "60.00", "2025-01-24", "invoice", 0, "{}"),
        ("I3", "19.99", "60.00", "2025-02-15", "instalment", 0, "{}"),
    ]  # fmt: skip
    source = f"{path}:3"
    assert rows(store, "SELECT recorded_at, actor, table_name, row_id, field, "
                "old_value, new_value, source FROM audit_changes ORDER BY id") == [
        ("2026-01-15T12:00:00+00:00", "import", "claims", "I1", "amount", "100.00",
         "120.00", source),
        ("2026-01-15T12:00:00+00:00", "import", "claims", "I1", "due_date",
         "2025-02-01", "2025-02-10", source),
        ("2026-01-15T12:00:00+00:00", "import", "claims", "I1", "attributes.region",
         None, "North", source),
        ("2026-01-15T12:00:00+00:00", "import", "claims", "I1", "open_amount",
         "60.00", "80.00", source),
    ]  # fmt: skip


def test_a_changed_customer_sends_its_claims_to_the_next_run(
    store: Store, tmp_path: Path
) -> None:
    """A customer's new segment marks its claims as changed, and is audited."""
    load_native(store, tmp_path)
    store.conn.execute("UPDATE claims SET changed = 0")
    text = "id,segment\nC1,strategic\nC2,retail\n"

    result = import_file(store, "customers", write(tmp_path, "c.csv", text))

    assert (result.changed, result.unchanged) == (1, 1)
    assert rows(store, "SELECT id, changed FROM claims ORDER BY id") == [
        ("I1", 1), ("I2", 1), ("I3", 0)
    ]  # fmt: skip
    assert rows(store, "SELECT row_id, field, old_value, new_value FROM audit_changes") == [
        ("C1", "segment", "key", "strategic")
    ]  # fmt: skip


def test_applied_payments_and_events_cannot_change(
    store: Store, tmp_path: Path
) -> None:
    """A payment a run has applied may be imported again unchanged, not changed."""
    load_native(store, tmp_path)
    store.conn.execute("UPDATE payments SET applied_run = 3 WHERE id = 'P1'")
    store.conn.execute("UPDATE events SET applied_run = 3 WHERE id = 'E1'")
    before = dump(store)
    payments = "id,claim_id,amount,currency,paid_on\nP1,I1,40.00,EUR,2025-02-10\n"
    changed = payments.replace("40.00", "45.00")
    # E1 as stored (until 2025-02-28, 60.00) but for its day and its reason.
    events = "id,claim_id,kind,happened_on,until,amount,reason\n"
    events += "E1,I1,promise_given,2025-02-06,2025-02-28,60.00,\n"

    assert (
        import_file(store, "payments", write(tmp_path, "p.csv", payments)).unchanged
        == 1
    )
    with pytest.raises(ImportFailed) as paid:
        import_file(store, "payments", write(tmp_path, "p2.csv", changed))
    with pytest.raises(ImportFailed) as happened:
        import_file(store, "events", write(tmp_path, "e.csv", events))

    assert problems_of(paid, tmp_path) == [
        "p2.csv:2: column `amount`: `45.00` would change payment `P1` (now `40.00`), "
        "which run 3 has already applied; record a correction as a new payment"
    ]
    assert problems_of(happened, tmp_path) == [
        "e.csv:2: column `happened_on`: `2025-02-06` would change event `E1` (now "
        "`2025-02-05`), which run 3 has already applied; record a correction as a "
        "new event",
        "e.csv:2: column `reason`: `` would change event `E1` (now `will pay at month "
        "end`), which run 3 has already applied; record a correction as a new event",
    ]
    assert dump(store) == before


def test_paid_claims_keep_their_currency_and_paid_part(
    store: Store, tmp_path: Path
) -> None:
    """A claim with 40.00 paid cannot drop below 40.00 nor change its currency."""
    load_native(store, tmp_path)
    store.conn.execute("UPDATE claims SET open_amount = '60.00' WHERE id = 'I1'")
    text = CLAIMS_HEADER + "I1,C1,invoice,EUR,30.00,2025-01-02,2025-02-01\n"
    text += "I2,C1,invoice,USD,60.50,2025-01-10,2025-01-24\n"

    with pytest.raises(ImportFailed) as failure:
        import_file(store, "claims", write(tmp_path, "c.csv", text))

    assert problems_of(failure, tmp_path) == [
        "c.csv:2: column `amount`: `30.00` is less than the 40.00 already paid or "
        "credited on claim `I1`; record a credit note instead",
        # I2 has payments booked, so its currency stays EUR.
        "c.csv:3: column `currency`: claim `I2` is being dunned in EUR for "
        "customer `C1` with payments booked; a claim's currency cannot change — "
        "credit it and issue a new one",
    ]


def test_audit_rows_cannot_be_changed(store: Store, tmp_path: Path) -> None:
    """The database itself refuses to update or delete an audited change."""
    load_native(store, tmp_path)
    text = CLAIMS_HEADER + "I1,C1,invoice,EUR,110.00,2025-01-02,2025-02-01\n"
    import_file(store, "claims", write(tmp_path, "c.csv", text))
    assert rows(store, "SELECT count(*) FROM audit_changes") == [(2,)]

    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.conn.execute("UPDATE audit_changes SET new_value = '1.00'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.conn.execute("DELETE FROM audit_changes")


def test_customers_and_claims_of_one_file_import_together(
    store: Store, tmp_path: Path
) -> None:
    """A claim may refer to a customer that arrives in the same import."""
    mapping = write(tmp_path, "m.toml", """\
[customers]
columns = { id = "Customer" }
attributes = []
[claims]
columns = { id = "Invoice", customer_id = "Customer", amount = "Amount", \
issue_date = "Date", due_date = "Due" }
constants = { currency = "CHF" }
""")  # fmt: skip
    text = "Customer,Invoice,Amount,Date,Due\nK1,R1,10,2025-01-01,2025-01-31\n"
    text += "K1,R2,20,2025-01-02,2025-02-01\n"
    path = write(tmp_path, "all.csv", text)

    results = apply_import(store, check_file(path, ["customers", "claims"],
                                             load_mapping(mapping)))  # fmt: skip

    assert [(r.kind, r.new, r.repeated) for r in results] == [
        ("customers", 1, 1), ("claims", 2, 0)
    ]  # fmt: skip


# ---- invariants -------------------------------------------------------------

_amounts = st.decimals(
    min_value=Decimal("0.01"), max_value=Decimal("99999.99"), places=2
)
_days = st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2030, 12, 31))
_claims = st.lists(
    st.tuples(_amounts, _days, st.integers(0, 90), st.sampled_from(["EUR", "USD"])),
    min_size=1,
    max_size=20,
)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(claims=_claims)
def test_a_second_import_of_any_valid_file_changes_nothing(
    tmp_path: Path, claims: list[tuple[Decimal, dt.date, int, str]]
) -> None:
    """For any valid claims file, importing it again leaves every table as it was
    and the open amount of every new claim is its amount."""
    folder = tmp_path / str(abs(hash(tuple(claims))))
    folder.mkdir()
    store = Store.open(folder / "t.db")
    import_file(store, "customers", write(folder, "customers.csv", "id\nC1\n"))
    text = CLAIMS_HEADER + "".join(
        f"I{n},C1,invoice,{currency},{amount},{day},{day + dt.timedelta(terms)}\n"
        for n, (amount, day, terms, currency) in enumerate(claims)
    )
    path = write(folder, "claims.csv", text)

    import_file(store, "claims", path)
    before = dump(store)
    again = import_file(store, "claims", path)

    assert (again.new, again.changed, again.unchanged) == (0, 0, len(claims))
    assert dump(store) == before
    stored = rows(store, "SELECT amount, open_amount FROM claims")
    assert all(amount == open_amount for amount, open_amount in stored)
    store.close()


@given(
    amount=st.decimals(min_value=0, max_value=10**6, places=6),
    currency=st.sampled_from(["EUR", "JPY", "BHD"]),
)
def test_an_amount_is_too_precise_exactly_when_rounding_would_change_it(
    amount: Decimal, currency: str
) -> None:
    """Trailing zeros never count; any other digit beyond the currency's places
    does (EUR 2, JPY 0, BHD 3)."""
    places = {"EUR": 2, "JPY": 0, "BHD": 3}[currency]

    refused = too_precise(format(amount, "f"), currency) is not None

    assert refused == (amount != round(amount, places))


def test_two_digit_years_follow_the_documented_pivot() -> None:
    """`%y` reads 00 to 68 as 2000 to 2068 and 69 to 99 as 1969 to 1999."""
    parse = DateParser("%d.%m.%y")
    assert parse("31.01.13") == "2013-01-31"
    assert parse("02.01.68") == "2068-01-02"
    assert parse("02.01.69") == "1969-01-02"
    assert parse("02.01.99") == "1999-01-02"

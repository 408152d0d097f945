"""`dunning import`: what it prints, and its exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from engine.cli.main import cli

CUSTOMERS = "id,name,kind\nC1,Alpha GmbH,business\nC2,Bea Bauer,consumer\n"
CLAIMS = """\
id,customer_id,currency,amount,issue_date,due_date
I1,C1,EUR,100.00,2025-01-02,2025-02-01
I2,C2,EUR,19.99,2025-02-01,2025-02-15
"""
IBM = "ibm-late-payment-histories/WA_Fn-UseC_-Accounts-Receivable.csv"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temporary working folder holding customers.csv and claims.csv."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DUNNING_DB", raising=False)
    (tmp_path / "customers.csv").write_text(CUSTOMERS)
    (tmp_path / "claims.csv").write_text(CLAIMS)
    return tmp_path


def dunning(*args: str) -> Result:
    """Run the command line as a user would, with the database in the folder."""
    return CliRunner().invoke(cli, [*args, "--db", "test.db"])


def test_import_prints_what_landed(folder: Path) -> None:
    """Each import says how many rows landed, new, changed and unchanged."""
    customers = dunning("import", "customers", "customers.csv")
    claims = dunning("import", "claims", "claims.csv")

    assert (customers.exit_code, customers.stderr) == (0, "")
    assert customers.stdout == (
        "customers.csv: 2 customers imported (2 new, 0 changed, 0 unchanged)\n"
    )
    assert (claims.exit_code, claims.stderr) == (0, "")
    assert (
        claims.stdout
        == "claims.csv: 2 claims imported (2 new, 0 changed, 0 unchanged)\n"
    )


def test_a_second_import_reports_the_change(folder: Path) -> None:
    """Importing a corrected file counts the changed claim and the unchanged one."""
    dunning("import", "customers", "customers.csv")
    dunning("import", "claims", "claims.csv")
    (folder / "claims.csv").write_text(CLAIMS.replace("19.99", "29.99"))
    (folder / "one.csv").write_text(
        CLAIMS.splitlines()[0] + "\n" + CLAIMS.splitlines()[1]
    )

    again = dunning("import", "claims", "claims.csv")
    single = dunning("import", "claims", "one.csv")

    assert (
        again.stdout
        == "claims.csv: 2 claims imported (0 new, 1 changed, 1 unchanged)\n"
    )
    assert (
        single.stdout == "one.csv: 1 claim imported (0 new, 0 changed, 1 unchanged)\n"
    )


def test_bad_rows_are_listed_on_stderr_with_exit_code_1(folder: Path) -> None:
    """Bad rows go to stderr, nothing is imported, and the exit code is 1."""
    dunning("import", "customers", "customers.csv")
    bad = (
        CLAIMS
        + "I3,C3,EUR,10.00,2025-01-01,2025-01-31\nI4,C1,EUR,1.0.0,2025-01-01,31/1\n"
    )
    (folder / "claims.csv").write_text(bad)

    result = dunning("import", "claims", "claims.csv")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "claims.csv:4: column `customer_id`: `C3` is not a known customer: it is "
        "neither in the database nor among the customers of this import\n"
        "claims.csv:5: column `amount`: `1.0.0` is not an amount (expected digits "
        "with `.` as decimal separator, like 1234.56)\n"
        "claims.csv:5: column `due_date`: `31/1` is not a date (expected YYYY-MM-DD "
        "like 2013-01-31)\n"
        "claims.csv: nothing imported (3 problems)\n"
    )
    assert dunning("import", "claims", "claims.csv").exit_code == 1


def test_far_dates_and_odd_amounts_are_refused_all_at_once(folder: Path) -> None:
    """A row with a date of year 9999 and an amount finer than cents: both are
    listed, with the range and the decimal places allowed."""
    dunning("import", "customers", "customers.csv")
    (folder / "claims.csv").write_text(
        CLAIMS + "I3,C1,EUR,10.123456,0001-01-01,9999-12-31\n"
    )

    result = dunning("import", "claims", "claims.csv")

    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        "claims.csv:4: column `amount`: `10.123456` has more decimal places than EUR "
        "allows (2)\n"
        "claims.csv:4: column `issue_date`: `0001-01-01` is outside the dates an "
        "import accepts (1900-01-01 to 2199-12-31)\n"
        "claims.csv:4: column `due_date`: `9999-12-31` is outside the dates an "
        "import accepts (1900-01-01 to 2199-12-31)\n"
        "claims.csv: nothing imported (3 problems)\n"
    )


def test_a_long_list_of_problems_is_cut_at_fifty(folder: Path) -> None:
    """Sixty bad rows: fifty are listed, the other ten counted."""
    dunning("import", "customers", "customers.csv")
    lines = [f"N{n},C1,EUR,x,2025-01-01,2025-01-31" for n in range(60)]
    (folder / "claims.csv").write_text(CLAIMS + "\n".join(lines) + "\n")

    result = dunning("import", "claims", "claims.csv")

    listed = result.stderr.splitlines()
    assert result.exit_code == 1
    assert len(listed) == 52
    assert listed[0] == (
        "claims.csv:4: column `amount`: `x` is not an amount (expected digits with "
        "`.` as decimal separator, like 1234.56)"
    )
    assert listed[-2:] == [
        "... and 10 more problems",
        "claims.csv: nothing imported (60 problems)",
    ]


@pytest.mark.parametrize(
    ("arguments", "content", "message"),
    [
        (
            ("claims", "data.csv"),
            b"\x00\x01\x02\x03",
            "data.csv: is a binary file, not text (it contains NUL bytes)",
        ),
        (
            ("claims", "data.csv"),
            "id,name\nI1,Müller\n".encode("latin-1"),
            "data.csv:2: "
            "is not utf-8 text (byte 0xFC); save it as UTF-8, or name its encoding in a "
            'mapping file (like `encoding = "cp1252"`)',
        ),
        (
            ("claims", "data.csv", "--mapping", "nowhere.toml"),
            b"id\n",
            "nowhere.toml: "
            "no such mapping file, and no bundled mapping of that name (bundled: "
            "ibm-late-payment-histories)",
        ),
        (
            ("events", "data.csv"),
            b"id,kind,happened_on\nE1,hold_set,2025-01-01\n",
            "data.csv:1: the header has neither `claim_id` nor `customer_id`; every "
            "event needs one of them",
        ),
        (
            ("claims", "data.json"),
            b"[1]",
            "data.json:1: item 1 is not an object with named fields (expected "
            '{"column": value, ...})',
        ),
        (
            ("claims", "data.json"),
            b"",
            "data.json: is empty (expected a list of objects, [{...}, {...}])",
        ),
        (
            ("payments", "data.csv"),
            b"id,claim_id,amount,currency,paid_on,note\nP1,I1,1,EUR,2025-01-01,x\n",
            "data.csv:1: column `note`: is not a payment field, and payments keep no "
            "attributes",
        ),
    ],
)
def test_bad_input_never_shows_a_traceback(
    folder: Path, arguments: tuple[str, ...], content: bytes | None, message: str
) -> None:
    """Missing, binary, mis-encoded files and unknown mappings: one clear message."""
    if content is not None:
        (folder / arguments[1]).write_bytes(content)

    result = dunning("import", *arguments)

    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"{message}\n{arguments[1]}: nothing imported (1 problem)\n"
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_database_of_another_program_is_refused(folder: Path) -> None:
    """A file that is no dunning database is left alone, with exit code 1."""
    (folder / "test.db").write_bytes(b"not a database at all, just text" * 10)

    result = dunning("import", "customers", "customers.csv")

    assert result.exit_code == 1
    assert result.stderr.startswith("Error: test.db: not a dunning database")


def test_all_needs_a_mapping(folder: Path) -> None:
    """`import all` without a mapping is a usage error (exit code 2)."""
    result = dunning("import", "all", "claims.csv")

    assert result.exit_code == 2
    assert "`all` needs a --mapping that describes the kinds" in result.stderr


def test_json_is_read_when_asked_for(folder: Path) -> None:
    """`--format json` reads a file whose name does not say JSON."""
    (folder / "customers.txt").write_text('[{"id": "C9", "name": "Nine"}]')

    result = dunning("import", "customers", "customers.txt", "--format", "json")

    assert result.stdout == (
        "customers.txt: 1 customer imported (1 new, 0 changed, 0 unchanged)\n"
    )


def test_a_near_miss_column_is_warned_about(folder: Path) -> None:
    """A column that looks like a misspelled field is kept, with a warning."""
    (folder / "c.csv").write_text("id,knd\nC5,consumer\n")

    result = dunning("import", "customers", "c.csv")

    assert result.exit_code == 0
    assert result.stderr == (
        "warning: c.csv:1: column `knd`: is kept as the attribute `knd`; did you mean "
        "`kind`?\n"
    )


def test_ibm_sample_by_mapping_name(folder: Path, shared_data: Path) -> None:
    """The documented commands import the IBM sample with the bundled mapping."""
    path = str(shared_data / IBM)
    said = [
        dunning("import", kind, path, "--mapping", "ibm-late-payment-histories")
        for kind in ("customers", "claims", "payments")
    ]

    assert [result.exit_code for result in said] == [0, 0, 0]
    assert [result.stdout for result in said] == [
        f"{path}: 100 customers imported (100 new, 0 changed, 0 unchanged; 2366 "
        "repeated rows counted once)\n",
        f"{path}: 2466 claims imported (2466 new, 0 changed, 0 unchanged)\n",
        f"{path}: 2466 payments imported (2466 new, 0 changed, 0 unchanged)\n",
    ]
    again = dunning("import", "all", path, "--mapping", "ibm-late-payment-histories")
    assert again.stdout.splitlines()[1] == (
        f"{path}: 2466 claims imported (0 new, 0 changed, 2466 unchanged)"
    )


def test_a_missing_import_file_is_a_usage_error(tmp_path: Path) -> None:
    """A file that does not exist is a mistake on the command line: exit 2."""
    db = str(tmp_path / "d.db")

    result = CliRunner().invoke(cli, ["import", "claims", "gone.csv", "--db", db])

    assert result.exit_code == 2
    assert "Path 'gone.csv' does not exist." in result.output

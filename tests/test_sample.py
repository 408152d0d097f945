"""The sample-data generator: files, consistency, shares and the command line."""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import engine.sample
from engine.cli.main import cli
from engine.sample import SampleSettings, write_sample

FILES = ("customers.csv", "claims.csv", "payments.csv", "events.csv")
AMOUNT = re.compile(r"\d+\.\d\d")


def read(directory: Path, name: str) -> list[dict[str, str]]:
    """The rows of one written file."""
    with open(directory / name, encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def cents(amount: str) -> int:
    """An amount as written (1234.50) in whole cents."""
    assert AMOUNT.fullmatch(amount), amount
    return int(amount.replace(".", ""))


def day(text: str) -> dt.date:
    """A date as written, insisting on YYYY-MM-DD."""
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", text), text
    return dt.date.fromisoformat(text)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sample of 500 customers and 4,000 claims over 2025."""
    directory = tmp_path_factory.mktemp("sample")
    write_sample(directory, SampleSettings(customers=500, claims=4000, seed=11))
    return directory


@pytest.fixture(scope="module")
def large_samples(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three samples of 2,000 customers and 12,000 claims, for shares."""
    directories = []
    for seed in (1, 2, 3):
        directory = tmp_path_factory.mktemp(f"large{seed}")
        write_sample(directory, SampleSettings(2000, 12000, seed))
        directories.append(directory)
    return directories


# ---- same seed, same files --------------------------------------------------


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    """Two runs with the same settings write byte-identical files."""
    settings_ = SampleSettings(customers=50, claims=400, seed=5)
    write_sample(tmp_path / "a", settings_)
    write_sample(tmp_path / "b", settings_)

    for name in FILES:
        assert (tmp_path / "a" / name).read_bytes() == (
            tmp_path / "b" / name
        ).read_bytes()


def test_same_seed_gives_identical_bytes_in_another_process(tmp_path: Path) -> None:
    """A fresh interpreter with another hash seed writes the same bytes."""
    write_sample(tmp_path / "here", SampleSettings(customers=40, claims=300, seed=9))
    environment = {**os.environ, "PYTHONHASHSEED": "12345"}
    script = "from engine.cli.main import cli; cli()"
    arguments = ["sample-data", "--customers", "40", "--claims", "300", "--seed", "9"]
    subprocess.run(
        [sys.executable, "-c", script, *arguments, str(tmp_path / "there")],
        env=environment,
        check=True,
        capture_output=True,
    )

    for name in FILES:
        assert (tmp_path / "here" / name).read_bytes() == (
            tmp_path / "there" / name
        ).read_bytes()


def test_different_seed_gives_different_files(tmp_path: Path) -> None:
    """Another seed gives other customers and other claims."""
    write_sample(tmp_path / "a", SampleSettings(customers=50, claims=400, seed=5))
    write_sample(tmp_path / "b", SampleSettings(customers=50, claims=400, seed=6))

    for name in ("customers.csv", "claims.csv", "payments.csv"):
        assert (tmp_path / "a" / name).read_bytes() != (
            tmp_path / "b" / name
        ).read_bytes()


def test_bundled_sample_is_what_its_command_writes(tmp_path: Path) -> None:
    """examples/sample holds exactly what the command in its README writes."""
    bundled = Path(__file__).resolve().parent.parent / "examples" / "sample"
    command = "dunning sample-data --customers 300 --claims 3000 --seed 7"
    result = CliRunner().invoke(cli, [*command.split()[1:], str(tmp_path)])

    assert result.exit_code == 0
    assert f"{command} examples/sample" in (bundled / "README.md").read_text("utf-8")
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (bundled / name).read_bytes()


# ---- format -----------------------------------------------------------------


def test_header_rows(sample: Path) -> None:
    """Each file starts with exactly the columns of the import format."""
    headers = {
        name: (sample / name).read_text(encoding="utf-8").split("\n", 1)[0]
        for name in FILES
    }

    assert headers == {
        "customers.csv": "id,name,kind,segment,country,language,email,address,"
        "credit_limit,currency,dunning_group",
        "claims.csv": "id,customer_id,kind,currency,amount,issue_date,due_date",
        "payments.csv": "id,claim_id,amount,currency,paid_on,kind",
        "events.csv": "id,claim_id,customer_id,kind,happened_on,until,amount,reason",
    }


def test_ids_are_numbered_in_order(sample: Path) -> None:
    """Ids are a letter and a zero-padded number counting up from 1."""
    for name, letter, width in (
        ("customers.csv", "C", 6),
        ("claims.csv", "I", 7),
        ("payments.csv", "P", 7),
        ("events.csv", "E", 7),
    ):
        ids = [row["id"] for row in read(sample, name)]
        assert ids == [f"{letter}{n:0{width}d}" for n in range(1, len(ids) + 1)]


def test_customer_fields(sample: Path) -> None:
    """Customers have known kinds and segments; only businesses have a credit
    limit; a few miss an e-mail or an address or carry a dunning group."""
    customers = read(sample, "customers.csv")

    for row in customers:
        assert row["currency"] == "EUR"
        assert row["language"] in {"de", "en", "fr"}
        if row["kind"] == "business":
            assert row["segment"] in {"key", "standard", "small"}
            assert cents(row["credit_limit"]) >= 100_000
        else:
            assert (row["kind"], row["segment"], row["credit_limit"]) == (
                "consumer",
                "retail",
                "",
            )
        if row["email"]:
            assert re.fullmatch(
                r"[a-z0-9.-]+@[a-z0-9.-]+\.(example|com|net|org)", row["email"]
            )
    # 500 customers: about 14 % without e-mail, 2 % without address, 1 % with a
    # dunning group; the bounds only say "some, but not most".
    assert 20 < sum(not row["email"] for row in customers) < 150
    assert 0 < sum(not row["address"] for row in customers) < 30
    assert 0 < sum(bool(row["dunning_group"]) for row in customers) < 20


def test_amounts_and_currencies(sample: Path) -> None:
    """Every amount has a dot and two decimals; everything is in EUR."""
    for row in read(sample, "claims.csv"):
        assert (row["kind"], row["currency"]) == ("invoice", "EUR")
        assert cents(row["amount"]) >= 500
    for row in read(sample, "payments.csv"):
        assert (row["kind"], row["currency"]) == ("payment", "EUR")
        assert cents(row["amount"]) > 0
    for row in read(sample, "events.csv"):
        assert row["amount"] == "" or cents(row["amount"]) > 0


# ---- consistency ------------------------------------------------------------


def test_every_claims_customer_exists(sample: Path) -> None:
    """Each claim belongs to a customer in customers.csv."""
    customers = {row["id"] for row in read(sample, "customers.csv")}

    assert {row["customer_id"] for row in read(sample, "claims.csv")} <= customers


def test_payments_belong_to_claims_and_never_exceed_them(sample: Path) -> None:
    """Each payment is for a known claim, and a claim is never overpaid."""
    amounts = {row["id"]: cents(row["amount"]) for row in read(sample, "claims.csv")}
    paid: dict[str, int] = defaultdict(int)

    for row in read(sample, "payments.csv"):
        assert row["claim_id"] in amounts
        paid[row["claim_id"]] += cents(row["amount"])

    assert all(paid[claim] <= amounts[claim] for claim in paid)


def test_events_belong_to_the_claims_customer(sample: Path) -> None:
    """Each event names a known claim and that claim's customer."""
    owner = {row["id"]: row["customer_id"] for row in read(sample, "claims.csv")}

    for row in read(sample, "events.csv"):
        assert owner[row["claim_id"]] == row["customer_id"]


def test_due_date_is_issue_date_plus_14_or_30_days(sample: Path) -> None:
    """Payment terms are 14 or 30 days."""
    terms = {
        (day(row["due_date"]) - day(row["issue_date"])).days
        for row in read(sample, "claims.csv")
    }

    assert terms == {14, 30}


def test_dates_stay_in_the_period(sample: Path) -> None:
    """Claims are issued on working days of the period, in id order; nothing
    is dated before its claim's issue date or after the period's end."""
    claims = read(sample, "claims.csv")
    issued = {row["id"]: day(row["issue_date"]) for row in claims}
    end = dt.date(2025, 12, 31)

    dates = [issued[row["id"]] for row in claims]
    assert dates == sorted(dates)
    assert dt.date(2025, 1, 1) <= dates[0] and dates[-1] <= end
    assert all(date.weekday() < 5 for date in dates)
    for row in read(sample, "payments.csv"):
        assert issued[row["claim_id"]] <= day(row["paid_on"]) <= end
    for row in read(sample, "events.csv"):
        assert issued[row["claim_id"]] <= day(row["happened_on"]) <= end


def test_events_are_disputes_and_promises(sample: Path) -> None:
    """A dispute is resolved only after it was opened; a promise has a date
    after it was given and an amount."""
    opened: dict[str, dt.date] = {}

    for row in read(sample, "events.csv"):
        happened = day(row["happened_on"])
        if row["kind"] == "dispute_opened":
            opened[row["claim_id"]] = happened
            assert (row["until"], row["amount"]) == ("", "")
            assert row["reason"]
        elif row["kind"] == "dispute_resolved":
            assert opened[row["claim_id"]] < happened
        else:
            assert row["kind"] == "promise_given"
            assert day(row["until"]) > happened
            assert cents(row["amount"]) > 0


# ---- shares -----------------------------------------------------------------


def first_quarter(
    directory: Path,
) -> tuple[list[dict[str, str]], dict[str, int], dict[str, dt.date]]:
    """Claims issued January to March, with paid cents and last payment day.

    Only these claims are counted: their story is over by the end of the year
    in all but a handful of cases (a payment would need to be some 245 days
    late), so cutting off at the end of the period hardly changes the shares.
    """
    claims = [
        row for row in read(directory, "claims.csv") if row["issue_date"] < "2025-04"
    ]
    paid: dict[str, int] = defaultdict(int)
    last: dict[str, dt.date] = {}
    for row in read(directory, "payments.csv"):
        paid[row["claim_id"]] += cents(row["amount"])
        last[row["claim_id"]] = day(row["paid_on"])  # parts come in date order
    return claims, paid, last


def test_share_of_never_paid_claims(large_samples: list[Path]) -> None:
    """About 3.7 % of claims are never paid.

    Expected share: without a dispute the habits give 0.50 * 1 % + 0.35 * 3 % +
    0.15 * 12 % = 3.35 %; the 5 % disputed claims are never paid in 10 % of
    cases. Together 0.95 * 3.35 % + 0.05 * 10 % = 3.7 %. About 2,900 claims
    per sample give a binomial spread of 0.35 points; customers with many
    claims add about 0.15, so 0.4 points in all. The bounds are four of those
    either side, and they hold the intended 3 to 5 % in the middle.
    """
    for directory in large_samples:
        claims, paid, _ = first_quarter(directory)
        never = sum(row["id"] not in paid for row in claims) / len(claims)

        assert len(claims) > 2500
        assert 0.020 <= never <= 0.055


def test_share_of_late_payments(large_samples: list[Path]) -> None:
    """About 35 % of paid claims are paid after their due date, some of them
    weeks to months after.

    Expected share among claims paid in full: without a dispute a paid claim
    is late with the habit's chance, weighted by the habits' shares of paid
    claims, (0.50 * 0.99 * 15 % + 0.35 * 0.97 * 40 % + 0.15 * 0.88 * 80 %) /
    (0.50 * 0.99 + 0.35 * 0.97 + 0.15 * 0.88) = 32.7 %. Disputed claims are
    paid after the dispute is resolved, which is after the due date in 90 to
    100 % of cases; they are 4.7 % of paid claims, so the whole is 35.3 %.
    The spread is about 1.2 points (0.9 binomial, 0.8 from customers whose
    habit weighs on many claims); the bounds are five of those either side.
    Of the late claims 30 % take 14 days plus a log-normal with a median of 30
    (86 % of those are over four weeks late), the rest a few days.
    """
    for directory in large_samples:
        claims, paid, last = first_quarter(directory)
        settled = [row for row in claims if paid[row["id"]] == cents(row["amount"])]
        days_late = [
            (last[row["id"]] - day(row["due_date"])).days
            for row in settled
            if last[row["id"]] > day(row["due_date"])
        ]
        long_late = sum(days > 28 for days in days_late) / len(days_late)

        assert 0.29 <= len(days_late) / len(settled) <= 0.42
        assert 0.15 <= long_late <= 0.40
        assert max(days_late) > 90
        assert sorted(days_late)[len(days_late) // 2] < 14


def test_disputed_claims_are_paid_later(sample: Path) -> None:
    """On average a disputed claim is paid weeks later than an undisputed one."""
    disputed = {
        row["claim_id"]
        for row in read(sample, "events.csv")
        if row["kind"] == "dispute_opened"
    }
    due = {row["id"]: day(row["due_date"]) for row in read(sample, "claims.csv")}
    delays: dict[bool, list[int]] = {True: [], False: []}
    for row in read(sample, "payments.csv"):
        delay = (day(row["paid_on"]) - due[row["claim_id"]]).days
        delays[row["claim_id"] in disputed].append(delay)

    def mean(values: list[int]) -> float:
        return sum(values) / len(values)

    assert mean(delays[True]) > mean(delays[False]) + 14


def test_some_claims_are_paid_in_two_parts(sample: Path) -> None:
    """About 8 % of paid claims come in two payments, the larger share in one."""
    parts: dict[str, int] = defaultdict(int)
    for row in read(sample, "payments.csv"):
        parts[row["claim_id"]] += 1

    assert set(parts.values()) == {1, 2}
    assert 0.04 <= sum(n == 2 for n in parts.values()) / len(parts) <= 0.12


# ---- invariants over many settings -------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    customers=st.integers(1, 20),
    claims=st.integers(1, 80),
    seed=st.integers(0, 2**40),
    start=st.dates(dt.date(2020, 1, 1), dt.date(2030, 1, 1)),
    length=st.integers(0, 400),
)
def test_any_settings_give_consistent_files(
    tmp_path_factory: pytest.TempPathFactory,
    customers: int,
    claims: int,
    seed: int,
    start: dt.date,
    length: int,
) -> None:
    """Whatever the settings, the files hold together and respect the period."""
    directory = tmp_path_factory.mktemp("any")
    end = start + dt.timedelta(days=length)
    summary = write_sample(
        directory, SampleSettings(customers, claims, seed, start, end)
    )

    customer_ids = {row["id"] for row in read(directory, "customers.csv")}
    claim_rows = read(directory, "claims.csv")
    amounts = {row["id"]: cents(row["amount"]) for row in claim_rows}
    paid: dict[str, int] = defaultdict(int)
    for row in read(directory, "payments.csv"):
        paid[row["claim_id"]] += cents(row["amount"])
        assert day(row["paid_on"]) <= end

    assert [file.rows for file in summary.files][:2] == [customers, claims]
    assert len(customer_ids) == customers
    for row in claim_rows:
        assert row["customer_id"] in customer_ids
        assert start <= day(row["issue_date"]) <= end
    assert all(paid[claim] <= amounts[claim] for claim in paid)
    assert not list(directory.glob(".*"))


def test_summary_counts_the_rows_written(tmp_path: Path) -> None:
    """The summary names each file and its number of data rows."""
    summary = write_sample(tmp_path, SampleSettings(customers=30, claims=90, seed=3))

    assert [file.path for file in summary.files] == [tmp_path / n for n in FILES]
    for file in summary.files:
        lines = file.path.read_text(encoding="utf-8").count("\n")
        assert file.rows == lines - 1
    assert summary.rows == sum(file.rows for file in summary.files)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"customers": 0, "claims": 1}, "customers must be at least 1, not 0"),
        ({"customers": 1, "claims": 0}, "claims must be at least 1, not 0"),
        ({"customers": 1, "claims": 1, "seed": -1}, "seed must be 0 or more, not -1"),
        (
            {
                "customers": 1,
                "claims": 1,
                "start": dt.date(2025, 2, 1),
                "end": dt.date(2025, 1, 31),
            },
            "end 2025-01-31 is before start 2025-02-01",
        ),
    ],
)
def test_settings_refuse_impossible_values(
    arguments: dict[str, object], message: str
) -> None:
    """Settings that cannot make a sample are refused with a plain reason."""
    with pytest.raises(ValueError) as raised:
        SampleSettings(**arguments)  # type: ignore[arg-type]

    assert str(raised.value) == message


def test_interrupted_run_leaves_earlier_files_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If writing fails halfway, the files of the last run stay as they were
    and no partial file is left behind."""
    write_sample(tmp_path, SampleSettings(customers=20, claims=100, seed=1))
    before = {name: (tmp_path / name).read_bytes() for name in FILES}
    history = engine.sample._history
    calls = 0

    def failing_history(*arguments: object) -> object:
        nonlocal calls
        calls += 1
        if calls > 500:
            raise KeyboardInterrupt
        return history(*arguments)  # type: ignore[arg-type]

    monkeypatch.setattr(engine.sample, "_history", failing_history)
    with pytest.raises(KeyboardInterrupt):
        write_sample(tmp_path, SampleSettings(customers=20, claims=1000, seed=2))

    assert {name: (tmp_path / name).read_bytes() for name in FILES} == before
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(FILES)


# ---- command line -----------------------------------------------------------


def test_command_writes_the_files_and_prints_a_summary(tmp_path: Path) -> None:
    """`dunning sample-data` writes the four files and says so on one line."""
    target = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        [
            "sample-data",
            "--customers",
            "3",
            "--claims",
            "1",
            "--seed",
            "4",
            "--start",
            "2025-03-03",
            "--end",
            "2025-03-03",
            str(target),
        ],
    )

    # A one-day period ends on the day the only claim is issued: disputes and
    # nearly all payments come on later days, so none is written.
    assert result.exit_code == 0
    assert result.output == (
        f"Wrote 4 files to {target}: customers.csv 3 rows, claims.csv 1 row, "
        "payments.csv 0 rows, events.csv 0 rows.\n"
    )
    assert sorted(path.name for path in target.iterdir()) == sorted(FILES)
    assert read(target, "claims.csv")[0]["issue_date"] == "2025-03-03"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["--customers", "0", "--claims", "5"],
            "Invalid value for '--customers': 0 is less than 1",
        ),
        (
            ["--customers", "-3", "--claims", "5"],
            "Invalid value for '--customers': -3 is less than 1",
        ),
        (
            ["--customers", "2", "--claims", "0"],
            "Invalid value for '--claims': 0 is less than 1",
        ),
        (
            ["--customers", "two", "--claims", "5"],
            "Invalid value for '--customers': 'two' is not a whole number",
        ),
        (
            # Digits of other scripts, and Python's underscores, are not 0-9.
            ["--customers", "\uff13", "--claims", "5"],
            "Invalid value for '--customers': '\uff13' is not a whole number",
        ),
        (
            ["--customers", "1_0", "--claims", "5"],
            "Invalid value for '--customers': '1_0' is not a whole number",
        ),
        (
            ["--customers", "2", "--claims", "5", "--seed", "-1"],
            "Invalid value for '--seed': -1 is less than 0",
        ),
        (
            ["--customers", "2", "--claims", "5", "--start", "2025-02-30"],
            "Invalid value for '--start': '2025-02-30' is not a day in the calendar",
        ),
        (
            ["--customers", "2", "--claims", "5", "--end", "31.12.2025"],
            "Invalid value for '--end': '31.12.2025' is not a date written as "
            "YYYY-MM-DD",
        ),
        (
            [
                "--customers",
                "2",
                "--claims",
                "5",
                "--start",
                "2025-06-01",
                "--end",
                "2025-05-31",
            ],
            "Invalid value for '--start': 2025-06-01 is after --end 2025-05-31",
        ),
        (["--claims", "5"], "Missing option '--customers'."),
    ],
)
def test_command_refuses_bad_arguments(
    tmp_path: Path, arguments: list[str], message: str
) -> None:
    """Bad arguments stop with exit code 2, naming the option and the value,
    and write nothing."""
    target = tmp_path / "out"
    result = CliRunner().invoke(cli, ["sample-data", *arguments, str(target)])

    assert result.exit_code == 2
    assert result.output.endswith(f"Error: {message}\n")
    assert not target.exists()


def test_command_reports_a_directory_it_cannot_write(tmp_path: Path) -> None:
    """A target below a plain file stops with exit code 1 and a plain reason."""
    (tmp_path / "file").write_text("not a folder", encoding="utf-8")
    target = tmp_path / "file" / "sample"
    result = CliRunner().invoke(
        cli, ["sample-data", "--customers", "1", "--claims", "1", str(target)]
    )

    assert result.exit_code == 1
    assert result.output == (
        f"Error: cannot write the sample to {target}: Not a directory\n"
    )

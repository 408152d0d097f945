"""A daily run over a million open claims, side by side with the naive way and
the limit.

    python bench/bench_scale.py [--claims 1000000] [--customers 200000]

Generates the claims with the project's sample-data generator, issued over the
100 days up to the measured day (a Thursday), and imports them with the
payments that arrive on that day, so that every claim is open. The database is
then brought to the state daily runs would have left: the history up to two
days before is written directly (see bench/scale_reference.py), and the engine
runs the day before, whose moves must be the ones the history predicts. On the
measured day about 5 % of the claims change state.

The engine's run of the measured day is timed in a process of its own, so that
its peak memory is its own. Two reference implementations decide the same day:
the naive way (a `transitions` machine per claim, on 100,000 of the claims)
and the limit (a raw sqlite3 loop over every open claim); their moves, and the
raw loop's outbox items, must equal the engine's. The engine and the raw loop
run --repeat times each (3), taking turns on fresh copies of the database, and
the best time counts. The measured run is repeated on a quarter of the claims,
to show whether memory grows with them.

--claims 20000 makes a quick check. --profile adds the time of each SQL
statement of the measured run, and cProfile figures of one more run of the
same day, on a copy.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from scale_reference import (  # noqa: E402
    PAID,
    POLICY_PATH,
    RULES,
    Charge,
    Move,
    NaiveResult,
    RawResult,
    cents,
    naive_run,
    raw_run,
    write_history,
)

from dunlang import load_policy  # noqa: E402
from engine.importer import apply_import, check_file  # noqa: E402
from engine.runner import Runner  # noqa: E402
from engine.sample import SampleSettings, write_sample  # noqa: E402
from engine.store import Store  # noqa: E402

MEASURED_DAY = dt.date(2025, 6, 5)  # a Thursday
ISSUE_DAYS = 100  # claims are issued over this many days up to the measured day
NAIVE_CLAIMS = 100_000
TARGET_NAIVE_FACTOR = 100
TARGET_INSERT_SHARE = 0.5
TARGET_RSS_MIB = 300
# Memory counts as not growing with the claims when, growing on from the two
# measured peaks at the same rate, ten times the claims would still peak under
# the target.
GROWTH_CHECKED_AT = 10


# ---- the measured run, in a process of its own -------------------------------


class _TimedConnection:
    """The store's connection, timing each kind of statement the run sends."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.statements: dict[str, list[float]] = {}  # seconds, calls, rows

    def execute(self, sql: str, *parameters: Any) -> Any:
        """Run one statement and time it."""
        began = time.perf_counter()
        cursor = self._conn.execute(sql, *parameters)
        self._note(sql, time.perf_counter() - began, 0)
        return cursor

    def executemany(self, sql: str, rows: Any) -> Any:
        """Run one statement for many rows and time it."""
        rows = list(rows)
        began = time.perf_counter()
        cursor = self._conn.executemany(sql, rows)
        self._note(sql, time.perf_counter() - began, len(rows))
        return cursor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def _note(self, sql: str, seconds: float, rows: int) -> None:
        figures = self.statements.setdefault(_statement(sql), [0.0, 0, 0])
        figures[0] += seconds
        figures[1] += 1
        figures[2] += rows

    def audit_inserts(self) -> tuple[float, int]:
        """Seconds spent inserting audit rows, and how many rows."""
        seconds, _, rows = self.statements.get("INSERT INTO transitions", [0.0, 0, 0])
        return seconds, int(rows)


def _statement(sql: str) -> str:
    """A statement named by what it does to which table: `UPDATE claims`."""
    words = sql.split()
    upper = [word.upper() for word in words]
    if upper[0] in ("INSERT", "DELETE"):
        return " ".join(words[:3])
    if upper[0] == "UPDATE":
        return " ".join(words[:2])
    if upper[0] == "CREATE":
        return " ".join(words[: upper.index("AS") if "AS" in upper else 4])
    if "FROM" in upper:
        return f"{words[0]} ... FROM {words[upper.index('FROM') + 1]}"
    return " ".join(words[:2])


def _memory_mib(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process, in MiB.

    VmHWM belongs to the program this process runs; `ru_maxrss` would also
    count what the benchmark held when it started this process.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise OSError("no /proc/self/status: the benchmark needs Linux")


def measure_run(database: str, day: str, profile: str | None) -> None:
    """Run the engine for one day and print what it took, as JSON."""
    policy = load_policy(str(POLICY_PATH))
    store = Store.open(database, create=False)
    timed = _TimedConnection(store.db.conn)
    store.db.conn = timed  # type: ignore[assignment]
    before = _memory_mib("VmRSS")

    profiler = cProfile.Profile()
    began = time.perf_counter()
    if profile:
        profiler.enable()
    result = Runner(store, policy).run(dt.date.fromisoformat(day))
    if profile:
        profiler.disable()
        profiler.dump_stats(profile)
    seconds = time.perf_counter() - began
    store.close()

    insert_seconds, insert_rows = timed.audit_inserts()
    figures = {
        "seconds": seconds,
        "run_id": result.run_id,
        "claims_evaluated": result.claims_evaluated,
        "transitions": result.transitions,
        "insert_seconds": insert_seconds,
        "insert_rows": insert_rows,
        "memory_before_mib": before,
        "peak_mib": _memory_mib("VmHWM"),
        "statements": timed.statements,
    }
    print(json.dumps(figures))


@dataclass
class EngineRun:
    """The engine's measured run as its process reported it."""

    seconds: float
    run_id: int
    claims_evaluated: int
    transitions: int
    insert_seconds: float
    insert_rows: int
    memory_before_mib: float
    peak_mib: float
    statements: dict[str, list[float]]
    moves: set[Move] = field(default_factory=set)
    charges: set[Charge] = field(default_factory=set)

    @property
    def own_mib(self) -> float:
        """Memory the run added to what the process held before it."""
        return self.peak_mib - self.memory_before_mib


def run_engine(database: Path, day: dt.date, profile: Path | None = None) -> EngineRun:
    """The engine's run of `day` in a new process; what it decided and took."""
    store = Store.open(database, create=False)
    last = _last_audit_row(store.conn)
    store.close()

    command = [sys.executable, __file__, "--measure-run", str(database), str(day)]
    if profile:
        command += ["--profile-to", str(profile)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"the engine's run of {day} failed:\n{done.stderr}")
    run = EngineRun(**json.loads(done.stdout))
    if run.insert_rows != run.transitions:
        sys.exit(
            f"the engine wrote {run.transitions:,} audit rows, but only "
            f"{run.insert_rows:,} went through `INSERT INTO transitions` on the "
            "store's connection, where the benchmark times them"
        )

    store = Store.open(database, create=False)
    run.moves = _moves(store.conn, run.run_id, last)
    run.charges = {
        (claim, measure, None if fee is None else cents(fee))
        for claim, measure, fee in store.conn.execute(
            "SELECT claim_id, measure, fee FROM measures "
            "WHERE transition_id > ? AND run_id = ?",
            (last, run.run_id),
        )
    }
    store.close()
    return run


def _last_audit_row(conn: Any) -> int:
    return int(
        conn.execute("SELECT coalesce(max(id), 0) FROM transitions").fetchone()[0]
    )


def _moves(conn: Any, run_id: int | None, after: int) -> set[Move]:
    """What a run decided; its audit rows all come after row `after`."""
    return set(
        conn.execute(
            "SELECT claim_id, group_name, from_state, to_state FROM transitions "
            "WHERE id > ? AND run_id = ?",
            (after, run_id),
        )
    )


# ---- preparation -------------------------------------------------------------


@dataclass
class Prepared:
    """A database ready for the measured day, and what making it took."""

    path: Path
    customers: int
    open_claims: int
    generate_seconds: float
    import_seconds: float
    history_seconds: float
    history_rows: int
    day_before_seconds: float
    day_before_moves: int


def prepare(folder: Path, claims: int, customers: int, day: dt.date) -> Prepared:
    """Generate, import and bring a database to the evening before `day`."""
    began = time.perf_counter()
    data = folder / "data"
    first = day - dt.timedelta(days=ISSUE_DAYS - 1)
    write_sample(data, SampleSettings(customers, claims, seed=1, start=first, end=day))
    _keep_payments_of(data / "payments.csv", day)
    generated = time.perf_counter()

    path = folder / "dunning.db"
    store = Store.open(path)
    for kind in ("customers", "claims", "payments"):
        apply_import(store, check_file(str(data / f"{kind}.csv"), [kind]))
    store.close()
    shutil.rmtree(data)
    imported = time.perf_counter()

    policy = load_policy(str(POLICY_PATH))
    before = day - dt.timedelta(days=1)
    history = write_history(path, before - dt.timedelta(days=1), policy.header.name)
    written = time.perf_counter()

    store = Store.open(path, create=False)
    last = _last_audit_row(store.conn)
    result = Runner(store, policy).run(before)
    moves = _moves(store.conn, result.run_id, last)
    open_claims = store.conn.execute(
        "SELECT count(*) FROM claims WHERE settled_on IS NULL AND issue_date <= ?",
        (day.isoformat(),),
    ).fetchone()[0]
    store.close()
    _require_same(f"the moves of the engine's run of {before}", moves, history.next_day)

    return Prepared(
        path=path,
        customers=customers,
        open_claims=int(open_claims),
        generate_seconds=generated - began,
        import_seconds=imported - generated,
        history_seconds=written - imported,
        history_rows=history.transitions,
        day_before_seconds=time.perf_counter() - written,
        day_before_moves=len(moves),
    )


def _keep_payments_of(path: Path, day: dt.date) -> None:
    """Keep only the payments of `day`: until then every claim stays open."""
    wanted = f",{day.isoformat()},"
    kept = path.with_name("kept.csv")
    with path.open(encoding="utf-8") as source, kept.open("w", encoding="utf-8") as out:
        out.write(next(source))
        out.writelines(line for line in source if wanted in line)
    kept.replace(path)


def _require_same(what: str, engine: set[Any], reference: set[Any]) -> None:
    """Stop the benchmark when a reference decided otherwise than the engine."""
    if engine == reference:
        return
    only_engine = sorted(engine - reference, key=str)[:3]
    only_reference = sorted(reference - engine, key=str)[:3]
    sys.exit(
        f"{what} differ: {len(engine - reference):,} only in the engine, such as "
        f"{only_engine}; {len(reference - engine):,} only in the reference, such "
        f"as {only_reference}"
    )


def _check_mirror() -> None:
    """Stop unless the references' hand-written rules are the policy's rules."""
    policy = load_policy(str(POLICY_PATH))
    written = {
        policy.source_line(rule.span.line)
        for dunning in policy.dunnings.values()
        for rule in dunning.transitions
    }
    mirrored = {rule.text for rule in RULES}
    if written != mirrored:
        sys.exit(
            f"{POLICY_PATH.name} and bench/scale_reference.py disagree: only in the "
            f"policy {sorted(written - mirrored)}, only in the reference "
            f"{sorted(mirrored - written)}"
        )


def _copy(database: Path, to: Path) -> Path:
    """A copy of the database, on disk before it is used: otherwise the
    timed run would also wait for the copy's gigabyte to be written back."""
    for suffix in ("", "-wal", "-shm"):
        source = database.with_name(database.name + suffix)
        if source.exists():
            shutil.copyfile(source, to.with_name(to.name + suffix))
    os.sync()
    return to


def _remove(database: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)


# ---- the benchmark -----------------------------------------------------------


def benchmark(
    claims: int, customers: int, folder: Path, repeat: int, profile: bool
) -> None:
    """Prepare, measure and compare; print the figures as they come."""
    day = MEASURED_DAY
    full = prepare(folder / "full", claims, customers, day)
    _print_preparation(full, day, repeat)

    # The engine and the raw loop take turns, each on a fresh copy of the
    # prepared database, so that both meet the same load from elsewhere.
    engines: list[EngineRun] = []
    raws: list[RawResult] = []
    for _ in range(repeat):
        engines.append(run_engine(_copy(full.path, folder / "engine.db"), day))
        _remove(folder / "engine.db")
        raws.append(raw_run(_copy(full.path, folder / "raw.db"), day))
        _remove(folder / "raw.db")
        _require_same("the raw loop's moves", engines[-1].moves, raws[-1].moves)
        _require_same(
            "the raw loop's outbox items", engines[-1].charges, raws[-1].charges
        )
    engine, raw = _best_engine(engines), _best_raw(raws)
    _print_engine(engine, full)

    # The naive engine rolls its writes back: the prepared database stays as it is.
    every = -(-full.open_claims // NAIVE_CLAIMS)  # rounded up
    naive = naive_run(full.path, day, every)
    engine_share = {move for move in engine.moves if move[0] in naive.claims}
    _require_same("the naive engine's moves", engine_share, naive.moves)
    _print_naive(naive, engine, full, every)
    _print_raw(raw)
    if profile:
        _print_profile(engine, _copy(full.path, folder / "profiled.db"), day)
        _remove(folder / "profiled.db")
    _remove(full.path)

    quarter = prepare(folder / "quarter", claims // 4, max(1, customers // 4), day)
    smalls = []
    for _ in range(repeat):
        smalls.append(run_engine(_copy(quarter.path, folder / "engine.db"), day))
        _remove(folder / "engine.db")
    _remove(quarter.path)
    small = _best_engine(smalls)
    print(f"engine, measured run at a quarter of the claims ({quarter.open_claims:,})")
    _line("wall time", f"{small.seconds:.2f} s")
    _line("claims per second", f"{quarter.open_claims / small.seconds:,.0f}")
    _line("peak memory (RSS)", _memory(small))

    _print_targets(engine, naive, raw, full, small, quarter)


def _best_engine(runs: list[EngineRun]) -> EngineRun:
    """The fastest run, with the fastest inserts and the highest peak of all."""
    fastest = min(runs, key=lambda run: run.seconds)
    inserts = max(runs, key=lambda run: _rate(run.insert_rows, run.insert_seconds))
    largest = max(runs, key=lambda run: run.peak_mib)
    return replace(
        fastest,
        insert_seconds=inserts.insert_seconds,
        insert_rows=inserts.insert_rows,
        memory_before_mib=largest.memory_before_mib,
        peak_mib=largest.peak_mib,
    )


def _best_raw(runs: list[RawResult]) -> RawResult:
    """The fastest run, with the fastest inserts of all."""
    fastest = min(runs, key=lambda run: run.seconds)
    inserts = min(runs, key=lambda run: run.insert_seconds)
    return replace(fastest, insert_seconds=inserts.insert_seconds)


def _line(label: str, value: str) -> None:
    print(f"  {label:<44} {value}", flush=True)


def _rate(rows: int, seconds: float) -> float:
    return rows / seconds if seconds > 0 else 0.0


def _memory(run: EngineRun) -> str:
    return (
        f"{run.peak_mib:.0f} MiB ({run.memory_before_mib:.0f} MiB before the run, "
        f"{run.own_mib:.0f} MiB added by it)"
    )


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def _print_preparation(full: Prepared, day: dt.date, repeat: int) -> None:
    first = day - dt.timedelta(days=ISSUE_DAYS - 1)
    print(
        f"Daily run at scale: {full.open_claims:,} open claims of {full.customers:,} "
        f"customers, measured day {day} ({day:%A}), policy bench/{POLICY_PATH.name}"
    )
    if repeat > 1:
        print(
            f"(the engine and the raw loop run {repeat} times each, on fresh copies "
            "of the database: the best time and the highest memory peak count)"
        )
    print("preparation (not measured)")
    _line("sample data generated", f"{full.generate_seconds:.1f} s")
    _line("imported", f"{full.import_seconds:.1f} s")
    _line(
        f"history {first} to {day - dt.timedelta(days=2)} written",
        f"{full.history_seconds:.1f} s ({full.history_rows:,} audit rows)",
    )
    _line(
        f"engine run of {day - dt.timedelta(days=1)}",
        f"{full.day_before_seconds:.1f} s ({full.day_before_moves:,} moves, "
        "those the history predicts)",
    )


def _print_engine(engine: EngineRun, full: Prepared) -> None:
    settled = sum(1 for move in engine.moves if move[3] == PAID)
    new = sum(1 for move in engine.moves if move[2] is None)
    stepped = len(engine.moves) - settled - new
    changed = stepped + settled
    print("engine, measured run in a process of its own")
    _line("wall time", f"{engine.seconds:.2f} s")
    _line(
        "claims per second",
        f"{full.open_claims / engine.seconds:,.0f} (over all open claims)",
    )
    _line(
        "claims that change state",
        f"{changed:,} ({changed / full.open_claims:.1%}): {stepped:,} timed steps, "
        f"{settled:,} settled; and {new:,} new claims allocated",
    )
    _line("claims looked at", f"{engine.claims_evaluated:,}")
    _line(
        "audit rows per second",
        f"{_rate(engine.transitions, engine.seconds):,.0f} over the run, "
        f"{_rate(engine.insert_rows, engine.insert_seconds):,.0f} while inserting "
        f"({engine.transitions:,} rows)",
    )
    _line("peak memory (RSS)", _memory(engine))


def _print_naive(
    naive: NaiveResult, engine: EngineRun, full: Prepared, every: int
) -> None:
    share = "every claim" if every == 1 else f"1 claim in {every}"
    per_claim = naive.seconds / len(naive.claims)
    print(f"naive engine: a transitions Machine per claim, {share}")
    _line("claims", f"{len(naive.claims):,}")
    _line("time", f"{naive.seconds:.1f} s")
    _line(
        "time per claim",
        f"{per_claim * 1e6:.1f} µs (engine: "
        f"{engine.seconds / full.open_claims * 1e6:.2f} µs per open claim)",
    )
    _line(
        f"extrapolated to {full.open_claims:,} claims",
        f"{per_claim * full.open_claims:.0f} s",
    )
    _line("same moves as the engine", f"yes, {len(naive.moves):,} moves")


def _print_raw(raw: RawResult) -> None:
    print("raw sqlite3 loop: full scan, a dict per state, executemany, one transaction")
    _line("open claims scanned", f"{raw.open_claims:,}")
    _line(
        "time",
        f"{raw.seconds:.2f} s (scan and decide {raw.scan_seconds:.2f} s, "
        f"write and commit {raw.write_seconds:.2f} s)",
    )
    _line(
        "audit rows per second",
        f"{_rate(raw.audit_rows, raw.insert_seconds):,.0f} while inserting "
        f"({raw.audit_rows:,} rows, one executemany)",
    )
    _line(
        "same decisions as the engine",
        f"yes, {len(raw.moves):,} moves and {len(raw.charges):,} outbox items",
    )


def _print_targets(
    engine: EngineRun,
    naive: NaiveResult,
    raw: RawResult,
    full: Prepared,
    small: EngineRun,
    quarter: Prepared,
) -> None:
    faster = (naive.seconds / len(naive.claims)) / (engine.seconds / full.open_claims)
    raw_rate = _rate(raw.audit_rows, raw.insert_seconds)
    inserting = _rate(engine.insert_rows, engine.insert_seconds) / raw_rate
    whole = _rate(engine.transitions, engine.seconds) / raw_rate
    more = full.open_claims - quarter.open_claims
    growth = max(0.0, engine.peak_mib - small.peak_mib)
    projected = (
        engine.peak_mib + growth * (GROWTH_CHECKED_AT - 1) * full.open_claims / more
    )
    print("targets")
    _line(
        "engine time <= raw loop time",
        f"{engine.seconds:.2f} s vs {raw.seconds:.2f} s "
        f"({engine.seconds / raw.seconds:.2f}): "
        + _verdict(engine.seconds <= raw.seconds),
    )
    _line(
        f"engine >= {TARGET_NAIVE_FACTOR}x faster per claim than naive",
        f"{faster:,.0f}x: {_verdict(faster >= TARGET_NAIVE_FACTOR)}",
    )
    # The rows any engine must write are a floor: the raw loop's writes (its
    # rows built and written, in one transaction) bound the factor above.
    ceiling = (naive.seconds / len(naive.claims)) / (
        raw.write_seconds / full.open_claims
    )
    _line(
        "",
        f"(the raw loop's writes alone take {raw.write_seconds:.2f} s: an engine "
        f"that writes these rows as fast can be at most {ceiling:,.0f}x faster)",
    )
    _line(
        f"audit rows/s >= {TARGET_INSERT_SHARE} x raw executemany",
        f"{inserting:.2f} while inserting: {_verdict(inserting >= TARGET_INSERT_SHARE)}"
        f" ({whole:.2f} over the whole run)",
    )
    _line(
        f"peak RSS < {TARGET_RSS_MIB} MiB, not growing",
        f"{engine.peak_mib:.0f} MiB at {full.open_claims:,} claims, "
        f"{small.peak_mib:.0f} MiB at {quarter.open_claims:,}: "
        f"{_verdict(engine.peak_mib < TARGET_RSS_MIB and projected < TARGET_RSS_MIB)}",
    )
    _line(
        "",
        f"(+{growth:.0f} MiB for {more:,} more claims, "
        f"{growth * 2**20 / more:.0f} bytes a claim; at that rate "
        f"{GROWTH_CHECKED_AT} times the claims would peak at {projected:.0f} MiB)",
    )


def _print_profile(engine: EngineRun, copy: Path, day: dt.date) -> None:
    """Where the measured run spent its time: its statements, then cProfile."""
    print("engine, measured run: time in SQLite by statement")
    spent = sorted(engine.statements.items(), key=lambda item: -item[1][0])
    for name, (seconds, calls, rows) in spent:
        share = f"{seconds:.2f} s ({seconds / engine.seconds:.0%})"
        count = f"{calls:,.0f} call" + ("" if calls == 1 else "s")
        _line(name, f"{share}, {count}" + (f", {rows:,.0f} rows" if rows else ""))
    _line("all statements", f"{sum(item[1][0] for item in spent):.2f} s")

    profile = copy.with_suffix(".prof")
    run_engine(copy, day, profile)
    print("engine, the same run under cProfile (repeated on a copy of the database)")
    stats = pstats.Stats(str(profile), stream=sys.stdout)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(25)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark; or, when the benchmark asks for it, one measured run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, help="default: a fifth of the claims")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--folder", help="for the databases; default: a temporary one")
    parser.add_argument("--measure-run", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    if options.measure_run:
        database, day = options.measure_run
        measure_run(database, day, options.profile_to)
        return

    if options.claims < 8:
        parser.error("--claims must be at least 8")
    if options.repeat < 1:
        parser.error("--repeat must be at least 1")
    _check_mirror()
    customers = options.customers or max(1, options.claims // 5)
    with tempfile.TemporaryDirectory(
        prefix="dunning-scale-", dir=options.folder
    ) as tmp:
        benchmark(options.claims, customers, Path(tmp), options.repeat, options.profile)


if __name__ == "__main__":
    main()

"""One year of daily runs over 100,000 generated claims: the simulation's wall time.

    python bench/bench_simulate.py [--claims 100000] [--customers 20000]

Generates the sample with the project's generator, imports it, and simulates
the German B2B example policy over 2025 (every business day of its calendar).
Prints the time of each phase and the peak memory of the process; the target
is a simulation under 60 seconds on a 2-core machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dunlang import load_policy  # noqa: E402
from engine.importer import apply_import, check_file  # noqa: E402
from engine.sample import SampleSettings, write_sample  # noqa: E402
from engine.simulate import run_days, simulate  # noqa: E402
from engine.store import Store  # noqa: E402

TARGET_SECONDS = 60.0
START, END = dt.date(2025, 1, 1), dt.date(2025, 12, 31)


def main() -> None:
    """Generate, import, simulate; print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--policy", default=str(ROOT / "policies/de-b2b-trade.dun"))
    options = parser.parse_args()
    policy = load_policy(options.policy)

    with tempfile.TemporaryDirectory(prefix="dunning-bench-") as folder:
        data = Path(folder) / "data"
        began = time.perf_counter()
        write_sample(
            data,
            SampleSettings(
                options.customers, options.claims, seed=1, start=START, end=END
            ),
        )
        generated = time.perf_counter()

        store = Store.open(Path(folder) / "bench.db")
        for kind in ("customers", "claims", "payments", "events"):
            apply_import(store, check_file(str(data / f"{kind}.csv"), [kind]))
        imported = time.perf_counter()

        report = simulate(store, policy, START, END)
        simulated = time.perf_counter()
        transitions = store.conn.execute("SELECT count(*) FROM transitions").fetchone()
        store.close()

    total = report.groups["(all groups)"]
    days = len(run_days(START, END, policy))
    seconds = simulated - imported
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"claims {options.claims:,}, customers {options.customers:,}, "
        f"policy {policy.header.name!r}, {days} run days in {START.year}"
    )
    print(f"generate {generated - began:6.1f} s")
    print(f"import   {imported - generated:6.1f} s")
    print(
        f"simulate {seconds:6.1f} s  ({seconds / days * 1000:.0f} ms per run day, "
        f"{transitions[0]:,} audit rows, {sum(total.measures.values()):,} measures)"
    )
    print(f"peak memory (RSS) {peak:.0f} MiB")
    verdict = "met" if seconds < TARGET_SECONDS else "missed"
    print(f"target: simulation under {TARGET_SECONDS:.0f} s ({verdict})")


if __name__ == "__main__":
    main()

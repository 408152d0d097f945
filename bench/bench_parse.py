"""How long loading a large policy takes: parse plus meaning checks.

Writes a policy of about 1,000 lines (many groups, measures and dunning blocks),
then times `check_text` on it: once cold, which includes reading the parser
from the user's cache or building it from the grammar, and 20 times warm,
reporting the median. Run from the repository root:

    python bench/bench_parse.py
"""

from __future__ import annotations

import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

from dunlang import CheckResult, check_text
from dunlang.checks import check_policy
from dunlang.format import format_source
from dunlang.parser import build_parser, parse_tree
from dunlang.transform import build_policy

TARGET_MS = 100.0
WARM_RUNS = 20
PARSER_RUNS = 5
GROUPS = 40
MEASURES = 60
SERIES = 4
STEPS = 10


def _measures() -> list[str]:
    lines = []
    for index in range(MEASURES):
        kind = index % 4
        if kind == 0:
            lines.append(
                f'measure letter_{index} = letter "letter-{index}" cost 0.80 EUR'
            )
        elif kind == 1:
            lines.append(
                f'measure email_{index} = email "email-{index}" fee 2.5 % of open '
                "amount min 1.00 EUR max 20.00 EUR"
            )
        elif kind == 2:
            lines.append(
                f'measure call_{index} = phone queue "queue-{index}" cost 4.50 EUR'
            )
        else:
            lines.append(
                f'measure final_{index} = letter "final-{index}" fee 5.00 EUR '
                "cost 1.20 EUR interest statutory"
            )
    return lines


def _series(number: int) -> list[str]:
    measure = f"letter_{(number * 4) % MEASURES}"
    return [
        f"series letters_{number}",
        f"  step_{STEPS} -> late_{number} after 14 days in state do {measure}",
        f"  late_{number} -> final after 10 business days in state "
        f"when claim.open_amount >= 25.00 EUR",
        "",
    ]


def _dunning(group: str, number: int) -> list[str]:
    def measure(step: int) -> str:
        return _measure_name((number * 7 + step) % MEASURES)

    lines = [
        f"dunning {group}",
        "  terminal written_off, agency",
        "  hold on_hold",
        f"  current -> step_1 after 5 days overdue when claim.open_amount >= 10 EUR "
        f"do {measure(0)}",
    ]
    for step in range(1, STEPS):
        lines.append(
            f"  step_{step} -> step_{step + 1} after {7 + step} days in state "
            f"do {measure(step)}"
        )
    lines += [
        f"  use letters_{number % SERIES}",
        "  final -> agency after 14 days in state when claim.open_amount > 500 EUR "
        f'and customer.segment != "key" do {measure(STEPS)}',
        "  final -> written_off after 30 days in state at end of month",
        "  on payment -> paid",
        "  on dispute_opened -> on_hold",
        "  on dispute_resolved from on_hold -> back",
        f"  on promise_broken from on_hold -> step_2 do {measure(STEPS + 1)}",
        "",
    ]
    return lines


def _measure_name(index: int) -> str:
    return ("letter", "email", "call", "final")[index % 4] + f"_{index}"


def large_policy() -> str:
    """A valid policy of about 1,000 lines."""
    lines = [
        "# A large policy for timing the loader.",
        'policy "Benchmark" version "1"',
        "  currency EUR",
        '  timezone "Europe/Berlin"',
        "  calendar DE-NI",
        "",
    ]
    for index in range(GROUPS):
        lines.append(
            f'group group_{index} when customer.segment = "segment-{index}" '
            f"or customer.credit_limit >= {1000 + index} EUR  # rule {index}"
        )
    lines += ["group standard otherwise", ""]
    lines += _measures()
    lines.append("")
    for number in range(SERIES):
        lines += _series(number)
    for index, group in enumerate([f"group_{i}" for i in range(GROUPS)] + ["standard"]):
        lines += _dunning(group, index)
    return "\n".join(lines)


def _milliseconds(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def _median(step: Callable[[], object], runs: int = WARM_RUNS) -> float:
    """Median time of a step over the warm runs, in milliseconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        times.append(_milliseconds(start))
    return statistics.median(times)


class _Messages(logging.Handler):
    """Collects what the parser module says about its cache."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _first_call(text: str) -> tuple[CheckResult, float, str]:
    """The first `check_text` of the run, its time, and where its parser came from."""
    messages = _Messages()
    logger = logging.getLogger("dunlang.parser")
    logger.addHandler(messages)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        start = time.perf_counter()
        result = check_text(text, "benchmark.dun")
        cold = _milliseconds(start)
    finally:
        logger.removeHandler(messages)
        logger.setLevel(level)
    read = any(line.startswith("parser read from") for line in messages.lines)
    return result, cold, "read from the cache" if read else "built"


def _parser_times() -> tuple[float, float]:
    """Median times to build the parser from the grammar and to read it back."""
    grammar = files("dunlang").joinpath("dunlang.lark").read_text(encoding="utf-8")
    built = _median(lambda: build_parser(grammar, None), PARSER_RUNS)
    with tempfile.TemporaryDirectory() as directory:
        build_parser(grammar, Path(directory))
        read = _median(lambda: build_parser(grammar, Path(directory)), PARSER_RUNS)
    return built, read


def main() -> int:
    """Time the loader and print the figures next to the target."""
    text = large_policy()
    line_count = text.count("\n") + 1

    result, cold, parser_source = _first_call(text)
    if result.errors or result.policy is None:
        print(f"the generated policy has {len(result.errors)} errors:", file=sys.stderr)
        print(result.errors[0], file=sys.stderr)
        return 1

    warm = _median(lambda: check_text(text, "benchmark.dun"))
    tree, _ = parse_tree(text, "benchmark.dun")
    assert tree is not None
    policy = result.policy
    parse = _median(lambda: parse_tree(text, "benchmark.dun"))
    assemble = _median(lambda: build_policy(tree, text, "benchmark.dun"))
    checks = _median(lambda: check_policy(policy))
    layout = _median(lambda: format_source(text, "benchmark.dun"))
    built, read = _parser_times()

    first = f"parse + check, first call (parser {parser_source}):"
    print(f"policy: {line_count} lines, {GROUPS + 1} groups, {MEASURES} measures")
    print(f"{first:<56}{cold:7.1f} ms")
    print(f"{f'parse + check, median of {WARM_RUNS} warm runs:':<56}{warm:7.1f} ms")
    print(
        f"  of which parse {parse:.1f} ms, assemble {assemble:.1f} ms, "
        f"checks {checks:.1f} ms"
    )
    print(f"{f'layout (fmt), median of {WARM_RUNS} warm runs:':<56}{layout:7.1f} ms")
    print(
        f"parser alone, median of {PARSER_RUNS}: built {built:.1f} ms, "
        f"read from the cache {read:.1f} ms"
    )
    verdict = "met" if warm < TARGET_MS else "missed"
    print(f"target: warm parse + check under {TARGET_MS:.0f} ms ({verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

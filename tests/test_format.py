"""The canonical layout of policy files: `dunlang.format` and `dunning fmt`."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner

from dunlang import PolicyError, check_text
from dunlang.format import format_source
from dunlang.model import Policy
from engine.cli.main import cli

POLICIES = Path(__file__).resolve().parent.parent / "policies"

MESSY = """\
# Small policy, written in a hurry


policy   "Small"  version "1"
currency EUR   # all amounts in euro
group vip when (customer.segment = "key")   # the big ones
group standard otherwise
# what we send
measure reminder = letter "reminder #1"   cost 0.80 EUR
measure final_notice = letter "final"  fee 5.00 EUR interest   8 %  per year
dunning standard
terminal closed
current->reminded after 007 days overdue when (claim.open_amount >= 10.50 EUR and
    # only debts nobody disputes
    not (claim.disputed or customer.country in ["AT","CH"])) do reminder
        reminded -> final after 1 day in state do final_notice   # last letter
final -> closed after 30 days in state   at  end   of month
on payment -> paid


    # kept at the end
"""

CANONICAL = """\
# Small policy, written in a hurry

policy "Small" version "1"
  currency EUR  # all amounts in euro

group vip      when customer.segment = "key"  # the big ones
group standard otherwise

# what we send
measure reminder     = letter "reminder #1" cost 0.80 EUR
measure final_notice = letter "final" fee 5.00 EUR interest 8 % per year

dunning standard
  terminal closed
  # only debts nobody disputes
  current -> reminded after 007 days overdue when claim.open_amount >= 10.50 EUR \
and not (claim.disputed or customer.country in ["AT", "CH"]) do reminder
  reminded -> final after 1 day in state do final_notice  # last letter
  final -> closed after 30 days in state at end of month
  on payment -> paid

# kept at the end
"""


def comparable(policy: Policy | None) -> Policy:
    """A policy with the fields that depend on the text's bytes made equal."""
    assert policy is not None
    return attrs.evolve(policy, digest="", path="")


def layout(text: str) -> str:
    """The canonical layout of a policy text."""
    return format_source(text, "test.dun")


def test_pinned_layout_of_a_small_policy() -> None:
    """A messy policy with comments gets exactly the canonical layout."""
    assert layout(MESSY) == CANONICAL


def test_layout_is_stable() -> None:
    """Laying out a canonical text changes nothing."""
    assert layout(CANONICAL) == CANONICAL


def test_layout_keeps_the_model() -> None:
    """The laid-out text reads back to the same policy model."""
    assert comparable(check_text(CANONICAL).policy) == comparable(
        check_text(MESSY).policy
    )


@pytest.mark.parametrize(
    ("guard", "expected"),
    [
        (
            "(claim.a = 1 and claim.b = 2) or claim.c",
            "claim.a = 1 and claim.b = 2 or claim.c",
        ),
        (
            "claim.a = 1 and (claim.b = 2 or claim.c)",
            "claim.a = 1 and (claim.b = 2 or claim.c)",
        ),
        ("not (claim.a or claim.b)", "not (claim.a or claim.b)"),
        ("not (claim.a and claim.b)", "not (claim.a and claim.b)"),
        ("(not claim.a) and claim.b", "not claim.a and claim.b"),
        ("not (claim.a = 1)", "not claim.a = 1"),
        ("((claim.a))", "claim.a"),
        ("claim.a and (claim.b and claim.c)", "claim.a and (claim.b and claim.c)"),
        ("(claim.a or claim.b) or claim.c", "(claim.a or claim.b) or claim.c"),
        ("claim . a!=2026-02-01", "claim.a != 2026-02-01"),
        ("claim.a not in [ 1 , 2.50 ]", "claim.a not in [1, 2.50]"),
        ("claim.a in []", "claim.a in []"),
        (
            "claim.a <= 5EUR and claim.b > 3days",
            "claim.a <= 5 EUR and claim.b > 3 days",
        ),
        (
            "claim.a = 0.0000001 or claim.b = 15%",
            "claim.a = 0.0000001 or claim.b = 15 %",
        ),
        ("claim.a = true or claim.b != false", "claim.a = true or claim.b != false"),
    ],
)
def test_guards_get_only_the_brackets_they_need(guard: str, expected: str) -> None:
    """Guards lose redundant brackets, keep needed ones, and keep their numbers."""
    text = f'policy "P" version "1"\ngroup all when {guard}\n'
    assert layout(text) == f'policy "P" version "1"\n\ngroup all when {expected}\n'


def test_hash_inside_a_text_is_not_a_comment() -> None:
    """A `#` inside quotes stays in the text; the real comment after it moves."""
    text = 'policy "P #1" version "1"    # first\n'
    assert layout(text) == 'policy "P #1" version "1"  # first\n'


def test_end_of_line_comments_of_a_long_statement_are_joined() -> None:
    """Comments at the ends of a statement's lines all stay at its end."""
    text = (
        'policy "P" version "1"\n'
        "group all when (claim.a = 1   # one\n"
        "   or claim.b = 2)  # two\n"
    )
    assert layout(text) == (
        'policy "P" version "1"\n\n'
        "group all when claim.a = 1 or claim.b = 2  # one  # two\n"
    )


def test_blank_lines_inside_a_section_are_kept_once() -> None:
    """Several blank lines inside a section become one and split the alignment."""
    text = (
        'policy "P" version "1"\n'
        'measure a = letter "a"\n'
        'measure bbb = letter "b"\n\n\n\n'
        'measure cc = letter "c"\n'
    )
    assert layout(text) == (
        'policy "P" version "1"\n\n'
        'measure a   = letter "a"\n'
        'measure bbb = letter "b"\n\n'
        'measure cc = letter "c"\n'
    )


def test_statements_keep_their_order() -> None:
    """Nothing is moved: a setting after the groups stays there, in its own section."""
    text = 'policy "P" version "1"\ngroup all otherwise\ncurrency CHF\n'
    assert layout(text) == (
        'policy "P" version "1"\n\ngroup all otherwise\n\n  currency CHF\n'
    )


def test_a_text_with_meaning_errors_is_still_laid_out() -> None:
    """Only syntax errors stop the layout; a transition outside a block does not."""
    text = "a  ->  b\n"
    assert layout(text) == "a -> b\n"


def test_a_text_of_comments_only() -> None:
    """A file with nothing but comments keeps them; an empty file stays empty."""
    assert layout("  # one\n\n\n# two\n\n") == "# one\n\n# two\n"
    assert layout("") == ""
    assert layout("\n\n   \n") == ""


def test_syntax_errors_are_raised_with_every_diagnostic() -> None:
    """A text that does not parse is not laid out; the error lists each problem."""
    text = 'policy "P" version "1"\ngroup all when\nmeasure = letter "a"\n'
    with pytest.raises(PolicyError) as raised:
        layout(text)
    assert [(d.code, d.span.line) for d in raised.value.diagnostics] == [
        ("E102", 2),
        ("E102", 3),
    ]
    assert raised.value.source == text


def test_conditions_nested_too_deeply_are_an_error_not_a_crash() -> None:
    """Hundreds of `not` in a row give E105 at every depth, never a crash."""
    for depth in [*range(400, 600), 5000]:
        text = f'policy "P" version "1"\ngroup all when {"not " * depth}claim.x\n'
        try:
            layout(text)
        except PolicyError as error:
            assert [d.code for d in error.diagnostics] == ["E105"]


@pytest.mark.parametrize(
    "path", sorted(POLICIES.glob("*.dun")), ids=lambda path: path.name
)
def test_shipped_policies_lay_out_stably_and_faithfully(path: Path) -> None:
    """Every shipped policy lays out the same twice and keeps its model."""
    text = path.read_text(encoding="utf-8")
    once = layout(text)
    assert layout(once) == once
    assert comparable(check_text(once).policy) == comparable(check_text(text).policy)


# ---- dunning fmt ----------------------------------------------------------------


@pytest.fixture
def runner() -> CliRunner:
    """A runner for the `dunning` command."""
    return CliRunner()


def write(folder: Path, name: str, text: str) -> Path:
    """A policy file in the test's folder."""
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_fmt_rewrites_a_file(runner: CliRunner, tmp_path: Path) -> None:
    """`fmt` rewrites the file in place and names it."""
    path = write(tmp_path, "messy.dun", MESSY)

    result = runner.invoke(cli, ["fmt", str(path)])

    assert result.exit_code == 0
    assert result.stdout == f"formatted {path}\n"
    assert result.stderr == ""
    assert path.read_text(encoding="utf-8") == CANONICAL
    assert [p.name for p in tmp_path.iterdir()] == ["messy.dun"]


def test_fmt_leaves_a_canonical_file_alone(runner: CliRunner, tmp_path: Path) -> None:
    """`fmt` on a file already in the canonical layout says and changes nothing."""
    path = write(tmp_path, "clean.dun", CANONICAL)
    before = path.stat().st_mtime_ns

    result = runner.invoke(cli, ["fmt", str(path)])

    assert result.exit_code == 0
    assert result.output == ""
    assert path.stat().st_mtime_ns == before


def test_fmt_keeps_the_file_permissions(runner: CliRunner, tmp_path: Path) -> None:
    """The rewritten file has the permissions the old one had."""
    path = write(tmp_path, "messy.dun", MESSY)
    path.chmod(0o640)

    result = runner.invoke(cli, ["fmt", str(path)])

    assert result.exit_code == 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_fmt_never_leaves_half_a_file(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the final step fails, the old text and no temporary file remain."""
    path = write(tmp_path, "messy.dun", MESSY)

    def broken_replace(source: str, target: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    result = runner.invoke(cli, ["fmt", str(path)])

    assert result.exit_code != 0
    assert path.read_text(encoding="utf-8") == MESSY
    assert [p.name for p in tmp_path.iterdir()] == ["messy.dun"]


def test_fmt_check_lists_files_that_would_change(
    runner: CliRunner, tmp_path: Path
) -> None:
    """`fmt --check` lists only the files that would change, changes none, exits 1."""
    messy = write(tmp_path, "messy.dun", MESSY)
    clean = write(tmp_path, "clean.dun", CANONICAL)

    result = runner.invoke(cli, ["fmt", "--check", str(clean), str(messy)])

    assert result.exit_code == 1
    assert result.stdout == f"{messy}\n"
    assert result.stderr == ""
    assert messy.read_text(encoding="utf-8") == MESSY


def test_fmt_check_passes_on_canonical_files(runner: CliRunner, tmp_path: Path) -> None:
    """`fmt --check` on files in the canonical layout prints nothing and exits 0."""
    clean = write(tmp_path, "clean.dun", CANONICAL)

    result = runner.invoke(cli, ["fmt", "--check", str(clean)])

    assert result.exit_code == 0
    assert result.output == ""


def test_fmt_reports_syntax_errors(runner: CliRunner, tmp_path: Path) -> None:
    """A file with syntax errors is left alone, its errors shown, the others done."""
    broken_text = 'policy "P" version "1"\ngroup all when\n'
    broken = write(tmp_path, "broken.dun", broken_text)
    messy = write(tmp_path, "messy.dun", MESSY)

    result = runner.invoke(cli, ["fmt", str(broken), str(messy)])

    assert result.exit_code == 1
    assert result.stdout == f"formatted {messy}\n"
    assert result.stderr.startswith(f"{broken}:2:")
    assert "error E102" in result.stderr
    assert "    2 | group all when\n" in result.stderr
    assert broken.read_text(encoding="utf-8") == broken_text
    assert messy.read_text(encoding="utf-8") == CANONICAL


def test_fmt_needs_a_file(runner: CliRunner) -> None:
    """`fmt` without a file is a usage error."""
    result = runner.invoke(cli, ["fmt"])

    assert result.exit_code == 2
    assert "Missing argument 'FILES...'" in result.stderr

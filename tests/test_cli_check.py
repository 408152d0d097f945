"""`dunning check`: exit codes, the text report and the JSON report."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli.main import cli

CLEAN = (
    'policy "P" version "1"\n'
    "group all otherwise\n"
    'measure note = letter "note"\n'
    "dunning all\n"
    "  current -> done after 14 days overdue do note\n"
    "  terminal done\n"
)
# One error (line 5) and one warning (line 3): `zzz` is no measure, and
# `note`, which it does not resemble, is then never used.
BROKEN = CLEAN.replace("do note", "do zzz")
# Only a warning: a state nothing leads to.
WARNED = CLEAN.replace("terminal done", "terminal done, lost")

BROKEN_REPORT = (
    "broken.dun:3:9: warning W301: measure `note` is never used\n"
    '    3 | measure note = letter "note"\n'
    "      |         ^^^^\n"
    "      = hint: name it after `do` in a transition or an `on` rule, or remove it\n"
    "\n"
    "broken.dun:5:44: error E203: unknown measure `zzz`\n"
    "    5 |   current -> done after 14 days overdue do zzz\n"
    "      |                                            ^^^\n"
    "      = hint: known measures: note\n"
    "\n"
    "broken.dun: 1 error, 1 warning\n"
)
WARNED_REPORT = (
    "warned.dun:6:18: warning W302: state `lost` can never be reached (dunning "
    "group `all`)\n"
    "    6 |   terminal done, lost\n"
    "      |                  ^^^^\n"
    "      = hint: no transition or `on` rule leads to `lost`; add one, or remove "
    "the state\n"
    "\n"
    "warned.dun: 1 warning\n"
)


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """A runner in a folder holding clean.dun, broken.dun and warned.dun."""
    monkeypatch.chdir(tmp_path)
    Path("clean.dun").write_text(CLEAN, encoding="utf-8")
    Path("broken.dun").write_text(BROKEN, encoding="utf-8")
    Path("warned.dun").write_text(WARNED, encoding="utf-8")
    yield CliRunner()


def test_clean_file(runner: CliRunner) -> None:
    """A clean policy prints `ok` and exits 0."""
    result = runner.invoke(cli, ["check", "clean.dun"])

    assert result.exit_code == 0
    assert result.output == "clean.dun: ok\n"


def test_file_with_errors(runner: CliRunner) -> None:
    """Every diagnostic is printed with its source line, then the counts; exit 1."""
    result = runner.invoke(cli, ["check", "broken.dun"])

    assert result.exit_code == 1
    assert result.output == BROKEN_REPORT


def test_warnings_pass_unless_strict(runner: CliRunner) -> None:
    """Warnings alone exit 0; with --strict they exit 1 with the same report."""
    relaxed = runner.invoke(cli, ["check", "warned.dun"])
    strict = runner.invoke(cli, ["check", "--strict", "warned.dun"])

    assert (relaxed.exit_code, relaxed.output) == (0, WARNED_REPORT)
    assert (strict.exit_code, strict.output) == (1, WARNED_REPORT)


def test_strict_clean_file(runner: CliRunner) -> None:
    """--strict still passes a file with nothing to report."""
    result = runner.invoke(cli, ["check", "--strict", "clean.dun"])

    assert (result.exit_code, result.output) == (0, "clean.dun: ok\n")


def test_several_files(runner: CliRunner) -> None:
    """Each file gets its report and summary in the order given; one error fails all."""
    result = runner.invoke(cli, ["check", "clean.dun", "broken.dun", "warned.dun"])

    assert result.exit_code == 1
    assert result.output == "clean.dun: ok\n" + BROKEN_REPORT + WARNED_REPORT


def test_syntax_error(runner: CliRunner) -> None:
    """A syntax error is reported like any other, without a traceback."""
    Path("syntax.dun").write_text(CLEAN.replace("14 days", "14 dys"), encoding="utf-8")

    result = runner.invoke(cli, ["check", "syntax.dun"])

    assert result.exit_code == 1
    assert result.output == (
        "syntax.dun:5:28: error E102: unexpected `dys`\n"
        "    5 |   current -> done after 14 dys overdue do note\n"
        "      |                            ^^^\n"
        "      = hint: did you mean `days`? expected `business` or `days`\n"
        "\n"
        "syntax.dun: 1 error\n"
    )


def test_file_that_is_not_text(runner: CliRunner) -> None:
    """Bytes that are not UTF-8 are an E101 for the whole file, not a crash."""
    Path("binary.dun").write_bytes(b"\xff\xfe\x00policy")

    result = runner.invoke(cli, ["check", "binary.dun"])

    assert result.exit_code == 1
    assert result.output == (
        "binary.dun: error E101: the file is not UTF-8 text: byte 0xFF on line 1, "
        "column 1\n"
        "      = hint: save the policy as UTF-8 text (most editors offer it under "
        "Save as or Encoding)\n"
        "\n"
        "binary.dun: 1 error\n"
    )


def test_latin1_file_names_line_and_byte(runner: CliRunner) -> None:
    """A Latin-1 `ü` on line 2 is named by line, column and byte value."""
    Path("latin.dun").write_bytes(b'policy "x" version "1"\n# F\xfcr Kunden\n')

    result = runner.invoke(cli, ["check", "latin.dun"])

    assert result.exit_code == 1
    assert result.output.startswith(
        "latin.dun: error E101: the file is not UTF-8 text: byte 0xFC on line 2, "
        "column 4\n"
    )


def test_a_byte_order_mark_is_accepted(runner: CliRunner) -> None:
    """A UTF-8 file that starts with a byte order mark checks like one without."""
    text = (
        'policy "x" version "1"\n  currency EUR\n\ngroup all otherwise\n\n'
        "dunning all\n  terminal done\n  current -> done after 5 days overdue\n"
    )
    Path("bom.dun").write_bytes(b"\xef\xbb\xbf" + text.encode())

    result = runner.invoke(cli, ["check", "bom.dun"])

    assert result.output == "bom.dun: ok\n"
    assert result.exit_code == 0


def test_missing_file(runner: CliRunner) -> None:
    """A file that does not exist is a usage error with exit 2."""
    result = runner.invoke(cli, ["check", "clean.dun", "missing.dun"])

    assert result.exit_code == 2
    assert result.output == (
        "Usage: cli check [OPTIONS] FILES...\n"
        "Try 'cli check --help' for help.\n"
        "\n"
        "Error: Invalid value for 'FILES...': File 'missing.dun' does not exist.\n"
    )


def test_no_file(runner: CliRunner) -> None:
    """Calling check without a file is a usage error with exit 2."""
    result = runner.invoke(cli, ["check"])

    assert result.exit_code == 2
    assert result.output == (
        "Usage: cli check [OPTIONS] FILES...\n"
        "Try 'cli check --help' for help.\n"
        "\n"
        "Error: Missing argument 'FILES...'.\n"
    )


def test_json_report(runner: CliRunner) -> None:
    """--format json prints one list of every diagnostic of every file."""
    result = runner.invoke(
        cli, ["check", "--format", "json", "clean.dun", "broken.dun"]
    )

    assert result.exit_code == 1
    assert json.loads(result.output) == [
        {
            "path": "broken.dun",
            "line": 3,
            "column": 9,
            "end_line": 3,
            "end_column": 13,
            "severity": "warning",
            "code": "W301",
            "message": "measure `note` is never used",
            "hint": "name it after `do` in a transition or an `on` rule, or remove it",
        },
        {
            "path": "broken.dun",
            "line": 5,
            "column": 44,
            "end_line": 5,
            "end_column": 47,
            "severity": "error",
            "code": "E203",
            "message": "unknown measure `zzz`",
            "hint": "known measures: note",
        },
    ]


def test_json_report_of_clean_file(runner: CliRunner) -> None:
    """A clean file in JSON is an empty list and exit 0."""
    result = runner.invoke(cli, ["check", "--format", "json", "clean.dun"])

    assert (result.exit_code, result.output) == (0, "[]\n")


def test_json_strict(runner: CliRunner) -> None:
    """--strict applies to the JSON report as well."""
    result = runner.invoke(cli, ["check", "--strict", "--format", "json", "warned.dun"])

    assert result.exit_code == 1
    assert [d["code"] for d in json.loads(result.output)] == ["W302"]


def test_unknown_format(runner: CliRunner) -> None:
    """Only text and json are formats."""
    result = runner.invoke(cli, ["check", "--format", "xml", "clean.dun"])

    assert result.exit_code == 2
    assert result.output.endswith(
        "Error: Invalid value for '--format': 'xml' is not one of 'text', 'json'.\n"
    )

"""State diagrams of dunning groups: `dunlang.graph` and `dunning graph`."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from dunlang import check_text
from dunlang.graph import to_dot, to_mermaid
from dunlang.model import Dunning, Literal, Money, Policy, ValueKind
from dunlang.text import literal_to_text
from engine.cli.main import cli

SMALL = """\
policy "Small" version "1"
  currency EUR

group vip      when customer.segment = "key"
group standard otherwise

measure reminder = letter "reminder" cost 0.80 EUR
measure final    = letter "final" fee 5.00 EUR
measure call     = phone queue "key-accounts"

dunning vip
  current -> called after 3 business days overdue do call
  called -> reminded after 7 days in state do reminder
  on payment -> paid

dunning standard
  terminal closed
  hold disputed
  current -> reminded after 7 days overdue when claim.open_amount >= 10 EUR do reminder
  reminded -> final_notice after 10 business days in state do final
  final_notice -> closed after 30 days in state at end of month
  on payment -> paid
  on dispute_opened from reminded, final_notice -> disputed
  on dispute_resolved from disputed -> back
"""

STANDARD_MERMAID = """\
%% dunning group standard
flowchart LR
    s_current(["current"])
    s_reminded("reminded")
    s_final_notice("final_notice")
    s_closed((("closed")))
    s_paid((("paid")))
    s_disputed{{"disputed"}}
    any_state["any state"]
    previous_state["previous state"]
    s_current -->|"after 7 days overdue<br>when claim.open_amount #gt;= 10 EUR<br>\
do reminder"| s_reminded
    s_reminded -->|"after 10 business days in state<br>do final"| s_final_notice
    s_final_notice -->|"after 30 days in state at end of month"| s_closed
    any_state -.->|"on payment"| s_paid
    s_reminded -.->|"on dispute_opened"| s_disputed
    s_final_notice -.->|"on dispute_opened"| s_disputed
    s_disputed -.->|"on dispute_resolved"| previous_state
    class s_current initial
    class s_disputed hold
    class s_closed,s_paid terminal
    classDef initial stroke-width:3px
    classDef hold fill:#fff4cc
    classDef terminal fill:#e6e6e6"""

TERMINAL_STYLE = 'shape=box, style="rounded,filled", fillcolor="#e6e6e6", peripheries=2'

STANDARD_DOT = f"""\
digraph "standard" {{
    rankdir=LR;
    node [fontname="Helvetica"];
    edge [fontname="Helvetica", fontsize=10];
    "(start)" [shape=point, label=""];
    "current" [shape=box, style="rounded,bold"];
    "reminded" [shape=box, style="rounded"];
    "final_notice" [shape=box, style="rounded"];
    "closed" [{TERMINAL_STYLE}];
    "paid" [{TERMINAL_STYLE}];
    "disputed" [shape=hexagon, style="filled", fillcolor="#fff4cc"];
    "(any state)" [shape=plaintext, label="any state"];
    "(previous state)" [shape=plaintext, label="previous state"];
    "(start)" -> "current";
    "current" -> "reminded" [label="after 7 days overdue\\n\
when claim.open_amount >= 10 EUR\\ndo reminder"];
    "reminded" -> "final_notice" [label="after 10 business days in state\\ndo final"];
    "final_notice" -> "closed" [label="after 30 days in state at end of month"];
    "(any state)" -> "paid" [label="on payment", style=dashed];
    "reminded" -> "disputed" [label="on dispute_opened", style=dashed];
    "final_notice" -> "disputed" [label="on dispute_opened", style=dashed];
    "disputed" -> "(previous state)" [label="on dispute_resolved", style=dashed];
}}"""


def model(text: str) -> Policy:
    """The policy model of a text, built even if the meaning checks object."""
    policy = check_text(text, "test.dun").policy
    assert policy is not None
    return policy


def standard() -> Dunning:
    """The `standard` group of the small policy."""
    return model(SMALL).dunnings["standard"]


def test_pinned_mermaid() -> None:
    """The Mermaid flowchart of a small group, exactly."""
    assert to_mermaid(standard()) == STANDARD_MERMAID


def test_pinned_dot() -> None:
    """The DOT digraph of a small group, exactly."""
    assert to_dot(standard()) == STANDARD_DOT


GUARDED = """\
policy "P" version "1"
group all otherwise
dunning all
  current -> end after 1 day overdue when customer.segment = "key #1" and \
claim.open_amount > 1000 EUR
  on payment when claim.note = "a\\b" -> end
"""


def test_labels_are_escaped_and_long_guards_cut() -> None:
    """Quotes and `#` are escaped; a guard past 40 characters is cut at a word."""
    dunning = model(GUARDED).dunnings["all"]

    mermaid = to_mermaid(dunning).splitlines()
    assert (
        '    s_current -->|"after 1 day overdue<br>'
        'when customer.segment = #quot;key #35;1#quot; and ..."| s_end'
    ) in mermaid
    assert (
        '    any_state -.->|"on payment<br>when claim.note = #quot;a\\b#quot;"| s_end'
    ) in mermaid

    dot = to_dot(dunning).splitlines()
    assert (
        '    "current" -> "end" [label="after 1 day overdue\\n'
        'when customer.segment = \\"key #1\\" and ..."];'
    ) in dot
    assert (
        '    "(any state)" -> "end" [label="on payment\\n'
        'when claim.note = \\"a\\\\b\\"", style=dashed];'
    ) in dot


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        (Literal(Decimal("1E-7"), ValueKind.NUMBER), "0.0000001"),
        (Literal(Money(Decimal("0.80"), "EUR"), ValueKind.MONEY), "0.80 EUR"),
        (Literal(Decimal("2.5"), ValueKind.PERCENT), "2.5 %"),
        (Literal(Decimal("1"), ValueKind.DAYS), "1 day"),
        (Literal(Decimal("30"), ValueKind.DAYS), "30 days"),
        (Literal("key", ValueKind.TEXT), '"key"'),
        (Literal(dt.date(2026, 2, 1), ValueKind.DATE), "2026-02-01"),
        (Literal(False, ValueKind.FLAG), "false"),
    ],
)
def test_labels_spell_values_as_policy_text(literal: Literal, expected: str) -> None:
    """Values in labels read as they would be written in a policy."""
    assert literal_to_text(literal) == expected


def test_mermaid_ids_never_clash_with_mermaid_words() -> None:
    """A state called `end` gets a prefixed node id in Mermaid."""
    mermaid = to_mermaid(model(GUARDED).dunnings["all"])
    assert '    s_end("end")' in mermaid
    assert " end " not in mermaid


# ---- dunning graph --------------------------------------------------------------


@pytest.fixture
def small(tmp_path: Path) -> Path:
    """The small policy as a file."""
    path = tmp_path / "small.dun"
    path.write_text(SMALL, encoding="utf-8")
    return path


def test_graph_draws_every_group(small: Path) -> None:
    """Without --group every group is drawn, in Mermaid, in the order of the file."""
    result = CliRunner().invoke(cli, ["graph", str(small)])

    vip = to_mermaid(model(SMALL).dunnings["vip"])
    assert result.exit_code == 0
    assert result.stdout == f"{vip}\n\n{STANDARD_MERMAID}\n"
    assert result.stderr == ""


def test_graph_draws_one_group_as_dot(small: Path) -> None:
    """--group and --format dot give the one DOT digraph."""
    result = CliRunner().invoke(
        cli, ["graph", str(small), "--group", "standard", "--format", "dot"]
    )

    assert result.exit_code == 0
    assert result.stdout == STANDARD_DOT + "\n"


def test_graph_unknown_group(small: Path) -> None:
    """A mistyped group name exits 1 and suggests the closest known name."""
    result = CliRunner().invoke(cli, ["graph", str(small), "--group", "standrd"])

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "Error: unknown group `standrd`: did you mean `standard`? "
        "known groups: standard, vip\n"
    )


def test_graph_of_a_policy_with_errors(tmp_path: Path) -> None:
    """A policy with errors draws nothing and shows the diagnostics."""
    path = tmp_path / "broken.dun"
    path.write_text('policy "P" version "1"\ngroup all when\n', encoding="utf-8")

    result = CliRunner().invoke(cli, ["graph", str(path)])

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"{path}:2:")
    assert "    2 | group all when\n" in result.stderr


def test_graph_unknown_format(small: Path) -> None:
    """An unknown --format is a usage error."""
    result = CliRunner().invoke(cli, ["graph", str(small), "--format", "svg"])

    assert result.exit_code == 2
    assert "'svg' is not one of 'mermaid', 'dot'" in result.stderr

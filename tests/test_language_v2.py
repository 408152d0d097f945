"""The statements `rounding`, `exclude`, `small balance`, `after hold` and plug-in
measure kinds: what they build, what the checks say about them, how they are laid
out."""

from __future__ import annotations

import importlib.metadata
from decimal import Decimal

import pytest

from dunlang import check_text, parse_policy
from dunlang.checks import check_policy, installed_measure_plugins
from dunlang.format import format_source
from dunlang.model import (
    Attribute,
    Compare,
    Literal,
    MeasureKind,
    Money,
    SmallBalance,
    SmallBalanceAction,
    Span,
    ValueKind,
)
from dunlang.parser import parse_tree
from dunlang.transform import build_policy

from .conftest import POLICIES

HEADER = 'policy "P" version "1"'
REST = [
    "group all otherwise",
    'measure note = letter "note"',
    "dunning all",
    "  current -> done after 14 days overdue do note",
    "  terminal done",
]


def policy_text(*lines: str, rest: list[str] = REST) -> str:
    """A small valid policy with `lines` between the header and the groups."""
    return "\n".join([HEADER, *lines, *rest]) + "\n"


def codes(text: str) -> list[str]:
    """The codes `dunning check` reports for a text, in file order."""
    return [d.code for d in check_text(text, "p.dun").diagnostics]


@pytest.fixture(autouse=True)
def no_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Checks run as on a machine without measure plug-ins, whatever is installed."""
    monkeypatch.setattr("dunlang.checks.installed_measure_plugins", frozenset)


# ---- rounding -------------------------------------------------------------------


def test_rounding_sets_the_step_in_the_header() -> None:
    """`rounding 0.05` under a CHF policy gives the exact step and its place."""
    text = policy_text("  currency CHF", "  rounding 0.05")

    policy = parse_policy(text)

    assert policy.header.rounding == Decimal("0.05")
    # Line 3 is "  rounding 0.05": the number starts in column 12.
    assert policy.header.rounding_span == Span(3, 12, 3, 16)


def test_without_rounding_there_is_no_step() -> None:
    """A policy without `rounding` rounds to the currency's smallest unit."""
    assert parse_policy(policy_text()).header.rounding is None


@pytest.mark.parametrize(
    ("currency", "step", "expected"),
    [
        ("CHF", "0.05", []),  # five rappen: 5 x 0.01
        ("EUR", "1", []),  # a whole euro: 100 x 0.01
        ("JPY", "10", []),  # yen have no smaller unit than 1
        ("JPY", "0.5", ["E218"]),  # half a yen does not exist
        ("EUR", "0.001", ["E218"]),  # a tenth of a cent does not exist
        ("BHD", "0.005", []),  # the dinar has three decimal places
        ("CHF", "0", ["E218"]),  # no step at all
        ("CHF", "0.00", ["E218"]),
    ],
)
def test_rounding_step_fits_the_currency(
    currency: str, step: str, expected: list[str]
) -> None:
    """The step is above 0 and a whole multiple of the currency's smallest unit."""
    text = policy_text(f"  currency {currency}", f"  rounding {step}")

    assert codes(text) == expected


def test_rounding_given_twice_or_in_a_block() -> None:
    """`rounding` is a header setting: once, and not inside a block."""
    twice = policy_text("rounding 0.05", "rounding 0.10")
    in_block = policy_text(rest=[*REST, "  rounding 0.05"])

    assert codes(twice) == ["E201"]
    # The only `rounding` of the file, but inside the block: misplaced.
    assert codes(in_block) == ["E206"]


# ---- plug-in measure kinds ---------------------------------------------------------


def test_plugin_kind_with_a_text() -> None:
    """`sms "reminder-sms"` is a plug-in measure with its template."""
    text = policy_text(rest=[*REST, 'measure sms_reminder = sms "reminder-sms"'])
    text = text.replace("do note", "do note, sms_reminder")
    tree, _ = parse_tree(text)
    assert tree is not None
    policy, problems = build_policy(tree, text, "p.dun")
    assert policy is not None and problems == []

    measure = policy.measures["sms_reminder"]

    assert measure.kind is MeasureKind.PLUGIN
    assert measure.plugin == "sms"
    assert measure.template == "reminder-sms"
    assert check_policy(policy, plugins={"sms"}) == []


def test_plugin_kind_without_a_text_and_with_options() -> None:
    """A plug-in kind needs no text and takes the usual options."""
    text = policy_text(rest=[*REST, "measure ping = pager cost 0.20 EUR"])
    text = text.replace("do note", "do note, ping")
    tree, _ = parse_tree(text)
    assert tree is not None
    policy, _ = build_policy(tree, text, "p.dun")
    assert policy is not None

    measure = policy.measures["ping"]

    assert (measure.kind, measure.plugin, measure.template) == (
        MeasureKind.PLUGIN,
        "pager",
        None,
    )
    assert measure.cost is not None
    assert measure.cost.fixed == Money(Decimal("0.20"), "EUR")
    assert check_policy(policy, plugins=["pager"]) == []


def test_plugin_kind_nobody_provides_is_a_warning() -> None:
    """An unknown kind far from every built-in kind only warns (W307)."""
    text = policy_text(rest=[*REST, 'measure sms_reminder = sms "reminder-sms"'])
    text = text.replace("do note", "do note, sms_reminder")

    result = check_text(text, "p.dun")

    assert [d.code for d in result.diagnostics] == ["W307"]
    assert result.diagnostics[0].message == (
        "no installed plug-in provides the measure kind `sms`"
    )
    assert result.diagnostics[0].hint is not None
    assert result.diagnostics[0].hint.startswith("installed plug-ins: none;")
    assert result.ok() and not result.ok(strict=True)


def test_warning_lists_the_installed_plugins() -> None:
    """The W307 hint names the kinds the installed plug-ins provide."""
    text = policy_text(rest=[*REST, 'measure sms_reminder = sms "reminder-sms"'])
    tree, _ = parse_tree(text)
    assert tree is not None
    policy, _ = build_policy(tree, text, "p.dun")
    assert policy is not None

    found = [d for d in check_policy(policy, {"pager", "fax"}) if d.code == "W307"]

    assert len(found) == 1
    assert found[0].hint is not None
    assert found[0].hint.startswith("installed plug-ins: fax, pager;")


@pytest.mark.parametrize(
    ("action", "meant"),
    [('leter "x"', "letter"), ('emial "x"', "email"), ("writeoff", "write_off")],
)
def test_word_close_to_a_built_in_kind_is_an_error(action: str, meant: str) -> None:
    """A misspelled built-in kind is E203 with the kind it most likely means."""
    text = policy_text(rest=[*REST, f"measure other = {action}"])
    text = text.replace("do note", "do note, other")

    result = check_text(text, "p.dun")

    assert [d.code for d in result.errors] == ["E203"]
    assert result.errors[0].hint is not None
    assert result.errors[0].hint.startswith(f"did you mean `{meant}`?")


def test_installed_plugin_may_be_close_to_a_built_in_kind() -> None:
    """A plug-in that provides `mail` makes `mail "x"` a measure like any other."""
    text = policy_text(rest=[*REST, 'measure other = mail "x"'])
    text = text.replace("do note", "do note, other")
    tree, _ = parse_tree(text)
    assert tree is not None
    policy, _ = build_policy(tree, text, "p.dun")
    assert policy is not None

    assert [d.code for d in check_policy(policy, plugins=set())] == ["E203"]
    assert check_policy(policy, plugins={"mail"}) == []


def test_installed_plugins_are_the_entry_point_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The names of the `dunning.measures` entry points, never loaded."""
    offered = importlib.metadata.EntryPoints(
        [
            importlib.metadata.EntryPoint(
                "sms", "no_such_module:Nothing", "dunning.measures"
            ),
            importlib.metadata.EntryPoint(
                "fax", "no_such_module:Nothing", "dunning.measures"
            ),
        ]
    )
    asked: list[str] = []

    def entry_points(group: str) -> importlib.metadata.EntryPoints:
        asked.append(group)
        return offered

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    installed_measure_plugins.cache_clear()
    try:
        # Loading either would fail: `no_such_module` does not exist.
        assert installed_measure_plugins() == frozenset({"sms", "fax"})
    finally:
        installed_measure_plugins.cache_clear()
    assert asked == ["dunning.measures"]


# ---- exclude ---------------------------------------------------------------------------


def test_exclusions_keep_their_guard_reason_and_order() -> None:
    """Each `exclude` line becomes an exclusion, in the order written."""
    text = policy_text(
        'exclude when customer.segment = "insolvency" because "insolvent"',
        'exclude when claim.kind = "deposit" because "settled with the invoice"',
    )

    policy = parse_policy(text)

    assert [e.reason for e in policy.exclusions] == [
        "insolvent",
        "settled with the invoice",
    ]
    assert policy.exclusions[0].guard == Compare(
        "=",
        Attribute("customer", "segment"),
        Literal("insolvency", ValueKind.TEXT),
    )
    assert policy.exclusions[1].span.line == 3


def test_exclusion_guard_is_checked_like_any_guard() -> None:
    """Unknown names and kinds that do not match are the usual errors."""
    unknown = policy_text('exclude when custmer.segment = "x" because "r"')
    mismatch = policy_text('exclude when claim.open_amount > 5 because "r"')
    looks_misspelled = policy_text('exclude when claim.open_amont > 5 EUR because "r"')

    assert codes(unknown) == ["E203"]
    assert codes(mismatch) == ["E213"]
    assert codes(looks_misspelled) == ["W305"]


def test_exclusion_needs_a_reason() -> None:
    """`because ""` is an invalid value: the reason goes into the audit trail."""
    assert codes(policy_text('exclude when customer.vip because "  "')) == ["E214"]


def test_exclusion_after_a_block_ends_the_block() -> None:
    """Like `group` and `measure`, `exclude` may follow a block and closes it."""
    after = policy_text(rest=[*REST, 'exclude when customer.vip because "vip"'])
    inside = policy_text(
        rest=[*REST, 'exclude when customer.vip because "vip"', "  done -> done"]
    )

    assert parse_policy(after).exclusions[0].reason == "vip"
    assert codes(inside) == ["E206"]


# ---- small balance ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "action"),
    [
        ("write off", SmallBalanceAction.WRITE_OFF),
        ("write_off", SmallBalanceAction.WRITE_OFF),
        ("leave", SmallBalanceAction.LEAVE),
    ],
)
def test_small_balance_rule(words: str, action: SmallBalanceAction) -> None:
    """`small balance below 5 EUR ...` gives the limit and what to do."""
    policy = parse_policy(policy_text(f"small balance below 5.00 EUR {words}"))

    assert policy.small_balance == SmallBalance(Money(Decimal("5.00"), "EUR"), action)


def test_small_balance_is_optional() -> None:
    """Without the statement there is no small balance rule."""
    assert parse_policy(policy_text()).small_balance is None


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("small balance below 5 USD write off", ["E212"]),  # policy works in EUR
        ("small balance below 0 EUR leave", ["E214"]),  # takes no claim
        ("small balance below 0.01 EUR leave", []),  # one cent is a limit
    ],
)
def test_small_balance_limit(line: str, expected: list[str]) -> None:
    """The limit is in the policy currency and above 0."""
    assert codes(policy_text(line)) == expected


def test_small_balance_at_most_once() -> None:
    """A second `small balance` line is E201, even after a block."""
    text = policy_text(
        "small balance below 5 EUR leave",
        rest=[*REST, "small balance below 3 EUR write off"],
    )

    assert codes(text) == ["E201"]


# ---- after hold ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "days"),
    [
        (None, 0),
        ("after hold continue", 0),
        ("after hold wait 3 days", 3),
        ("after hold wait 1 day", 1),
        ("after hold wait 0 days", 0),
    ],
)
def test_after_hold(line: str | None, days: int) -> None:
    """`continue` and a missing statement mean 0 days; `wait N days` means N."""
    text = policy_text(*([line] if line else []))

    assert parse_policy(text).resume_wait_days == days


def test_after_hold_at_most_once_and_at_most_a_century() -> None:
    """A second `after hold` is E201; more than 36500 days is E214."""
    twice = policy_text("after hold continue", rest=[*REST, "after hold wait 3 days"])
    long = policy_text("after hold wait 36501 days")

    assert codes(twice) == ["E201"]
    assert codes(long) == ["E214"]
    assert codes(policy_text("after hold wait 36500 days")) == []


def test_timer_on_its_own_line_is_still_a_syntax_error() -> None:
    """`after 14 days` starting a line is not `after hold`: E102, once."""
    text = policy_text(
        rest=[*REST[:3], "  current -> done", "    after 14 days overdue"]
    )

    result = check_text(text, "p.dun")

    assert [(d.code, d.span.line) for d in result.diagnostics] == [("E102", 6)]
    assert "a line cannot start with `after`" in result.diagnostics[0].message


# ---- syntax errors -----------------------------------------------------------------------


def test_unclosed_bracket_is_reported_once() -> None:
    """An unclosed `(` is one error at the bracket, not one on every later line;
    a real mistake further down is still found."""
    text = "\n".join(
        [
            HEADER,
            'group all when (customer.kind = "b"',
            "group other otherwise",
            'measure note = letter "note"',
            "dunning all",
            "  current -> done after 14 dys overdue do note",
            "  terminal done",
        ]
    )

    found = check_text(text, "p.dun").diagnostics

    assert [(d.code, d.span.line, d.span.column) for d in found] == [
        ("E102", 2, 16),  # the `(` after "group all when "
        ("E102", 6, 28),  # `dys` after "  current -> done after 14 "
    ]
    assert found[0].message == "this `(` is not closed"


@pytest.mark.parametrize(
    ("line", "word", "meant"),
    [
        ("  current -> done afterr 14 days overdue do note", "afterr", "after"),
        ("  current -> done aftr 14 days overdue do note", "aftr", "after"),
        ("  current -> done after 14 days overdeu do note", "overdeu", "overdue"),
    ],
)
def test_misspelled_keyword_gets_did_you_mean(line: str, word: str, meant: str) -> None:
    """A keyword typo names the whole word and the keyword it most likely is."""
    text = policy_text(rest=[*REST[:3], line, REST[4]])

    (found,) = check_text(text, "p.dun").diagnostics

    assert (found.code, found.message) == ("E102", f"unexpected `{word}`")
    assert found.span.end_column - found.span.column == len(word)
    assert found.hint is not None
    assert found.hint.startswith(f"did you mean `{meant}`?")


@pytest.mark.parametrize(
    ("line", "meant"),
    [
        ('excludee when customer.vip because "r"', "exclude"),
        ("smal balance below 5 EUR leave", "small"),
        ("roundng 0.05", "rounding"),
    ],
)
def test_misspelled_statement_word(line: str, meant: str) -> None:
    """The new statement words are suggested for misspelled line starts."""
    (found,) = check_text(policy_text(line), "p.dun").diagnostics

    assert found.code == "E102"
    assert found.hint is not None
    assert found.hint.startswith(f"did you mean `{meant}`?")


# ---- layout ------------------------------------------------------------------------------

MESSY = """\
policy "P" version "1"
currency   CHF
rounding 0.05   # cash
group all otherwise
measure note = letter "note"
measure text   =  sms   "reminder-sms"  cost 0.10 CHF
dunning all
  current -> done after 14 days overdue do note, text
  terminal done
# kept out of dunning
exclude when (customer.segment = "insolvency")   because "insolvent"
small balance   below 5 CHF  write_off
after  hold  wait 3  days  # three quiet days
"""

CANONICAL = """\
policy "P" version "1"
  currency CHF
  rounding 0.05  # cash

group all otherwise

measure note = letter "note"
measure text = sms "reminder-sms" cost 0.10 CHF

dunning all
  current -> done after 14 days overdue do note, text
  terminal done

# kept out of dunning
exclude when customer.segment = "insolvency" because "insolvent"

small balance below 5 CHF write off
after hold wait 3 days  # three quiet days
"""


def test_layout_of_the_new_statements() -> None:
    """`dunning fmt` writes each new statement canonically, comments kept."""
    assert format_source(MESSY) == CANONICAL
    assert format_source(CANONICAL) == CANONICAL


def test_layout_keeps_the_model() -> None:
    """The laid-out text reads back to the same policy."""
    before = check_text(MESSY).policy
    after = check_text(CANONICAL).policy
    assert before is not None and after is not None

    assert after.header == before.header
    assert after.exclusions == before.exclusions
    assert after.small_balance == before.small_balance
    assert after.resume_wait_days == before.resume_wait_days == 3
    assert after.measures == before.measures


def test_continue_is_laid_out_as_written() -> None:
    """`after hold continue` keeps its one form."""
    text = policy_text("after  hold   continue")

    assert "\nafter hold continue\n" in format_source(text)


# ---- the shipped policies ----------------------------------------------------------------


def test_gentle_consumer_policy_uses_the_policy_wide_rules() -> None:
    """Insolvent customers are excluded, below 5 EUR is written off, 3 quiet days."""
    text = (POLICIES / "consumer-gentle.dun").read_text(encoding="utf-8")
    policy = parse_policy(text)

    (exclusion,) = policy.exclusions
    assert exclusion.guard == Compare(
        "=", Attribute("customer", "segment"), Literal("insolvency", ValueKind.TEXT)
    )
    assert exclusion.reason == (
        "insolvency proceedings: claims are filed with the administrator"
    )
    assert policy.small_balance == SmallBalance(
        Money(Decimal("5"), "EUR"), SmallBalanceAction.WRITE_OFF
    )
    assert policy.resume_wait_days == 3


def test_trade_policy_continues_after_a_hold() -> None:
    """The B2B policy says `after hold continue`: no wait after a hold."""
    text = (POLICIES / "de-b2b-trade.dun").read_text(encoding="utf-8")

    assert "\nafter hold continue\n" in text
    assert parse_policy(text).resume_wait_days == 0

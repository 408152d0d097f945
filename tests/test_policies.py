"""The policies shipped in policies/: each checks clean, and the translations of
other systems' configurations keep the numbers of their sources."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest

import dunlang
from dunlang.format import format_source
from dunlang.model import (
    BACK,
    And,
    Attribute,
    Calendar,
    Compare,
    Dunning,
    InterestKind,
    Literal,
    MeasureKind,
    Money,
    Policy,
    StateKind,
    Timer,
    TimerBasis,
    Transition,
    ValueKind,
)
from engine.calendar import calendar_for, due_date_of

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
POLICY_FILES = sorted(POLICIES.glob("*.dun"))
DOCS = ROOT / "docs"


def load(name: str) -> Policy:
    """The checked model of one shipped policy."""
    path = POLICIES / name
    return dunlang.parse_policy(path.read_text(encoding="utf-8"), str(path))


def only_dunning(policy: Policy) -> Dunning:
    """The dunning block of a policy that has exactly one."""
    assert len(policy.dunnings) == 1
    return next(iter(policy.dunnings.values()))


def measure_kinds(policy: Policy, transition: Transition) -> list[MeasureKind]:
    """The kinds of the measures a transition carries out, in order."""
    return [policy.measures[name].kind for name in transition.measures]


def age_band(transition: Transition) -> tuple[int | None, int | None]:
    """The days since the customer's oldest unpaid claim a guard admits, as
    (at least, less than); None where the guard sets no bound."""
    guard = transition.guard
    tests = guard.operands if isinstance(guard, And) else (guard,)
    low = high = None
    for test in tests:
        assert isinstance(test, Compare)
        assert test.left == Attribute("customer", "days_since_oldest_unpaid")
        assert isinstance(test.right, Literal)
        assert test.right.kind is ValueKind.DAYS
        days = int(test.right.value)  # type: ignore[arg-type]
        if test.operator == ">=":
            low = days
        else:
            assert test.operator == "<"
            high = days
    return low, high


def whole_policies(page: str) -> list[str]:
    """The policy examples of a documentation page that are complete files."""
    text = (DOCS / page).read_text(encoding="utf-8")
    blocks = re.findall(r"```dun\n(.*?)```", text, flags=re.DOTALL)
    return [
        block
        for block in blocks
        if re.search(r"^policy ", block, re.MULTILINE)
        and re.search(r"^dunning ", block, re.MULTILINE)
    ]


# ---- every shipped policy --------------------------------------------------------


def test_the_documented_policies_are_shipped() -> None:
    """The four policies the documentation refers to are in policies/."""
    names = {path.name for path in POLICY_FILES}
    assert {
        "de-b2b-trade.dun",
        "consumer-gentle.dun",
        "oca-3-time.dun",
        "killbill-overdue.dun",
    } <= names


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda path: path.name)
def test_policy_checks_without_any_diagnostic(path: Path) -> None:
    """A shipped policy has no error and no warning."""
    source = path.read_text(encoding="utf-8")

    result = dunlang.check_text(source, str(path))

    assert result.ok(strict=True), dunlang.render_all(result.diagnostics, source)
    assert result.policy is not None


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda path: path.name)
def test_policy_ends_with_a_fallback_group(path: Path) -> None:
    """The last group rule of every shipped policy is the `otherwise` fallback."""
    policy = dunlang.parse_policy(path.read_text(encoding="utf-8"), str(path))

    assert policy.groups[-1].guard is None
    assert all(rule.guard is not None for rule in policy.groups[:-1])


# ---- OCA "3 time policy" -----------------------------------------------------------


def test_oca_has_the_three_levels_of_the_source() -> None:
    """10 days overdue, 30 days overdue at end of month, 10 days after the previous."""
    dunning = only_dunning(load("oca-3-time.dun"))

    steps = [(t.source, t.target, t.timer, t.guard) for t in dunning.transitions]

    assert steps == [
        ("current", "first_reminder", Timer(10, TimerBasis.OVERDUE), None),
        (
            "first_reminder",
            "second_reminder",
            Timer(30, TimerBasis.OVERDUE, end_of_month=True),
            None,
        ),
        ("second_reminder", "last_reminder", Timer(10, TimerBasis.IN_STATE), None),
    ]


def test_oca_channels_are_email_email_letter() -> None:
    """Each level uses the channel of its OCA level: e-mail, e-mail, letter."""
    policy = load("oca-3-time.dun")
    dunning = only_dunning(policy)

    kinds = [measure_kinds(policy, t) for t in dunning.transitions]

    assert kinds == [[MeasureKind.EMAIL], [MeasureKind.EMAIL], [MeasureKind.LETTER]]


def test_oca_ends_after_the_third_level() -> None:
    """OCA has no level after the last reminder, so the translation stops there."""
    dunning = only_dunning(load("oca-3-time.dun"))

    assert dunning.initial == "current"
    assert dunning.states["last_reminder"] is StateKind.TERMINAL
    assert dunning.events == ()


def test_oca_levels_fall_due_on_the_days_oca_computes() -> None:
    """Dates worked out from OCA's rules for a claim due on 31 January 2026."""
    dunning = only_dunning(load("oca-3-time.dun"))
    first, second, third = (t.timer for t in dunning.transitions)
    assert first is not None and second is not None and third is not None
    calendar = calendar_for(None)
    due = dt.date(2026, 1, 31)

    # net_days 10: 31 Jan + 10 days.
    assert due_date_of(first, due, due, calendar) == dt.date(2026, 2, 10)
    # end_of_month 30: 31 Jan + 30 days is 2 March; the last day of March.
    assert due_date_of(second, due, due, calendar) == dt.date(2026, 3, 31)
    # previous_date 10: the second reminder went out on 31 March.
    reminded = dt.date(2026, 3, 31)
    assert due_date_of(third, due, reminded, calendar) == dt.date(2026, 4, 10)


# ---- Kill Bill default overdue configuration ---------------------------------------


def test_killbill_every_move_is_guarded_by_its_target_band() -> None:
    """A move into a state holds exactly in that state's band of 30, 40 and 50 days."""
    dunning = only_dunning(load("killbill-overdue.dun"))
    # OD1 from 30 days, OD2 from 40, OD3 from 50; below 30 the account is clear.
    bands = {"clear": (None, 30), "od1": (30, 40), "od2": (40, 50), "od3": (50, None)}

    moves = {(t.source, t.target): age_band(t) for t in dunning.transitions}

    assert moves == {
        (source, target): band
        for source in bands
        for target, band in bands.items()
        if source != target
    }


def test_killbill_tries_the_most_severe_state_first() -> None:
    """A clear account reaches the most severe matching state at once."""
    dunning = only_dunning(load("killbill-overdue.dun"))

    targets = [t.target for t in dunning.transitions_from("clear")]

    assert dunning.initial == "clear"
    assert targets == ["od3", "od2", "od1"]
    assert all(t.timer is None for t in dunning.transitions)


def test_killbill_state_actions_become_stops() -> None:
    """OD1 blocks changes only; OD2 and OD3 also switch the service off."""
    policy = load("killbill-overdue.dun")
    dunning = only_dunning(policy)

    first_moves = dunning.transitions_from("clear")
    from_clear = {t.target: set(measure_kinds(policy, t)) for t in first_moves}

    assert from_clear == {
        "od1": {MeasureKind.CREDIT_STOP, MeasureKind.TASK},
        "od2": {MeasureKind.CREDIT_STOP, MeasureKind.DELIVERY_STOP, MeasureKind.TASK},
        "od3": {MeasureKind.CREDIT_STOP, MeasureKind.DELIVERY_STOP, MeasureKind.TASK},
    }


# ---- German B2B trade --------------------------------------------------------------


def test_b2b_final_notice_switches_on_statutory_interest_and_no_fee_of_its_own() -> None:
    """The final notice switches on § 288 interest; the 40 EUR flat fee of § 288(5)
    BGB comes with it, so the letter charges no fee of its own (no 80 EUR)."""
    policy = load("de-b2b-trade.dun")

    final = policy.measures["final_letter"]

    assert final.kind is MeasureKind.LETTER
    assert final.fee is None
    assert final.interest is not None
    assert final.interest.kind is InterestKind.STATUTORY
    assert policy.header.calendar == Calendar("DE", "NW")


def test_b2b_key_accounts_are_phoned_first_and_never_sent_to_an_agency() -> None:
    """Key accounts have a group of their own whose first step is a phone call."""
    policy = load("de-b2b-trade.dun")
    key = policy.dunnings["key_accounts"]

    first = key.transitions_from("current")
    measures = {name for t in key.transitions for name in t.measures}

    assert policy.groups[0].name == "key_accounts"
    assert [measure_kinds(policy, t) for t in first] == [[MeasureKind.PHONE]]
    assert all(policy.measures[m].kind is not MeasureKind.AGENCY for m in measures)


def test_b2b_agency_only_from_250_eur() -> None:
    """Standard claims go to the agency only with at least 250 EUR open."""
    policy = load("de-b2b-trade.dun")
    standard = policy.dunnings["standard"]

    to_agency = [t for t in standard.transitions if t.target == "agency"]

    assert len(to_agency) == 1
    guard = to_agency[0].guard
    assert guard == Compare(
        ">=",
        Attribute("claim", "open_amount"),
        Literal(Money(Decimal(250), "EUR"), ValueKind.MONEY),
    )
    assert MeasureKind.AGENCY in measure_kinds(policy, to_agency[0])


@pytest.mark.parametrize("group", ["key_accounts", "standard"])
def test_b2b_disputes_and_promises_are_holds(group: str) -> None:
    """A dispute and a promise to pay hold the claim; resolving returns it."""
    dunning = load("de-b2b-trade.dun").dunnings[group]

    back = {
        (rule.event, rule.sources) for rule in dunning.events if rule.target == BACK
    }

    assert dunning.states["disputed"] is StateKind.HOLD
    assert dunning.states["promised"] is StateKind.HOLD
    assert ("dispute_resolved", ("disputed",)) in back
    assert ("promise_kept", ("promised",)) in back


# ---- gentle consumer policy --------------------------------------------------------


def test_consumer_groups_are_tried_in_order() -> None:
    """Hardship first, then small balances, then everyone else."""
    policy = load("consumer-gentle.dun")

    assert [rule.name for rule in policy.groups] == [
        "hardship",
        "small_balances",
        "standard",
    ]


def test_consumer_fees_stay_small() -> None:
    """No consumer measure charges more than 2.50 EUR, and none charges interest."""
    policy = load("consumer-gentle.dun")

    fees = [m.fee.fixed for m in policy.measures.values() if m.fee is not None]

    assert fees == [Money(Decimal("1.50"), "EUR"), Money(Decimal("2.50"), "EUR")]
    assert all(m.interest is None for m in policy.measures.values())


def test_consumer_starts_with_email_and_waits_long() -> None:
    """The first two reminders are e-mails; the agency comes after 114 days at least."""
    policy = load("consumer-gentle.dun")
    standard = policy.dunnings["standard"]
    path = ["current", "reminded", "second_reminder", "letter_sent", "final_notice"]

    steps = [standard.transitions_from(state)[0] for state in path]
    days = sum(t.timer.days for t in steps if t.timer is not None)

    assert [measure_kinds(policy, t) for t in steps[:2]] == [
        [MeasureKind.EMAIL],
        [MeasureKind.EMAIL],
    ]
    assert steps[-1].target == "agency"
    # 14 days overdue, then 21 + 21 + 28 + 30 days in state.
    assert days == 114


@pytest.mark.parametrize("group", ["hardship", "small_balances", "standard"])
def test_consumer_disputes_hold_every_group(group: str) -> None:
    """In every consumer group a dispute puts the claim on hold until resolved."""
    dunning = load("consumer-gentle.dun").dunnings[group]

    opened = [rule for rule in dunning.events if rule.event == "dispute_opened"]
    resolved = [rule for rule in dunning.events if rule.event == "dispute_resolved"]

    assert [rule.target for rule in opened] == ["disputed"]
    assert [rule.target for rule in resolved] == [BACK]
    assert dunning.states["disputed"] is StateKind.HOLD


# ---- examples in the documentation ----------------------------------------------


@pytest.mark.parametrize("page", ["language.md", "tutorial.md"])
def test_complete_examples_in_the_docs_check_clean(page: str) -> None:
    """Every complete policy shown in the docs has no error and no warning."""
    examples = whole_policies(page)

    assert examples
    for source in examples:
        result = dunlang.check_text(source, page)
        assert result.ok(strict=True), dunlang.render_all(result.diagnostics, source)


def test_tutorial_result_is_in_canonical_layout() -> None:
    """The tutorial's finished policy is exactly what `dunning fmt` writes."""
    (finished,) = whole_policies("tutorial.md")

    assert format_source(finished, "first.dun") == finished

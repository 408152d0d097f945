"""Meaning checks: each one fires on a broken policy and stays quiet on its fix."""

from __future__ import annotations

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from dunlang import CODES, check_text, render_all
from dunlang.checks import check_policy

HEADER = 'policy "P" version "1"\n'
GROUP = "group all otherwise\n"
MEASURES = 'measure note = letter "note"\nmeasure call = phone queue "r"\n'


def policy(
    block: str, head: str = "", groups: str = GROUP, measures: str = MEASURES
) -> str:
    """A whole policy around the lines of the `dunning all` block."""
    return HEADER + head + groups + measures + "dunning all\n" + block


def found(text: str) -> list[tuple[str, int, int]]:
    """Code, line and column of every diagnostic, in file order."""
    return [
        (d.code, d.span.line, d.span.column)
        for d in check_text(text, "p.dun").diagnostics
    ]


def codes(text: str) -> list[str]:
    """The code of every diagnostic, in file order."""
    return [code for code, _, _ in found(text)]


def hints(text: str) -> list[str | None]:
    """The hint of every diagnostic, in file order."""
    return [d.hint for d in check_text(text, "p.dun").diagnostics]


# A block that uses both measures and checks cleanly; lines 6 to 9.
CLEAN = (
    "  current -> reminded after 14 days overdue do note\n"
    "  reminded -> called after 7 days in state do call\n"
    "  called -> closed after 30 days in state\n"
    "  terminal closed\n"
)


def test_clean_policy_has_no_findings() -> None:
    """The base policy of these tests is clean, so every finding below is caused."""
    assert found(policy(CLEAN)) == []


# ---- unknown names (E203) ---------------------------------------------------


def test_unknown_measure_in_transition() -> None:
    """A misspelled measure after `do` is E203 on the name, with did-you-mean;
    the measure it was meant to be is not also reported as never used."""
    text = policy(CLEAN.replace("do call", "do cal"))

    assert found(text) == [("E203", 7, 47)]
    assert hints(text)[0] == "did you mean `call`? known measures: call, note"


def test_unknown_measure_in_event_rule_and_unused_series() -> None:
    """Measures are checked in `on` rules and in series no block uses."""
    text = policy(
        CLEAN + "  on promise_broken from called -> closed do nte\n"
        "series spare\n  a -> b do cal\n"
    )

    assert found(text) == [("E203", 10, 46), ("E203", 12, 13)]
    assert (
        found(policy(CLEAN + "  on promise_broken from called -> closed do note\n"))
        == []
    )


def test_unknown_measure_with_no_measures_defined() -> None:
    """With no measure defined yet, the hint says how to define one."""
    text = policy(
        "  current -> closed after 3 days overdue do note\n  terminal closed\n",
        measures="",
    )

    assert hints(text) == ['define it first, like `measure note = letter "note"`']


def test_unknown_group_in_dunning_block() -> None:
    """`dunning X` for an undeclared group is E203 on X."""
    text = HEADER + GROUP + MEASURES + "dunning al\n" + CLEAN

    assert ("E203", 5, 9) in found(text)
    assert "did you mean `all`? known dunning groups: all" in hints(text)


def test_unknown_from_state() -> None:
    """A `from` state no transition or declaration mentions is E203, nothing else."""
    text = policy(CLEAN + "  on promise_broken from remindd -> closed\n")

    assert found(text) == [("E203", 10, 26)]
    assert hints(text) == [
        "did you mean `reminded`? known states: called, closed, current, paid, reminded"
    ]


def test_from_state_named_by_an_event_target_is_known() -> None:
    """A state reached only by an `on` rule may be named after `from`."""
    text = policy(
        CLEAN + "  hold promised\n"
        "  on promise_given from reminded -> promised\n"
        "  on promise_kept from promised -> back\n"
    )

    assert found(text) == []


def test_unknown_subject() -> None:
    """Before the dot only `customer` and `claim` are known."""
    text = policy(CLEAN.replace("do call", 'when custmer.kind = "b" do call'))

    assert found(text) == [("E203", 7, 49)]
    assert (
        found(policy(CLEAN.replace("do call", 'when customer.kind = "b" do call')))
        == []
    )


def test_unknown_attribute_name_is_a_data_column() -> None:
    """Any name after `customer.` or `claim.` is an extra column, of any kind."""
    text = policy(
        CLEAN.replace(
            "do call", 'when customer.rating > 3 and claim.region = "N" do call'
        )
    )

    assert found(text) == []


# ---- groups (E202, E204, E205, W304) -----------------------------------------


def test_duplicate_group() -> None:
    """A group declared twice is E202 on the second name."""
    groups = (
        'group key when customer.segment = "a"\n'
        'group key when customer.segment = "b"\n' + GROUP
    )
    block = "dunning key\n" + CLEAN + "dunning all\n"
    text = HEADER + groups + MEASURES + block + CLEAN

    assert found(text) == [("E202", 3, 7)]
    fixed = text.replace('group key when customer.segment = "b"\n', "")
    assert found(fixed) == []


def test_missing_fallback_group() -> None:
    """Without an `otherwise` group, E204 points at the last group rule."""
    text = policy(CLEAN, groups='group all when customer.kind = "b"\n')

    assert found(text) == [("E204", 2, 1)]


def test_no_groups_at_all() -> None:
    """A policy with no group at all gets E204 on its header line, and E203."""
    text = policy(CLEAN, groups="")

    assert found(text) == [("E204", 1, 1), ("E203", 4, 9)]


def test_group_after_fallback() -> None:
    """A rule after `otherwise` is W304 and needs no dunning block."""
    text = policy(CLEAN, groups=GROUP + 'group key when customer.kind = "b"\n')

    assert found(text) == [("W304", 3, 7)]


def test_group_without_dunning_block() -> None:
    """A declared group with no `dunning` block is E205 on its name."""
    text = policy(CLEAN, groups='group key when customer.kind = "b"\n' + GROUP)

    assert found(text) == [("E205", 2, 7)]


def test_series_used_twice() -> None:
    """Using one series twice in a block is E202 on the second `use`."""
    series = "series letters\n  current -> reminded after 14 days overdue do note\n"
    block = (
        "  use letters\n  use letters\n"
        "  reminded -> closed after 7 days in state do call\n  terminal closed\n"
    )
    text = HEADER + GROUP + MEASURES + series + "dunning all\n" + block

    assert found(text) == [("E202", 9, 7)]
    assert (
        found(text.replace("  use letters\n  use letters\n", "  use letters\n")) == []
    )


# ---- events and states (E207, E208, E209, E216, W302) ---------------------------


def test_unknown_event() -> None:
    """An event that does not exist is E207 with did-you-mean."""
    text = policy(CLEAN + "  on dispute_opend -> closed\n")

    assert found(text) == [("E207", 10, 6)]
    assert hints(text)[0].startswith("did you mean `dispute_opened`? known events: ")
    assert found(policy(CLEAN + "  on dispute_opened -> closed\n")) == []


def test_state_with_no_way_out() -> None:
    """A normal state with nothing leaving it is E208 on its first mention."""
    text = policy(CLEAN.replace("  terminal closed\n", ""))

    assert found(text) == [("E208", 8, 13)]


def test_hold_state_with_no_way_out() -> None:
    """A hold state needs an `on` rule out; reported where a rule first names it."""
    text = policy(CLEAN + "  hold held\n  on hold_set from reminded -> held\n")

    assert found(text) == [("E208", 11, 32)]
    fixed = text + "  on hold_released from held -> back\n"
    assert found(fixed) == []


def test_event_rule_without_from_is_a_way_out_everywhere() -> None:
    """An `on` rule without `from` leaves every state that is not terminal."""
    text = policy(CLEAN.replace("  terminal closed\n", "") + "  on payment -> paid\n")

    assert found(text) == []


def test_transition_out_of_terminal_state() -> None:
    """Timed transitions and `on` rules leaving a terminal state are E209."""
    text = policy(
        CLEAN + "  closed -> current after 3 days in state\n"
        "  on payment from paid -> current\n"
    )

    assert found(text) == [("E209", 10, 3), ("E209", 11, 19)]


def test_unreachable_states() -> None:
    """A state nothing leads to is W302; so is one only such a state leads to."""
    text = policy(CLEAN + "  limbo -> lost after 3 days in state\n  terminal lost\n")

    assert found(text) == [("W302", 10, 3), ("W302", 10, 12)]
    assert hints(text) == [
        "no transition or `on` rule leads to `limbo`; add one, or remove the state",
        "only states that are never reached lead to `lost`",
    ]


def test_back_from_a_state_that_is_not_on_hold() -> None:
    """`back` after `from` naming a normal state is E216 on that state."""
    text = policy(CLEAN + "  on promise_kept from reminded -> back\n")

    assert found(text) == [("E216", 10, 24)]


def test_back_without_from() -> None:
    """`back` without `from` is E216 under the word `back`."""
    text = policy(
        CLEAN + "  hold held\n  on hold_set -> held\n  on hold_released -> back\n"
    )

    assert found(text) == [("E216", 12, 23)]
    fixed = text.replace(
        "on hold_released -> back", "on hold_released from held -> back"
    )
    assert found(fixed) == []


def test_back_as_target_of_a_timed_transition() -> None:
    """Only an `on` rule can go `back`."""
    text = policy(
        CLEAN + "  hold held\n  on hold_set -> held\n"
        "  held -> back after 3 days in state\n"
    )

    assert ("E216", 12, 11) in found(text)


# ---- order of transitions (E210, E217) ----------------------------------------


def two_guards(first: str, second: str) -> str:
    """A policy whose state `current` has two guarded transitions."""
    return policy(
        f"  current -> reminded after 14 days overdue when {first} do note\n"
        f"  current -> called after 14 days overdue when {second} do call\n"
        "  reminded -> closed after 7 days in state\n"
        "  called -> closed after 7 days in state\n"
        "  terminal closed\n"
    )


def test_overlapping_amount_ranges() -> None:
    """`>= 50 EUR` and `< 100 EUR` overlap: E210 on the later guard."""
    text = two_guards("claim.open_amount >= 50 EUR", "claim.open_amount < 100 EUR")

    assert found(text) == [("E210", 7, 48)]


def test_touching_amount_ranges_do_not_overlap() -> None:
    """`>= 100 EUR` and `< 100 EUR` exclude each other."""
    text = two_guards("claim.open_amount >= 100 EUR", "claim.open_amount < 100 EUR")

    assert found(text) == []


def test_shared_bound_overlaps() -> None:
    """`<= 100 EUR` and `>= 100 EUR` both hold for exactly 100 EUR."""
    text = two_guards("claim.open_amount <= 100 EUR", "claim.open_amount >= 100 EUR")

    assert codes(text) == ["E210"]


def test_equal_texts_overlap() -> None:
    """Two guards testing the same text for equality overlap."""
    assert codes(two_guards('customer.kind = "b"', 'customer.kind = "b"')) == ["E210"]
    assert codes(two_guards('customer.kind = "b"', 'customer.kind = "c"')) == []


def test_lists_overlap_when_they_share_a_value() -> None:
    """`in` lists overlap when they intersect, and not otherwise."""
    shared = two_guards(
        'customer.country in ["DE", "AT"]', 'customer.country in ["AT"]'
    )
    apart = two_guards('customer.country in ["DE", "AT"]', 'customer.country in ["CH"]')

    assert codes(shared) == ["E210"]
    assert codes(apart) == []


def test_negated_list_is_the_rest() -> None:
    """`not in` a list and `in` that list exclude each other; `not (..)` too."""
    assert (
        codes(
            two_guards('customer.country in ["DE"]', 'customer.country not in ["DE"]')
        )
        == []
    )
    assert (
        codes(
            two_guards('customer.country in ["DE"]', 'not customer.country in ["DE"]')
        )
        == []
    )
    assert codes(
        two_guards('customer.country not in ["DE"]', 'customer.country != "AT"')
    ) == ["E210"]


def test_alternatives_are_each_compared() -> None:
    """With `or`, one overlapping alternative is enough."""
    text = two_guards(
        'customer.kind = "b" or claim.open_amount > 10 EUR',
        "claim.open_amount < 20 EUR",
    )

    assert codes(text) == ["E210"]


def test_contradicting_conditions_on_another_value_rule_out_overlap() -> None:
    """Guards that exclude each other on one value do not overlap on another."""
    text = two_guards(
        'claim.open_amount > 10 EUR and customer.kind = "b"',
        'claim.open_amount > 10 EUR and customer.kind = "c"',
    )

    assert codes(text) == []


def test_guards_on_different_values_are_not_compared() -> None:
    """Only guards testing the same value are reported."""
    assert codes(two_guards('customer.kind = "b"', "claim.open_amount > 5 EUR")) == []


def test_otherwise_after_guarded_transition() -> None:
    """A last transition without `when` is the documented otherwise, not E210."""
    text = policy(
        "  current -> reminded after 14 days overdue when claim.amount > 5 EUR "
        "do note\n"
        "  current -> called after 14 days overdue do call\n"
        "  reminded -> closed after 7 days in state\n"
        "  called -> closed after 7 days in state\n"
        "  terminal closed\n"
    )

    assert found(text) == []


def shadow(first: str, second: str) -> str:
    """A policy whose state `current` has an unguarded transition, then another."""
    return policy(
        f"  current -> reminded {first} do note\n"
        f"  current -> called {second} do call\n"
        "  reminded -> closed after 7 days in state\n"
        "  called -> closed after 7 days in state\n"
        "  terminal closed\n"
    )


def test_shadowed_by_earlier_unguarded_transition() -> None:
    """`after 10 days in state` first makes `after 12 days in state` dead: E217."""
    text = shadow("after 10 days in state", "after 12 days in state")

    assert found(text) == [("E217", 7, 21)]
    assert hints(text) == [
        "`current -> reminded` on line 6 has no condition and is always due first "
        "(after 10 days in state); give it a `when` condition, or remove this "
        "transition"
    ]


def test_shadowed_even_with_its_own_guard() -> None:
    """A guard on the later transition does not bring it back to life."""
    text = shadow(
        "after 10 days in state", "after 10 days in state when claim.amount > 5 EUR"
    )

    assert codes(text) == ["E217"]


def test_earlier_due_later_does_not_shadow() -> None:
    """An unguarded transition due later leaves room for the next one."""
    assert (
        codes(
            shadow(
                "after 12 days in state",
                "after 10 days in state when claim.amount > 5 EUR",
            )
        )
        == []
    )


def test_later_unguarded_transition_due_strictly_earlier() -> None:
    """An unguarded transition always due earlier kills the one written before it."""
    text = shadow(
        "after 12 days in state when claim.amount > 5 EUR", "after 10 days in state"
    )

    assert found(text) == [("E217", 6, 23)]


def test_overdue_timer_shadows_a_later_in_state_timer() -> None:
    """`after 10 days overdue` is due no later than `after 12 days in state`."""
    assert codes(shadow("after 10 days overdue", "after 12 days in state")) == ["E217"]
    assert codes(shadow("after 10 days in state", "after 12 days overdue")) == []


def test_business_days_are_not_shorter_than_calendar_days() -> None:
    """10 calendar days fall due before 10 business days, not the other way."""
    # W306 (business days without a calendar) is not what this test is about.
    assert [
        c
        for c in codes(
            shadow("after 10 days in state", "after 10 business days in state")
        )
        if c != "W306"
    ] == ["E217"]
    assert [
        c
        for c in codes(
            shadow("after 10 business days in state", "after 10 days in state")
        )
        if c != "W306"
    ] == []


def test_end_of_month_moves_a_timer_later() -> None:
    """`at end of month` on the first timer means it may be due after the second."""
    assert (
        codes(shadow("after 10 days overdue at end of month", "after 12 days overdue"))
        == []
    )
    assert codes(
        shadow("after 10 days overdue", "after 12 days overdue at end of month")
    ) == ["E217"]


def test_transition_without_timer_shadows_everything_after_it() -> None:
    """An unguarded transition without a timer fires at once."""
    assert found(shadow("", "after 3 days overdue")) == [("E217", 7, 21)]


# ---- timers along a chain (E211, W303) -------------------------------------------


def chain(first: str, second: str) -> str:
    """A policy with current -> reminded -> closed on the two timers."""
    return policy(
        f"  current -> reminded {first} do note\n"
        f"  reminded -> closed {second} do call\n  terminal closed\n"
    )


def test_timer_goes_backwards() -> None:
    """A later step due fewer days overdue than the step before it is E211."""
    assert found(chain("after 14 days overdue", "after 10 days overdue")) == [
        ("E211", 7, 22)
    ]


def test_steps_due_on_the_same_day() -> None:
    """Equal days overdue along a chain is W303."""
    assert found(chain("after 14 days overdue", "after 14 days overdue")) == [
        ("W303", 7, 22)
    ]


def test_timers_growing_along_a_chain() -> None:
    """Days overdue that grow along the chain are fine."""
    assert found(chain("after 14 days overdue", "after 28 days overdue")) == []


def test_different_kinds_of_timer_are_not_compared() -> None:
    """Business against calendar days, or days in state, are not compared."""
    assert [
        f
        for f in found(chain("after 14 business days overdue", "after 10 days overdue"))
        if f[0] != "W306"
    ] == []
    assert found(chain("after 14 days overdue", "after 10 days in state")) == []


# ---- currencies and values (E212, E214, E215) ----------------------------------


def test_amount_in_another_currency() -> None:
    """Amounts in conditions, fees, bounds and costs must be in the policy currency."""
    measures = (
        'measure note = letter "note" fee 2 % of open amount min 1 USD '
        "max 9 EUR cost 1 GBP\n"
        'measure call = phone queue "r" fee 5 CHF\n'
    )
    text = policy(
        CLEAN.replace("do call", "when claim.amount > 5 USD do call"), measures=measures
    )

    assert found(text) == [
        ("E212", 3, 57),
        ("E212", 3, 78),
        ("E212", 4, 36),
        ("E212", 7, 64),
    ]


def test_amounts_in_a_declared_currency() -> None:
    """With `currency USD`, USD amounts are right and EUR amounts are not."""
    text = policy(
        CLEAN.replace("do call", "when claim.amount > 5 EUR do call"),
        head="currency USD\n",
    )

    assert found(text) == [("E212", 8, 64)]
    assert hints(text) == [
        "the policy works in USD (on line 2); write 5 USD, or change the policy "
        "currency"
    ]


def test_invalid_header_values() -> None:
    """Currency, time zone and calendar country are checked against real lists."""
    head = 'currency EUX\ntimezone "Mars/Olympus"\ncalendar QQ\n'
    text = policy(CLEAN, head=head)

    assert found(text) == [("E215", 2, 10), ("E215", 3, 10), ("E215", 4, 10)]
    assert (
        found(
            policy(
                CLEAN, head='currency CHF\ntimezone "Europe/Zurich"\ncalendar CH-ZH\n'
            )
        )
        == []
    )


def test_invalid_calendar_region() -> None:
    """A region the country's holiday calendar does not know is E215 on the region."""
    text = policy(CLEAN, head="calendar DE-XX\n")

    assert found(text) == [("E215", 2, 13)]
    assert hints(text)[0].startswith("known regions of DE: BB, BE, BW, BY")


def test_invalid_currency_in_an_amount() -> None:
    """An amount whose code is no currency is E215, not E212."""
    text = policy(CLEAN.replace("do call", "when claim.amount > 5 EUX do call"))

    assert found(text) == [("E215", 7, 64)]


def test_values_out_of_range() -> None:
    """Fees, costs and interest above 100 % and a minimum above the maximum: E214."""
    measures = (
        'measure note = letter "note" fee 101 % of open amount '
        "interest 100.5 % per year cost 150 % of collected\n"
        'measure call = phone queue "r" fee 5 % of open amount min 9 EUR '
        "max 2 EUR\n"
    )
    text = policy(CLEAN, measures=measures)

    assert found(text) == [
        ("E214", 3, 34),
        ("E214", 3, 64),
        ("E214", 3, 86),
        ("E214", 4, 59),
    ]


def test_values_at_the_limit() -> None:
    """100 %, equal bounds and zero days are all fine."""
    measures = (
        'measure note = letter "note" fee 100 % of open amount min 5 EUR '
        "max 5 EUR interest 100 % per year\n"
        'measure call = phone queue "r" cost 100 % of collected\n'
    )
    text = policy(
        CLEAN.replace("after 7 days in state", "after 0 days in state"),
        measures=measures,
    )

    assert found(text) == []


def test_values_found_without_the_source_text() -> None:
    """Without the policy text, a value problem points at its measure statement."""
    text = policy(CLEAN, measures=MEASURES.replace('"note"', '"note" fee 5 USD'))
    model = check_text(text, "p.dun").policy
    assert model is not None

    problems = check_policy(attrs.evolve(model, source=""))

    assert [(d.code, d.span.line, d.span.column) for d in problems] == [("E212", 3, 1)]


# ---- kinds of values (E213) -----------------------------------------------------


def compared(condition: str) -> list[tuple[str, int, int]]:
    """Findings for a policy with `condition` on its line 7."""
    return found(policy(CLEAN.replace("do call", f"when {condition} do call")))


def test_money_compared_with_a_plain_number() -> None:
    """`claim.open_amount > 0` is E213 on the 0, hinting at `0 EUR`."""
    text = policy(CLEAN.replace("do call", "when claim.open_amount > 0 do call"))

    assert found(text) == [("E213", 7, 69)]
    assert hints(text) == ["write an amount with its currency, like 0 EUR"]
    assert compared("claim.open_amount > 0 EUR") == []


def test_days_take_a_number_or_days() -> None:
    """A number of days compares with `30` and with `30 days`, not with money."""
    assert compared("claim.days_overdue > 30") == []
    assert compared("customer.days_since_oldest_unpaid >= 30 days") == []
    assert compared("claim.days_overdue > 30 EUR") == [("E213", 7, 70)]


def test_numbers_dates_and_texts() -> None:
    """Counts take numbers, dates take dates, texts take quoted texts."""
    assert compared("customer.open_claims > 3") == []
    assert compared("customer.open_claims > 3 days") == [("E213", 7, 72)]
    assert compared("claim.due_date < 2026-01-01") == []
    assert compared("claim.due_date < 5 EUR") == [("E213", 7, 66)]
    assert compared('customer.segment = "key"') == []
    assert compared("customer.segment = 5") == [("E213", 7, 68)]


def test_texts_cannot_be_ordered() -> None:
    """`<` and `>` on a text are E213 on the whole comparison."""
    assert compared('customer.segment > "a"') == [("E213", 7, 49)]
    assert compared('claim.region > "a"') == [("E213", 7, 49)]


def test_list_options_are_checked_one_by_one() -> None:
    """Each option of an `in` list must be of the value's kind."""
    assert compared('customer.country in ["DE", 3, "AT"]') == [("E213", 7, 76)]


def test_flag_test_on_a_value_that_is_not_a_flag() -> None:
    """A bare `claim.amount` as a condition is E213; an extra column is fine."""
    text = policy(CLEAN.replace("do call", "when claim.amount do call"))

    assert found(text) == [("E213", 7, 49)]
    assert hints(text) == ["compare it, like `claim.amount > 0 EUR`"]
    assert compared("customer.vip") == []


def test_two_values_of_different_kinds() -> None:
    """Two built-in values of different kinds are E213 on the comparison."""
    assert compared("claim.amount > customer.open_claims") == [("E213", 7, 49)]
    assert compared("claim.amount > customer.credit_limit") == []
    assert compared("claim.days_overdue > customer.open_claims") == []


def test_constant_first() -> None:
    """A constant on the left is checked like one on the right."""
    assert compared("0 < claim.amount") == [("E213", 7, 49)]


def test_group_and_event_guards_are_checked() -> None:
    """Guards of group rules and `on` rules get the same checks."""
    groups = "group key when customer.credit_limit > 5\n" + GROUP
    text = policy(
        CLEAN + "  on payment when claim.open_amount = 0 -> paid\n", groups=groups
    )
    text = text.replace("dunning all\n", "dunning key\n" + CLEAN + "dunning all\n")

    assert codes(text) == ["E213", "E213"]


# ---- measures (W301) -------------------------------------------------------------


def test_unused_measure() -> None:
    """A measure no rule names is W301 on its name."""
    assert found(policy(CLEAN.replace(" do call", ""))) == [("W301", 4, 9)]


def test_measure_used_by_an_event_rule() -> None:
    """Naming a measure in an `on` rule uses it."""
    text = policy(
        CLEAN.replace(" do call", "")
        + "  on promise_broken from called -> closed do call\n"
    )

    assert found(text) == []


# ---- robustness ----------------------------------------------------------------

NAMES = st.sampled_from(["a", "b", "current", "paid", "back", "held", "all"])
ATTRIBUTES = st.sampled_from(
    [
        "claim.amount",
        "claim.days_overdue",
        "claim.due_date",
        "customer.segment",
        "customer.vip",
        "custmer.kind",
        "customer.open_claims",
    ]
)
LITERALS = st.sampled_from(
    [
        "0",
        "5 EUR",
        "5 USD",
        "5 EUX",
        "30 days",
        "10 %",
        '"key"',
        "2026-01-01",
        "2026-02-30",
        "true",
    ]
)


@st.composite
def conditions(draw: st.DrawFn, depth: int = 0) -> str:
    """A random guard condition."""
    choice = draw(st.integers(0, 5 if depth < 3 else 2))
    if choice == 0:
        return draw(ATTRIBUTES)
    if choice == 1:
        operator = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">="]))
        return f"{draw(ATTRIBUTES)} {operator} {draw(LITERALS)}"
    if choice == 2:
        options = draw(st.lists(LITERALS, max_size=3))
        negated = draw(st.sampled_from(["in", "not in"]))
        return f"{draw(ATTRIBUTES)} {negated} [{', '.join(options)}]"
    if choice == 3:
        return f"not {draw(conditions(depth + 1))}"
    joiner = " and " if choice == 4 else " or "
    return (
        "("
        + joiner.join(draw(st.lists(conditions(depth + 1), min_size=2, max_size=3)))
        + ")"
    )


@st.composite
def statements(draw: st.DrawFn) -> str:
    """A random line of a policy, right or wrong in meaning but never in syntax."""
    name, other = draw(NAMES), draw(NAMES)
    timer = draw(
        st.sampled_from(
            [
                "",
                "after 0 days in state",
                "after 7 days overdue",
                "after 7 business days overdue at end of month",
                "after 14 days in state",
            ]
        )
    )
    guard = draw(st.one_of(st.just(""), conditions().map(lambda c: f"when {c}")))
    measures = draw(st.sampled_from(["", "do note", "do note, call", "do nothing"]))
    event = draw(
        st.sampled_from(["payment", "dispute_opened", "hold_released", "paymnt"])
    )
    sources = draw(st.sampled_from(["", "from a", "from held, paid", "from b"]))
    target = draw(st.sampled_from(["back", "a", "paid", "held"]))
    return draw(
        st.sampled_from(
            [
                f"group {name} otherwise",
                f"group {name} {guard or 'when customer.vip'}",
                f'measure {name} = letter "x" fee 150 % of open amount min 9 EUR '
                "max 1 EUR",
                f'measure {name} = agency "y" cost 5 USD interest 120 % per year',
                f"dunning {name}",
                f"series {name}",
                f"use {name}",
                f"initial {name}",
                f"terminal {name}, {other}",
                f"hold {name}",
                f"{name} -> {other} {timer} {guard} {measures}",
                f"on {event} {sources} {guard} -> {target} {measures}",
                "currency USD",
                'timezone "Mars/Olympus"',
                "calendar DE-XX",
            ]
        )
    )


@settings(max_examples=300, deadline=None)
@given(st.lists(statements(), max_size=25))
def test_checks_never_fail_on_any_policy(body: list[str]) -> None:
    """Whatever the statements, checking reports diagnostics and never raises."""
    text = HEADER + "\n".join(body) + "\n"

    result = check_text(text, "p.dun")

    assert all(d.code in CODES for d in result.diagnostics)
    assert all(d.span.line >= 1 for d in result.diagnostics)
    render_all(result.diagnostics, text)


SELF_LOOP = """\
policy "Loop" version "1"
  currency EUR

group all otherwise

measure m = letter "m" fee 5 EUR

dunning all
  terminal reminded
  current -> current after {days} days in state do m
  current -> reminded after 10 days overdue do m
"""


def test_a_daily_loop_written_first_starves_the_next_transition() -> None:
    """A loop back to `current` every day restarts it before 10 days overdue fire."""
    result = check_text(SELF_LOOP.format(days=1), "loop.dun")

    assert [(d.code, d.span.line, d.message) for d in result.diagnostics] == [
        ("E217", 11, "`current -> reminded` can never fire"),
    ]
    assert "returns to the same state" in (result.diagnostics[0].hint or "")


def test_a_weekly_loop_leaves_room_for_the_next_transition() -> None:
    """Repeating every 7 days leaves six days a week for the overdue step: no error."""
    result = check_text(SELF_LOOP.format(days=7), "loop.dun")

    assert result.diagnostics == ()


def test_a_timer_of_more_than_a_hundred_years_is_refused() -> None:
    """`after 3000000 days` cannot be a real deadline: E214 at the timer."""
    text = SELF_LOOP.format(days=7).replace(
        "after 10 days overdue", "after 3000000 days overdue"
    )

    result = check_text(text, "loop.dun")

    assert [(d.code, d.message) for d in result.diagnostics] == [
        ("E214", "`after 3000000 days` is more than a hundred years"),
    ]


def test_a_name_close_to_a_built_in_value_is_flagged() -> None:
    """`claim.open_amont` reads a data column; the warning suggests open_amount."""
    text = SELF_LOOP.format(days=7).replace(
        "after 10 days overdue do m",
        "after 10 days overdue when claim.open_amont >= 5 EUR do m",
    )

    result = check_text(text, "typo.dun")

    assert [(d.code, d.message, d.hint) for d in result.diagnostics] == [
        (
            "W305",
            "`claim.open_amont` is not a built-in value; it is read from a column "
            "of the imported data",
            "did you mean `claim.open_amount`? If the data has such a column, "
            "rename it to silence this warning",
        )
    ]


def test_an_extra_column_far_from_any_built_in_is_fine() -> None:
    """`claim.paperless_bill` is a data column like any other: no warning."""
    text = SELF_LOOP.format(days=7).replace(
        "after 10 days overdue do m",
        'after 10 days overdue when claim.paperless_bill = "Paper" do m',
    )

    assert check_text(text, "extra.dun").diagnostics == ()


def test_business_days_without_a_calendar_are_flagged() -> None:
    """Without `calendar`, business days skip weekends only: W306 at the timer."""
    text = SELF_LOOP.format(days=7).replace(
        "after 10 days overdue", "after 10 business days overdue"
    )

    result = check_text(text, "weekdays.dun")

    assert [(d.code, d.span.line) for d in result.diagnostics] == [("W306", 11)]


def test_a_misspelled_measure_does_not_also_warn_the_real_one_is_unused() -> None:
    """`do remider` is E203 suggesting `reminder`; no W301 for `reminder`."""
    text = (
        SELF_LOOP.format(days=7)
        .replace('measure m = letter "m" fee 5 EUR', 'measure reminder = letter "r"')
        .replace("do m", "do remider")
    )

    result = check_text(text, "typo.dun")

    assert [d.code for d in result.diagnostics] == ["E203", "E203"]

"""Every diagnostic code: the full rendered text, and its entry in docs/errors.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from dunlang import CODES, check_text, render_all
from engine.cli.main import cli

DOCS = Path(__file__).resolve().parent.parent / "docs" / "errors.md"

HEADER = 'policy "P" version "1"'
GROUP = "group all otherwise"
MEASURE = 'measure note = letter "note"'
BLOCK = "dunning all"
STEP = "  current -> done after 14 days overdue do note"
END = "  terminal done"


@pytest.fixture(autouse=True)
def no_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Checks run as on a machine without measure plug-ins, whatever is installed."""
    monkeypatch.setattr("dunlang.checks.installed_measure_plugins", frozenset)


def lines(*text: str) -> str:
    """A policy text from its lines."""
    return "\n".join(text) + "\n"


def rendered(source: str) -> str:
    """Everything `dunning check` would print about `source` as `p.dun`."""
    result = check_text(source, "p.dun")
    return render_all(result.diagnostics, source)


# (source, full rendered text), one or more per code. Columns are counted by
# hand from the source lines.
CASES: dict[str, tuple[str, str]] = {
    "E101": (
        lines(HEADER, GROUP, 'measure note = letter "note" cost 1 €', BLOCK, STEP, END),
        lines(
            "p.dun:3:37: error E101: unexpected character `€`",
            '    3 | measure note = letter "note" cost 1 €',
            "      |                                     ^",
            "      = hint: expected `%` or a currency code like EUR",
        ),
    ),
    "E101 digit of another script": (
        lines(
            HEADER,
            GROUP,
            MEASURE,
            BLOCK,
            "  current -> done after ١٤ days overdue do note",
            END,
        ),
        lines(
            "p.dun:5:25: error E101: unexpected character `١`",
            "    5 |   current -> done after ١٤ days overdue do note",
            "      |                         ^",
            "      = hint: expected a whole number of days; write numbers with the "
            "digits 0 to 9",
        ),
    ),
    "E101 no-break space": (
        lines(HEADER, "group all\u00a0otherwise"),
        lines(
            "p.dun:2:10: error E101: unexpected character U+00A0 (NO-BREAK SPACE)",
            "    2 | group all\u00a0otherwise",
            "      |          ^",
            "      = hint: expected `otherwise` or `when`",
        ),
    ),
    "E101 old Mac line ends": (
        HEADER + "\r" + GROUP + "\r",
        lines(
            "p.dun:1:23: error E101: unexpected character U+000D (a control character)",
            '    1 | policy "P" version "1"',
            "      |                       ^",
            "      = hint: the lines end with a carriage return alone; save the file "
            "with ordinary line ends (LF or CR LF)",
        ),
    ),
    "E102 digit of another script after the point": (
        lines(
            HEADER,
            GROUP,
            'measure note = letter "note" cost 0.٨0 EUR',
            BLOCK,
            STEP,
            END,
        ),
        lines(
            "p.dun:3:36: error E102: unexpected `.`",
            '    3 | measure note = letter "note" cost 0.٨0 EUR',
            "      |                                    ^",
            "      = hint: expected `%` or a currency code like EUR; write numbers "
            "with the digits 0 to 9",
        ),
    ),
    "E102": (
        lines(
            HEADER,
            GROUP,
            MEASURE,
            BLOCK,
            "  current -> done after 14 dys overdue do note",
            END,
        ),
        lines(
            "p.dun:5:28: error E102: unexpected `dys`",
            "    5 |   current -> done after 14 dys overdue do note",
            "      |                            ^^^",
            "      = hint: did you mean `days`? expected `business` or `days`",
        ),
    ),
    "E102 misspelled statement": (
        lines(HEADER, "grup all otherwise"),
        lines(
            "p.dun:2:1: error E102: `grup` is not a statement",
            "    2 | grup all otherwise",
            "      | ^^^^",
            "      = hint: did you mean `group`? A line that starts with a state "
            "name is a transition and needs `->` next, like `current -> reminded`",
        ),
    ),
    "E102 condition on the next line": (
        lines(HEADER, 'group all when customer.kind = "b"', '  or customer.kind = "c"'),
        lines(
            "p.dun:3:3: error E102: a line cannot start with `or`",
            '    3 |   or customer.kind = "c"',
            "      |   ^^",
            "      = hint: a statement ends with its line; to carry a condition on "
            "to the next line, put it in parentheses",
        ),
    ),
    "E103": (
        HEADER + '\ngroup all when customer.country in ["DE", "AT"',
        lines(
            "p.dun:2:36: error E103: the file ends before this `[` is closed",
            '    2 | group all when customer.country in ["DE", "AT"',
            "      |                                    ^",
            "      = hint: close it with `]`; inside brackets a statement goes on "
            "over the next lines",
        ),
    ),
    "E104": (
        lines(HEADER, 'group all when customer.kind == "b"'),
        lines(
            "p.dun:2:30: error E104: `==` is not a comparison here",
            '    2 | group all when customer.kind == "b"',
            "      |                              ^^",
            "      = hint: write a single `=` to compare",
        ),
    ),
    "E201": (
        lines(GROUP),
        lines(
            "p.dun:1:1: error E201: the policy has no `policy` line",
            "    1 | group all otherwise",
            "      | ^",
            '      = hint: start the file with: policy "Name" version "1"',
        ),
    ),
    "E202": (
        lines(
            HEADER,
            'group key when customer.segment = "key"',
            'group key when customer.segment = "vip"',
            GROUP,
            MEASURE,
            "dunning key",
            STEP,
            END,
            BLOCK,
            STEP,
            END,
        ),
        lines(
            "p.dun:3:7: error E202: group `key` is defined twice",
            '    3 | group key when customer.segment = "vip"',
            "      |       ^^^",
            "      = hint: the first rule for `key` is on line 2; join the "
            "conditions with `or` in one rule",
        ),
    ),
    "E203": (
        lines(
            HEADER,
            GROUP,
            MEASURE,
            BLOCK,
            '  current -> done after 14 days overdue when custmer.kind = "b" do note',
            END,
        ),
        lines(
            "p.dun:5:46: error E203: unknown name `custmer`",
            '    5 |   current -> done after 14 days overdue when custmer.kind = "b" '
            "do note",
            "      |                                              ^^^^^^^",
            "      = hint: did you mean `customer`? known names before the dot: "
            "claim, customer",
        ),
    ),
    "E204": (
        lines(HEADER, 'group all when customer.kind = "b"', MEASURE, BLOCK, STEP, END),
        lines(
            "p.dun:2:1: error E204: no group takes the customers that no rule matches",
            '    2 | group all when customer.kind = "b"',
            "      | ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
            "      = hint: add a last group rule like `group standard otherwise`, so "
            "that every customer has a dunning group",
        ),
    ),
    "E205": (
        lines(
            HEADER,
            'group key when customer.segment = "key"',
            GROUP,
            MEASURE,
            BLOCK,
            STEP,
            END,
        ),
        lines(
            "p.dun:2:7: error E205: group `key` has no dunning block",
            '    2 | group key when customer.segment = "key"',
            "      |       ^^^",
            "      = hint: add a block starting with `dunning key` that says how the "
            "claims of this group are dunned",
        ),
    ),
    "E206": (
        lines(HEADER, GROUP, MEASURE, BLOCK, "  currency EUR", STEP, END),
        lines(
            "p.dun:5:12: error E206: `currency` belongs to the policy header",
            "    5 |   currency EUR",
            "      |            ^^^",
            "      = hint: move it up, below the `policy` line",
        ),
    ),
    "E207": (
        lines(HEADER, GROUP, MEASURE, BLOCK, STEP, END, "  on paymnt -> done"),
        lines(
            "p.dun:7:6: error E207: unknown event `paymnt`",
            "    7 |   on paymnt -> done",
            "      |      ^^^^^^",
            "      = hint: did you mean `payment`? known events: agency_returned, "
            "credit_note, "
            "dispute_opened, dispute_resolved, hold_released, hold_set, "
            "instalment_missed, partial_payment, payment, promise_broken, "
            "promise_given, promise_kept",
        ),
    ),
    "E208": (
        lines(
            HEADER,
            GROUP,
            MEASURE,
            BLOCK,
            "  current -> sent after 14 days overdue do note",
        ),
        lines(
            "p.dun:5:14: error E208: a claim in `sent` can never leave it (dunning "
            "group `all`)",
            "    5 |   current -> sent after 14 days overdue do note",
            "      |              ^^^^",
            "      = hint: add a transition from `sent` or an `on` rule that leaves "
            "it, or declare it with `terminal sent`",
        ),
    ),
    "E209": (
        lines(
            HEADER,
            GROUP,
            MEASURE,
            BLOCK,
            STEP,
            END,
            "  on payment from paid -> current",
        ),
        lines(
            "p.dun:7:19: error E209: `paid` is a terminal state; no rule can leave it",
            "    7 |   on payment from paid -> current",
            "      |                   ^^^^",
            "      = hint: a paid claim stays paid; remove this rule",
        ),
    ),
    "E210": (
        lines(
            HEADER,
            GROUP,
            MEASURE,
            BLOCK,
            "  current -> done after 14 days overdue when customer.segment in "
            '["a", "b"] do note',
            '  current -> gone after 14 days overdue when customer.segment = "b"',
            "  terminal done, gone",
        ),
        lines(
            "p.dun:6:46: error E210: `current -> gone` can apply to the same claims "
            "as `current -> done` on line 5",
            "    6 |   current -> gone after 14 days overdue when customer.segment = "
            '"b"',
            "      |                                              "
            "^^^^^^^^^^^^^^^^^^^^^^",
            "      = hint: both conditions on `customer.segment` can hold at once, "
            "and then the transition written first wins; make the conditions "
            "exclude each other, or leave the last one without `when`",
        ),
    ),
    "E211": (
        lines(
            HEADER,
            GROUP,
            MEASURE,
            BLOCK,
            "  current -> sent after 14 days overdue do note",
            "  sent -> done after 7 days overdue",
            END,
        ),
        lines(
            "p.dun:6:16: error E211: `sent -> done` falls due before the step into "
            "`sent` on line 5",
            "    6 |   sent -> done after 7 days overdue",
            "      |                ^^^^^^^^^^^^^^^^^^^^",
            "      = hint: a claim reaches `sent` after 14 days overdue, so this step "
            "is already due on arrival; make it later than 14 days overdue, or "
            "count the days `in state`",
        ),
    ),
    "E212": (
        lines(
            HEADER,
            GROUP,
            MEASURE,
            BLOCK,
            "  current -> done after 14 days overdue when claim.open_amount > 5 USD "
            "do note",
            END,
        ),
        lines(
            "p.dun:5:66: error E212: the amount is in USD, but the policy currency "
            "is EUR",
            "    5 |   current -> done after 14 days overdue when claim.open_amount > "
            "5 USD do note",
            "      |                                                                  "
            "^^^^^",
            "      = hint: the policy works in EUR (by default); write 5 EUR, or "
            "change the policy currency",
        ),
    ),
    "E213": (
        lines(
            HEADER,
            GROUP,
            MEASURE,
            BLOCK,
            "  current -> done after 14 days overdue when claim.open_amount > 0 "
            "do note",
            END,
        ),
        lines(
            "p.dun:5:66: error E213: `claim.open_amount` is an amount of money, not "
            "a number",
            "    5 |   current -> done after 14 days overdue when claim.open_amount > "
            "0 do note",
            "      |                                                                  "
            "^",
            "      = hint: write an amount with its currency, like 0 EUR",
        ),
    ),
    "E214": (
        lines(
            HEADER,
            GROUP,
            'measure note = letter "note" interest 120 % per year',
            BLOCK,
            STEP,
            END,
        ),
        lines(
            "p.dun:3:39: error E214: measure `note` charges interest of 120 % per year",
            '    3 | measure note = letter "note" interest 120 % per year',
            "      |                                       ^^^^^",
            "      = hint: an interest rate can be at most 100 % per year",
        ),
    ),
    "E215": (
        lines(HEADER, "currency EUX", GROUP, MEASURE, BLOCK, STEP, END),
        lines(
            "p.dun:2:10: error E215: `EUX` is not a currency code",
            "    2 | currency EUX",
            "      |          ^^^",
            "      = hint: did you mean `EUR`? write a three-letter currency code "
            "like EUR, USD or CHF",
        ),
    ),
    "E216": (
        lines(
            HEADER,
            GROUP,
            MEASURE,
            BLOCK,
            STEP,
            END,
            "  hold held",
            "  on hold_set -> held",
            "  on hold_released -> back",
        ),
        lines(
            "p.dun:9:23: error E216: `back` needs `from` naming the hold states it "
            "returns from",
            "    9 |   on hold_released -> back",
            "      |                       ^^^^",
            "      = hint: without `from` the rule applies in every state; name the "
            "hold states, like `from held` (hold states: held)",
        ),
    ),
    "E217": (
        lines(
            HEADER,
            GROUP,
            MEASURE,
            BLOCK,
            STEP,
            "  current -> gone after 20 days overdue",
            "  terminal done, gone",
        ),
        lines(
            "p.dun:6:19: error E217: `current -> gone` can never fire",
            "    6 |   current -> gone after 20 days overdue",
            "      |                   ^^^^^^^^^^^^^^^^^^^^^",
            "      = hint: `current -> done` on line 5 has no condition and is always "
            "due first (after 14 days overdue); give it a `when` condition, or "
            "remove this transition",
        ),
    ),
    "E218": (
        lines(
            HEADER,
            "  currency CHF",
            "  rounding 0.001",
            GROUP,
            MEASURE,
            BLOCK,
            STEP,
            END,
        ),
        lines(
            "p.dun:3:12: error E218: `rounding 0.001` is not a whole multiple of "
            "0.01, the smallest unit of CHF",
            "    3 |   rounding 0.001",
            "      |            ^^^^^",
            "      = hint: amounts in CHF are counted in steps of 0.01; give a "
            "multiple of it, like 0.05 or 0.10",
        ),
    ),
    "E218 zero": (
        lines(HEADER, "rounding 0", GROUP, MEASURE, BLOCK, STEP, END),
        lines(
            "p.dun:2:10: error E218: `rounding 0` rounds to nothing",
            "    2 | rounding 0",
            "      |          ^",
            "      = hint: amounts charged are rounded to a multiple of this step; "
            "give one above 0, like 0.05 for cash in CHF",
        ),
    ),
    "E201 small balance twice": (
        lines(
            HEADER,
            "small balance below 5 EUR write off",
            GROUP,
            MEASURE,
            BLOCK,
            STEP,
            END,
            "small balance below 2 EUR leave",
        ),
        lines(
            "p.dun:8:1: error E201: `small balance` is given twice",
            "    8 | small balance below 2 EUR leave",
            "      | " + "^" * 31,
            "      = hint: the policy already sets `small balance` on line 2; keep one",
        ),
    ),
    "E201 after hold twice": (
        lines(
            HEADER,
            "after hold continue",
            "after hold wait 3 days",
            GROUP,
            MEASURE,
            BLOCK,
            STEP,
            END,
        ),
        lines(
            "p.dun:3:1: error E201: `after hold` is given twice",
            "    3 | after hold wait 3 days",
            "      | " + "^" * 22,
            "      = hint: the policy already sets `after hold` on line 2; keep one",
        ),
    ),
    "E212 small balance": (
        lines(
            HEADER,
            "small balance below 5 USD write off",
            GROUP,
            MEASURE,
            BLOCK,
            STEP,
            END,
        ),
        lines(
            "p.dun:2:21: error E212: the small balance limit is in USD, but the "
            "policy currency is EUR",
            "    2 | small balance below 5 USD write off",
            "      |                     ^^^^^",
            "      = hint: the policy works in EUR (by default); write 5 EUR, or "
            "change the policy currency",
        ),
    ),
    "E214 small balance of nothing": (
        lines(
            HEADER,
            "small balance below 0.00 EUR leave",
            GROUP,
            MEASURE,
            BLOCK,
            STEP,
            END,
        ),
        lines(
            "p.dun:2:21: error E214: `small balance below 0.00 EUR` takes no claim",
            "    2 | small balance below 0.00 EUR leave",
            "      |                     ^^^^^^^^",
            "      = hint: no claim has less than nothing open; give a limit above 0, "
            "like 5 EUR",
        ),
    ),
    "E214 exclusion without reason": (
        lines(
            HEADER,
            'exclude when customer.segment = "x" because ""',
            GROUP,
            MEASURE,
            BLOCK,
            STEP,
            END,
        ),
        lines(
            "p.dun:2:45: error E214: the exclusion gives no reason",
            '    2 | exclude when customer.segment = "x" because ""',
            "      | " + " " * 44 + "^^",
            "      = hint: the reason is recorded for every claim the rule keeps out "
            'of dunning; write it, like `because "insolvency proceedings"`',
        ),
    ),
    "E214 amount above the limit": (
        # The fee starts at column 34, after `measure note = letter "note" fee `
        # (33 characters); the 29 nines and ` EUR` make 33 carets.
        lines(
            HEADER,
            GROUP,
            'measure note = letter "note" fee 99999999999999999999999999999 EUR',
            BLOCK,
            STEP,
            END,
        ),
        lines(
            "p.dun:3:34: error E214: the fee of measure `note` is "
            "99999999999999999999999999999 EUR, more than the largest amount the "
            "engine books",
            '    3 | measure note = letter "note" fee 99999999999999999999999999999 EUR',
            "      | " + " " * 33 + "^" * 33,
            "      = hint: an amount may be at most 1000000000000000 (10^15), as on "
            "import; write a smaller amount",
        ),
    ),
    "E214 amount finer than its currency": (
        # JPY has no minor unit, so 1.5 JPY cannot be booked; rounded half up
        # it is 2 JPY. The text up to `> ` has 60 characters, so the amount
        # `1.5 JPY` starts at column 61.
        lines(
            HEADER,
            "currency JPY",
            GROUP,
            MEASURE,
            BLOCK,
            "  current -> done after 14 days overdue when claim.amount > 1.5 JPY "
            "do note",
            END,
        ),
        lines(
            "p.dun:6:61: error E214: the amount is 1.5 JPY, finer than 1, the "
            "smallest unit of JPY",
            "    6 |   current -> done after 14 days overdue when claim.amount > 1.5 "
            "JPY do note",
            "      | " + " " * 60 + "^^^^^^^",
            "      = hint: amounts in JPY have no decimal places; write it like 2 JPY",
        ),
    ),
    "E203 misspelled measure kind": (
        lines(HEADER, GROUP, 'measure note = emial "note"', BLOCK, STEP, END),
        lines(
            "p.dun:3:16: error E203: unknown kind of measure `emial`",
            '    3 | measure note = emial "note"',
            "      |                ^^^^^",
            "      = hint: did you mean `email`? No installed plug-in provides "
            "`emial` (installed plug-ins: none)",
        ),
    ),
    "E203 exclusion guard": (
        lines(
            HEADER,
            'exclude when custmer.segment = "x" because "y"',
            GROUP,
            MEASURE,
            BLOCK,
            STEP,
            END,
        ),
        lines(
            "p.dun:2:14: error E203: unknown name `custmer`",
            '    2 | exclude when custmer.segment = "x" because "y"',
            "      |              ^^^^^^^",
            "      = hint: did you mean `customer`? known names before the dot: "
            "claim, customer",
        ),
    ),
    "E102 misspelled keyword": (
        lines(
            HEADER,
            GROUP,
            MEASURE,
            BLOCK,
            "  current -> done afterr 14 days overdue do note",
            END,
        ),
        lines(
            "p.dun:5:19: error E102: unexpected `afterr`",
            "    5 |   current -> done afterr 14 days overdue do note",
            "      |                   ^^^^^^",
            "      = hint: did you mean `after`?",
        ),
    ),
    "E102 keyword misspelled as a name": (
        lines(
            HEADER,
            GROUP,
            MEASURE,
            BLOCK,
            "  current -> done aftr 14 days overdue do note",
            END,
        ),
        lines(
            "p.dun:5:19: error E102: unexpected `aftr`",
            "    5 |   current -> done aftr 14 days overdue do note",
            "      |                   ^^^^",
            # The end of the line is named only when nothing else fits.
            "      = hint: did you mean `after`? expected `after`, `do` or `when`",
        ),
    ),
    "E102 unclosed bracket": (
        lines(HEADER, 'group all when (customer.kind = "b"', MEASURE, BLOCK, STEP, END),
        lines(
            "p.dun:2:16: error E102: this `(` is not closed",
            '    2 | group all when (customer.kind = "b"',
            "      |                ^",
            "      = hint: close it with `)`; inside brackets a statement goes on "
            "over the next lines, so `measure` on line 3 was read as part of it",
        ),
    ),
    "E102 timer on its own line": (
        lines(
            HEADER,
            GROUP,
            MEASURE,
            BLOCK,
            "  current -> done",
            "    after 14 days overdue",
            END,
        ),
        lines(
            "p.dun:6:5: error E102: a line cannot start with `after` and a number "
            "of days",
            "    6 |     after 14 days overdue",
            "      |     ^^^^^",
            "      = hint: a statement ends with its line; write the timer on the "
            "line of its transition, like `current -> reminded after 14 days "
            "overdue`",
        ),
    ),
    "W301": (
        lines(
            HEADER, GROUP, MEASURE, 'measure call = phone queue "r"', BLOCK, STEP, END
        ),
        lines(
            "p.dun:4:9: warning W301: measure `call` is never used",
            '    4 | measure call = phone queue "r"',
            "      |         ^^^^",
            "      = hint: name it after `do` in a transition or an `on` rule, or "
            "remove it",
        ),
    ),
    "W302": (
        lines(HEADER, GROUP, MEASURE, BLOCK, STEP, "  terminal done, lost"),
        lines(
            "p.dun:6:18: warning W302: state `lost` can never be reached (dunning "
            "group `all`)",
            "    6 |   terminal done, lost",
            "      |                  ^^^^",
            "      = hint: no transition or `on` rule leads to `lost`; add one, or "
            "remove the state",
        ),
    ),
    "W303": (
        lines(
            HEADER,
            GROUP,
            MEASURE,
            BLOCK,
            "  current -> sent after 14 days overdue do note",
            "  sent -> done after 14 days overdue",
            END,
        ),
        lines(
            "p.dun:6:16: warning W303: `sent -> done` falls due on the same day as "
            "the step into `sent` on line 5",
            "    6 |   sent -> done after 14 days overdue",
            "      |                ^^^^^^^^^^^^^^^^^^^^^",
            "      = hint: a claim reaches `sent` after 14 days overdue, so this step "
            "follows on the next run; make it later than 14 days overdue, or count "
            "the days `in state`",
        ),
    ),
    "W304": (
        lines(
            HEADER,
            GROUP,
            'group key when customer.segment = "key"',
            MEASURE,
            BLOCK,
            STEP,
            END,
        ),
        lines(
            "p.dun:3:7: warning W304: group rule `key` comes after the fallback "
            "group and is never used",
            '    3 | group key when customer.segment = "key"',
            "      |       ^^^",
            "      = hint: customers are matched from the top and `all` on line 2 "
            "takes everyone left; move this rule above it",
        ),
    ),
    "W305": (
        lines(
            HEADER,
            GROUP,
            MEASURE,
            BLOCK,
            "  current -> done after 14 days overdue when claim.open_amont >= 5 EUR "
            "do note",
            END,
        ),
        lines(
            "p.dun:5:46: warning W305: `claim.open_amont` is not a built-in value; "
            "it is read from a column of the imported data",
            "    5 |   current -> done after 14 days overdue when claim.open_amont "
            ">= 5 EUR do note",
            "      | " + " " * 45 + "^" * 16,
            "      = hint: did you mean `claim.open_amount`? If the data has such a "
            "column, rename it to silence this warning",
        ),
    ),
    "W306": (
        lines(
            HEADER,
            GROUP,
            MEASURE,
            BLOCK,
            "  current -> done after 14 business days overdue do note",
            END,
        ),
        lines(
            "p.dun:5:19: warning W306: business days are counted without public "
            "holidays: the policy has no `calendar`",
            "    5 |   current -> done after 14 business days overdue do note",
            "      | " + " " * 18 + "^" * 30,
            "      = hint: add a `calendar` line below the `policy` line, for "
            "example `calendar DE-NW`; without one only Saturdays and Sundays are "
            "skipped",
        ),
    ),
    "W307": (
        lines(HEADER, GROUP, 'measure note = sms "note"', BLOCK, STEP, END),
        lines(
            "p.dun:3:16: warning W307: no installed plug-in provides the measure "
            "kind `sms`",
            '    3 | measure note = sms "note"',
            "      |                ^^^",
            "      = hint: installed plug-ins: none; install the plug-in for `sms` on "
            "every machine that runs this policy, or use a built-in kind: letter, "
            "email, phone, agency, task, credit_stop, delivery_stop, write_off",
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_rendered_text(case: str) -> None:
    """The whole report for a policy with one problem, exactly as printed."""
    source, expected = CASES[case]
    assert rendered(source) + "\n" == expected


def test_nested_too_deeply(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A condition nested thousands of levels deep is E105, reported for the file."""
    monkeypatch.chdir(tmp_path)
    Path("deep.dun").write_text(
        lines(HEADER, "group all when " + "not " * 5000 + "customer.blocked"),
        encoding="utf-8",
    )

    result = CliRunner().invoke(cli, ["check", "deep.dun"])

    assert result.output == (
        "deep.dun: error E105: a condition is nested too deeply to read\n"
        "      = hint: write conditions with fewer `not` in a row\n"
        "\n"
        "deep.dun: 1 error\n"
    )


def test_every_code_has_a_case() -> None:
    """Each code in CODES has its rendered text pinned above or in a test of its own."""
    pinned = {case.split()[0] for case in CASES} | {"E105"}
    assert pinned == set(CODES)


def test_every_code_is_documented() -> None:
    """docs/errors.md has a section for every code, and none for unknown codes."""
    documented = re.findall(
        r"^## ([EW]\d{3}) ", DOCS.read_text(encoding="utf-8"), flags=re.MULTILINE
    )
    assert sorted(documented) == sorted(CODES)


def _entries() -> dict[str, tuple[str, str, str]]:
    """Broken example, message and fixed example of each entry in docs/errors.md."""
    text = DOCS.read_text(encoding="utf-8")
    entries = {}
    for section in re.split(r"^## ", text, flags=re.MULTILINE)[1:]:
        code = section.split()[0]
        blocks = re.findall(r"```(\w+)\n(.*?)```", section, flags=re.DOTALL)
        (broken, message, fixed) = (body for _, body in blocks[-3:])
        entries[code] = (broken, message, fixed)
    return entries


@pytest.mark.parametrize("code", sorted(set(CODES) - {"E105"}))
def test_documented_example(code: str) -> None:
    """An entry's broken example prints its documented message; its fix is clean."""
    broken, message, fixed = _entries()[code]

    result = check_text(broken, "policy.dun")

    assert render_all(result.diagnostics, broken) + "\n" == message
    assert [d.code for d in result.diagnostics] == [code]
    assert check_text(fixed, "policy.dun").diagnostics == ()


def test_documented_example_nested_too_deeply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The E105 example, with `not` written 600 times, prints the documented text."""
    broken, message, fixed = _entries()["E105"]
    monkeypatch.chdir(tmp_path)
    Path("policy.dun").write_text(
        broken.replace("not not not not ", "not " * 600), encoding="utf-8"
    )

    result = CliRunner().invoke(cli, ["check", "policy.dun"])

    assert result.output == message + "\npolicy.dun: 1 error\n"
    assert check_text(fixed, "policy.dun").diagnostics == ()

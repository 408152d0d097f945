"""The checked, immutable policy model that a `.dun` file turns into.

Everything the engine needs to know about a policy is here; nothing here knows
about the engine, the database or the state-machine library.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from decimal import Decimal

from attrs import field, frozen


@frozen(order=True)
class Span:
    """A place in a policy file: 1-based line and column, end column exclusive."""

    line: int
    column: int
    end_line: int
    end_column: int


NO_SPAN = Span(0, 0, 0, 0)


def _exact_amount(value: Decimal | int) -> Decimal:
    """An amount of money as a finite Decimal; an int converts exactly, a float
    or a text is refused (a float is not exact, a text is not a number yet)."""
    if type(value) is Decimal and value.is_finite():
        return value  # the common case, first
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if not isinstance(value, Decimal):
        raise TypeError(
            f"an amount of money must be a Decimal, not {type(value).__name__} "
            f'{value!r}; write Decimal("1.10")'
        )
    if not value.is_finite():
        raise ValueError(f"an amount of money must be a number, not {value}")
    return value


_CURRENCY = re.compile(r"[A-Z]{3}")
_currencies_seen: set[str] = set()


def _check_currency(_: object, __: object, value: str) -> None:
    if type(value) is str and value in _currencies_seen:
        return  # checked before: a run makes many amounts in a few currencies
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value):
        raise ValueError(
            f"a currency must be three upper-case letters like EUR, not {value!r}"
        )
    if len(_currencies_seen) < 1000:
        _currencies_seen.add(value)


@frozen
class Money:
    """An exact amount in one currency."""

    amount: Decimal = field(converter=_exact_amount)
    currency: str = field(validator=_check_currency)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


# ---- guard expressions ------------------------------------------------------


class ValueKind(enum.Enum):
    """What a literal or a known attribute holds, for type checks."""

    MONEY = "an amount of money"
    NUMBER = "a number"
    PERCENT = "a percentage"
    DAYS = "a number of days"
    TEXT = "a text"
    DATE = "a date"
    FLAG = "true or false"
    ANY = "a value from the data"


@frozen
class Literal:
    """A constant in a guard: `10 EUR`, `30 days`, `"key"`, `2026-01-01`, `true`."""

    value: Decimal | str | bool | dt.date | Money
    kind: ValueKind
    span: Span = field(default=NO_SPAN, eq=False)


@frozen
class Attribute:
    """A value read from the data: `customer.segment`, `claim.open_amount`."""

    subject: str
    name: str
    span: Span = field(default=NO_SPAN, eq=False)

    def __str__(self) -> str:
        return f"{self.subject}.{self.name}"


@frozen
class Compare:
    """`left OP right` with OP one of = != < <= > >=."""

    operator: str
    left: Operand
    right: Operand
    span: Span = field(default=NO_SPAN, eq=False)


@frozen
class InList:
    """`item in [a, b]` or, negated, `item not in [a, b]`."""

    item: Operand
    options: tuple[Literal, ...]
    negated: bool
    span: Span = field(default=NO_SPAN, eq=False)


@frozen
class Truthy:
    """A bare flag attribute used as a condition: `when customer.vip`."""

    attribute: Attribute
    span: Span = field(default=NO_SPAN, eq=False)


@frozen
class Not:
    """Negation of a condition."""

    operand: Expr
    span: Span = field(default=NO_SPAN, eq=False)


@frozen
class And:
    """All of the conditions hold."""

    operands: tuple[Expr, ...]
    span: Span = field(default=NO_SPAN, eq=False)


@frozen
class Or:
    """At least one of the conditions holds."""

    operands: tuple[Expr, ...]
    span: Span = field(default=NO_SPAN, eq=False)


Operand = Attribute | Literal
Expr = Compare | InList | Truthy | Not | And | Or


# ---- header, groups, measures ----------------------------------------------


@frozen
class Calendar:
    """Business calendar: a country and optionally a region (ISO 3166-2 suffix)."""

    country: str
    region: str | None = None

    def __str__(self) -> str:
        return f"{self.country}-{self.region}" if self.region else self.country


@frozen
class Header:
    """The policy's name, version and defaults."""

    name: str
    version: str
    currency: str = "EUR"
    timezone: str = "UTC"
    calendar: Calendar | None = None
    rounding: Decimal | None = None
    """Cash rounding step for amounts charged and totals (`rounding 0.05`)."""
    span: Span = field(default=NO_SPAN, eq=False)
    rounding_span: Span = field(default=NO_SPAN, eq=False)
    currency_span: Span = field(default=NO_SPAN, eq=False)
    timezone_span: Span = field(default=NO_SPAN, eq=False)
    calendar_span: Span = field(default=NO_SPAN, eq=False)


@frozen
class GroupRule:
    """Allocation of customers to a dunning group; `guard` None means otherwise."""

    name: str
    guard: Expr | None
    span: Span = field(default=NO_SPAN, eq=False)
    name_span: Span = field(default=NO_SPAN, eq=False)


class MeasureKind(enum.Enum):
    """The kinds of measure the engine knows how to carry out."""

    LETTER = "letter"
    EMAIL = "email"
    PHONE = "phone"
    AGENCY = "agency"
    TASK = "task"
    CREDIT_STOP = "credit_stop"
    DELIVERY_STOP = "delivery_stop"
    WRITE_OFF = "write_off"
    PLUGIN = "plugin"
    """A kind an installed plug-in provides; `Measure.plugin` names it."""


@frozen
class Fee:
    """A fee charged with a measure: fixed, or a percentage of the open amount."""

    fixed: Money | None = None
    percent: Decimal | None = None
    minimum: Money | None = None
    maximum: Money | None = None


@frozen
class Cost:
    """What a measure costs the company, for analysis only."""

    fixed: Money | None = None
    percent_of_collected: Decimal | None = None


class InterestKind(enum.Enum):
    """How default interest is computed once a measure switches it on."""

    STATUTORY = "statutory"
    EU = "eu"
    FIXED = "fixed"


@frozen
class Interest:
    """Default interest switched on by a measure."""

    kind: InterestKind
    rate: Decimal | None = None


@frozen
class Measure:
    """A named entry of the measure catalogue."""

    name: str
    kind: MeasureKind
    template: str | None = None
    queue: str | None = None
    agency: str | None = None
    text: str | None = None
    cost: Cost | None = None
    fee: Fee | None = None
    interest: Interest | None = None
    plugin: str | None = None
    """For `MeasureKind.PLUGIN`: the kind as written (`sms "reminder"` -> `sms`)."""
    span: Span = field(default=NO_SPAN, eq=False)
    name_span: Span = field(default=NO_SPAN, eq=False)


@frozen
class Exclusion:
    """`exclude when GUARD because "REASON"`: matching claims are not dunned.

    They stay in reports, and every run that would have looked at them records
    them as skipped, with the reason.
    """

    guard: Expr
    reason: str
    span: Span = field(default=NO_SPAN, eq=False)


class SmallBalanceAction(enum.Enum):
    """What happens to a claim whose open amount falls below the threshold."""

    WRITE_OFF = "write_off"
    LEAVE = "leave"


@frozen
class SmallBalance:
    """`small balance below MONEY write off|leave`: dunning stops below `limit`."""

    limit: Money
    action: SmallBalanceAction
    span: Span = field(default=NO_SPAN, eq=False)


# ---- states and transitions -----------------------------------------------


class TimerBasis(enum.Enum):
    """What a timer counts from."""

    OVERDUE = "overdue"
    IN_STATE = "in state"


@frozen(cache_hash=True)
class Timer:
    """`after N [business] days overdue|in state [at end of month]`."""

    days: int
    basis: TimerBasis
    business_days: bool = False
    end_of_month: bool = False
    span: Span = field(default=NO_SPAN, eq=False)


@frozen
class Transition:
    """A timed transition: source -> target once the timer and guard hold."""

    source: str
    target: str
    timer: Timer | None
    guard: Expr | None
    measures: tuple[str, ...]
    span: Span = field(default=NO_SPAN, eq=False)
    series: str | None = None
    source_span: Span = field(default=NO_SPAN, eq=False)
    target_span: Span = field(default=NO_SPAN, eq=False)
    measure_spans: tuple[Span, ...] = field(default=(), eq=False)

    @property
    def rule(self) -> str:
        """A short human name of the rule, as the audit trail quotes it."""
        return f"{self.source} -> {self.target}"


class Event(enum.Enum):
    """Things that happen to a claim outside the daily timers."""

    PAYMENT = "payment"
    PARTIAL_PAYMENT = "partial_payment"
    CREDIT_NOTE = "credit_note"
    DISPUTE_OPENED = "dispute_opened"
    DISPUTE_RESOLVED = "dispute_resolved"
    PROMISE_GIVEN = "promise_given"
    PROMISE_KEPT = "promise_kept"
    PROMISE_BROKEN = "promise_broken"
    HOLD_SET = "hold_set"
    HOLD_RELEASED = "hold_released"
    INSTALMENT_MISSED = "instalment_missed"
    AGENCY_RETURNED = "agency_returned"


BACK = "back"
"""Event target meaning: return to the state held before the current hold state."""


@frozen
class EventRule:
    """`on EVENT [from STATES] [when GUARD] -> TARGET [do MEASURES]`."""

    event: str
    sources: tuple[str, ...]
    guard: Expr | None
    target: str
    measures: tuple[str, ...]
    span: Span = field(default=NO_SPAN, eq=False)
    event_span: Span = field(default=NO_SPAN, eq=False)
    source_spans: tuple[Span, ...] = field(default=(), eq=False)
    target_span: Span = field(default=NO_SPAN, eq=False)
    measure_spans: tuple[Span, ...] = field(default=(), eq=False)

    @property
    def rule(self) -> str:
        """A short human name of the rule, as the audit trail quotes it."""
        return f"on {self.event} -> {self.target}"


class StateKind(enum.Enum):
    """How the engine treats a claim in a state."""

    INITIAL = "initial"
    NORMAL = "normal"
    HOLD = "hold"
    TERMINAL = "terminal"


PAID = "paid"
"""Built-in terminal state every group has: the claim is settled."""


@frozen
class Series:
    """A reusable run of transitions, shared by several dunning blocks."""

    name: str
    transitions: tuple[Transition, ...]
    span: Span = field(default=NO_SPAN, eq=False)
    name_span: Span = field(default=NO_SPAN, eq=False)


@frozen
class Dunning:
    """The states, transitions and event rules of one dunning group."""

    group: str
    initial: str
    states: dict[str, StateKind]
    transitions: tuple[Transition, ...]
    events: tuple[EventRule, ...]
    uses: tuple[str, ...] = ()
    span: Span = field(default=NO_SPAN, eq=False)
    name_span: Span = field(default=NO_SPAN, eq=False)
    state_spans: dict[str, Span] = field(factory=dict, eq=False)
    use_spans: tuple[Span, ...] = field(default=(), eq=False)

    def transitions_from(self, state: str) -> tuple[Transition, ...]:
        """Timed transitions leaving `state`, in the order they were written."""
        return tuple(t for t in self.transitions if t.source == state)


@frozen
class Policy:
    """A whole checked policy: header, groups, measures, series and dunning blocks."""

    header: Header
    groups: tuple[GroupRule, ...]
    measures: dict[str, Measure]
    series: dict[str, Series]
    dunnings: dict[str, Dunning]
    exclusions: tuple[Exclusion, ...] = ()
    small_balance: SmallBalance | None = None
    resume_wait_days: int = 0
    """`after hold wait N days`: days a claim waits after a hold is released
    before its timers may fire again (0: continue where it was)."""
    path: str = "<policy>"
    digest: str = ""
    source: str = field(default="", eq=False, repr=False)

    def source_line(self, line: int) -> str:
        """The text of one line of the policy file, stripped, as rules are quoted."""
        lines = self.source.splitlines()
        if not 1 <= line <= len(lines):
            return ""
        text, quoted = lines[line - 1], False
        for index, char in enumerate(text):
            if char == '"':
                quoted = not quoted
            elif char == "#" and not quoted:
                text = text[:index]
                break
        return text.strip()

    def dunning_for(self, group: str) -> Dunning:
        """The dunning block of a group."""
        return self.dunnings[group]

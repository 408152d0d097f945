"""Syntax tree to policy model: values typed, blocks assembled, series expanded.

The grammar is a flat list of statements; this module decides which block each
one belongs to and reports what is structurally out of place (a transition
outside any block, a repeated name). The meaning checks live in `checks`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal, InvalidOperation
from typing import Any

from attrs import define, field
from lark import Token, Tree

from .block_checks import MAX_TIMER_DAYS
from .errors import Diagnostic, suggest
from .model import (
    BACK,
    PAID,
    And,
    Attribute,
    Calendar,
    Compare,
    Cost,
    Dunning,
    EventRule,
    Exclusion,
    Fee,
    GroupRule,
    Header,
    InList,
    Interest,
    InterestKind,
    Literal,
    Measure,
    MeasureKind,
    Money,
    Not,
    Or,
    Policy,
    Series,
    SmallBalance,
    SmallBalanceAction,
    Span,
    StateKind,
    Timer,
    TimerBasis,
    Transition,
    Truthy,
    ValueKind,
)

DEFAULT_INITIAL = "current"


def _span(meta: Any) -> Span:
    return Span(meta.line, meta.column, meta.end_line, meta.end_column)


def _token_span(token: Token) -> Span:
    return Span(
        token.line or 0, token.column or 0, token.end_line or 0, token.end_column or 0
    )


def _unquote(token: Token) -> str:
    return str(token)[1:-1]


@define
class _Statement:
    """One parsed line, before blocks are assembled."""

    kind: str
    span: Span
    value: Any = None
    extra: dict[str, Any] = field(factory=dict)


class _ToStatements:
    """Turns each grammar rule into a typed value or a `_Statement`.

    Each rule has a method of its name, given the node's position and its
    children already turned; tokens stay tokens.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[Diagnostic] = []

    def transform(self, tree: Tree) -> Any:
        """The value of a syntax tree, built from the leaves up."""
        return self._value(tree)

    def _value(self, tree: Tree) -> Any:
        # Recursion, two frames a level like lark's Transformer, so that a
        # condition nested too deeply for Python's stack is found here (E105).
        children = [
            self._value(child) if type(child) is Tree else child
            for child in tree.children
        ]
        rule = _RULES.get(tree.data)
        if rule is None:  # as lark's Transformer: a rule without a method stays
            return Tree(tree.data, children, tree.meta)
        return rule(self, tree.meta, children)

    # ---- literals ---------------------------------------------------------

    def _decimal(self, token: Token) -> Decimal:
        try:
            return Decimal(str(token))
        except InvalidOperation:  # pragma: no cover - the grammar admits digits only
            self.problems.append(
                Diagnostic(
                    "E214",
                    f"`{token}` is not a number",
                    _token_span(token),
                    None,
                    self.path,
                )
            )
            return Decimal(0)

    def money(self, meta: Any, children: list[Token]) -> Literal:
        amount, currency = children
        return Literal(
            Money(self._decimal(amount), str(currency)), ValueKind.MONEY, _span(meta)
        )

    def percent(self, meta: Any, children: list[Token]) -> Literal:
        return Literal(self._decimal(children[0]), ValueKind.PERCENT, _span(meta))

    def days(self, meta: Any, children: list[Token]) -> Literal:
        return Literal(self._decimal(children[0]), ValueKind.DAYS, _span(meta))

    def number(self, meta: Any, children: list[Token]) -> Literal:
        return Literal(self._decimal(children[0]), ValueKind.NUMBER, _span(meta))

    def string(self, meta: Any, children: list[Token]) -> Literal:
        return Literal(_unquote(children[0]), ValueKind.TEXT, _span(meta))

    def date(self, meta: Any, children: list[Token]) -> Literal:
        token = children[0]
        try:
            value = dt.date.fromisoformat(str(token))
        except ValueError:
            self.problems.append(
                Diagnostic(
                    "E214",
                    f"`{token}` is not a valid date",
                    _token_span(token),
                    "write a real calendar date as YYYY-MM-DD",
                    self.path,
                )
            )
            value = dt.date.min
        return Literal(value, ValueKind.DATE, _span(meta))

    def true(self, meta: Any, children: list[Token]) -> Literal:
        return Literal(True, ValueKind.FLAG, _span(meta))

    def false(self, meta: Any, children: list[Token]) -> Literal:
        return Literal(False, ValueKind.FLAG, _span(meta))

    # ---- expressions ------------------------------------------------------

    def attribute(self, meta: Any, children: list[Token]) -> Attribute:
        subject, name = children
        return Attribute(str(subject), str(name), _span(meta))

    def compare(self, meta: Any, children: list[Any]) -> Compare:
        left, operator, right = children
        return Compare(str(operator), left, right, _span(meta))

    def value_list(self, meta: Any, children: list[Literal]) -> tuple[Literal, ...]:
        return tuple(children)

    def in_list(self, meta: Any, children: list[Any]) -> InList:
        return InList(children[0], children[1], False, _span(meta))

    def not_in_list(self, meta: Any, children: list[Any]) -> InList:
        return InList(children[0], children[1], True, _span(meta))

    def truthy(self, meta: Any, children: list[Attribute]) -> Truthy:
        return Truthy(children[0], _span(meta))

    def negation(self, meta: Any, children: list[Any]) -> Not:
        return Not(children[0], _span(meta))

    def and_expr(self, meta: Any, children: list[Any]) -> And:
        return And(tuple(children), _span(meta))

    def or_expr(self, meta: Any, children: list[Any]) -> Or:
        return Or(tuple(children), _span(meta))

    # ---- header -----------------------------------------------------------

    def policy_header(self, meta: Any, children: list[Token]) -> _Statement:
        return _Statement(
            "policy", _span(meta), (_unquote(children[0]), _unquote(children[1]))
        )

    def currency_decl(self, meta: Any, children: list[Token]) -> _Statement:
        return _Statement("currency", _token_span(children[0]), str(children[0]))

    def timezone_decl(self, meta: Any, children: list[Token]) -> _Statement:
        return _Statement("timezone", _token_span(children[0]), _unquote(children[0]))

    def calendar_decl(self, meta: Any, children: list[Token]) -> _Statement:
        country, _, region = str(children[0]).partition("-")
        return _Statement(
            "calendar", _token_span(children[0]), Calendar(country, region or None)
        )

    def rounding_decl(self, meta: Any, children: list[Token]) -> _Statement:
        step = children[0]
        return _Statement("rounding", _token_span(step), self._decimal(step))

    # ---- policy-wide rules ------------------------------------------------

    def exclude_decl(self, meta: Any, children: list[Any]) -> _Statement:
        guard, reason = children
        span = _span(meta)
        if not _unquote(reason).strip():
            self.problems.append(
                Diagnostic(
                    "E214",
                    "the exclusion gives no reason",
                    _token_span(reason),
                    "the reason is recorded for every claim the rule keeps out of "
                    'dunning; write it, like `because "insolvency proceedings"`',
                    self.path,
                )
            )
        return _Statement("exclude", span, Exclusion(guard, _unquote(reason), span))

    def write_off_balance(self, meta: Any, c: list[Any]) -> SmallBalanceAction:
        return SmallBalanceAction.WRITE_OFF

    def leave_balance(self, meta: Any, c: list[Any]) -> SmallBalanceAction:
        return SmallBalanceAction.LEAVE

    def small_balance_decl(self, meta: Any, children: list[Any]) -> _Statement:
        limit, action = children
        span = _span(meta)
        return _Statement(
            "small balance",
            span,
            SmallBalance(limit.value, action, span),
            {"limit_span": limit.span},
        )

    def resume_continue(self, meta: Any, children: list[Any]) -> _Statement:
        return _Statement("after hold", _span(meta), 0)

    def resume_wait(self, meta: Any, children: list[Token]) -> _Statement:
        days = children[0]
        if int(days) > MAX_TIMER_DAYS:
            self.problems.append(
                Diagnostic(
                    "E214",
                    f"`wait {days} days` is more than a hundred years",
                    _token_span(days),
                    f"give a number of days up to {MAX_TIMER_DAYS}",
                    self.path,
                )
            )
        return _Statement("after hold", _span(meta), int(days))

    # ---- groups and measures ---------------------------------------------

    def group_rule(self, meta: Any, children: list[Any]) -> _Statement:
        name, guard = children
        span = _span(meta)
        return _Statement(
            "group", span, GroupRule(str(name), guard, span, _token_span(name))
        )

    def group_fallback(self, meta: Any, children: list[Token]) -> _Statement:
        name = children[0]
        span = _span(meta)
        return _Statement(
            "group", span, GroupRule(str(name), None, span, _token_span(name))
        )

    def letter(self, meta: Any, c: list[Token]) -> dict[str, Any]:
        return {"kind": MeasureKind.LETTER, "template": _unquote(c[0])}

    def email(self, meta: Any, c: list[Token]) -> dict[str, Any]:
        return {"kind": MeasureKind.EMAIL, "template": _unquote(c[0])}

    def phone(self, meta: Any, c: list[Token]) -> dict[str, Any]:
        return {"kind": MeasureKind.PHONE, "queue": _unquote(c[0])}

    def agency(self, meta: Any, c: list[Token]) -> dict[str, Any]:
        return {"kind": MeasureKind.AGENCY, "agency": _unquote(c[0])}

    def task(self, meta: Any, c: list[Token]) -> dict[str, Any]:
        queue = _unquote(c[1]) if len(c) > 1 else None
        return {"kind": MeasureKind.TASK, "text": _unquote(c[0]), "queue": queue}

    def credit_stop(self, meta: Any, c: list[Token]) -> dict[str, Any]:
        return {"kind": MeasureKind.CREDIT_STOP}

    def delivery_stop(self, meta: Any, c: list[Token]) -> dict[str, Any]:
        return {"kind": MeasureKind.DELIVERY_STOP}

    def write_off(self, meta: Any, c: list[Token]) -> dict[str, Any]:
        return {"kind": MeasureKind.WRITE_OFF}

    def plugin(self, meta: Any, c: list[Token]) -> dict[str, Any]:
        template = _unquote(c[1]) if len(c) > 1 else None
        return {"kind": MeasureKind.PLUGIN, "plugin": str(c[0]), "template": template}

    def cost_fixed(self, meta: Any, c: list[Literal]) -> tuple[str, Any, Span]:
        return ("cost", Cost(fixed=c[0].value), _span(meta))  # type: ignore[arg-type]

    def cost_percent(self, meta: Any, c: list[Literal]) -> tuple[str, Any, Span]:
        return (
            "cost",
            Cost(percent_of_collected=c[0].value),  # type: ignore[arg-type]
            _span(meta),
        )

    def fee_fixed(self, meta: Any, c: list[Literal]) -> tuple[str, Any, Span]:
        return ("fee", Fee(fixed=c[0].value), _span(meta))  # type: ignore[arg-type]

    def fee_min(self, meta: Any, c: list[Literal]) -> tuple[str, Literal]:
        return ("min", c[0])

    def fee_max(self, meta: Any, c: list[Literal]) -> tuple[str, Literal]:
        return ("max", c[0])

    def fee_percent(self, meta: Any, c: list[Any]) -> tuple[str, Any, Span]:
        bounds: dict[str, Money] = {}
        for which, literal in c[1:]:
            if which in bounds:
                self.problems.append(
                    Diagnostic(
                        "E214",
                        f"the fee has two `{which}` bounds",
                        literal.span,
                        f"give at most one `{which}`",
                        self.path,
                    )
                )
            bounds[which] = literal.value
        fee = Fee(
            percent=c[0].value, minimum=bounds.get("min"), maximum=bounds.get("max")
        )
        return ("fee", fee, _span(meta))

    def interest_statutory(self, meta: Any, c: list[Any]) -> tuple[str, Any, Span]:
        return ("interest", Interest(InterestKind.STATUTORY), _span(meta))

    def interest_eu(self, meta: Any, c: list[Any]) -> tuple[str, Any, Span]:
        return ("interest", Interest(InterestKind.EU), _span(meta))

    def interest_fixed(self, meta: Any, c: list[Literal]) -> tuple[str, Any, Span]:
        return (
            "interest",
            Interest(InterestKind.FIXED, c[0].value),  # type: ignore[arg-type]
            _span(meta),
        )

    def measure_decl(self, meta: Any, children: list[Any]) -> _Statement:
        name, action, *options = children
        values: dict[str, Any] = dict(action)
        for option, value, span in options:
            if option in values:
                self.problems.append(
                    Diagnostic(
                        "E202",
                        f"measure `{name}` has two `{option}` settings",
                        span,
                        f"give `{option}` once",
                        self.path,
                    )
                )
            values[option] = value
        span = _span(meta)
        return _Statement(
            "measure",
            span,
            Measure(name=str(name), span=span, name_span=_token_span(name), **values),
        )

    # ---- blocks -----------------------------------------------------------

    def series_decl(self, meta: Any, c: list[Token]) -> _Statement:
        return _Statement(
            "series", _span(meta), str(c[0]), {"name_span": _token_span(c[0])}
        )

    def dunning_decl(self, meta: Any, c: list[Token]) -> _Statement:
        return _Statement(
            "dunning", _span(meta), str(c[0]), {"name_span": _token_span(c[0])}
        )

    def name_list(self, meta: Any, c: list[Token]) -> list[Token]:
        return list(c)

    def initial_decl(self, meta: Any, c: list[Token]) -> _Statement:
        return _Statement("initial", _span(meta), [c[0]])

    def terminal_decl(self, meta: Any, c: list[list[Token]]) -> _Statement:
        return _Statement("terminal", _span(meta), c[0])

    def hold_decl(self, meta: Any, c: list[list[Token]]) -> _Statement:
        return _Statement("hold", _span(meta), c[0])

    def use_decl(self, meta: Any, c: list[Token]) -> _Statement:
        return _Statement("use", _token_span(c[0]), str(c[0]))

    # ---- transitions and events ------------------------------------------

    def overdue(self, meta: Any, c: list[Any]) -> TimerBasis:
        return TimerBasis.OVERDUE

    def in_state(self, meta: Any, c: list[Any]) -> TimerBasis:
        return TimerBasis.IN_STATE

    def timer(self, meta: Any, c: list[Any]) -> tuple[str, Timer]:
        days = int(c[0])
        words = {x.type for x in c if isinstance(x, Token)}
        basis = next(x for x in c if isinstance(x, TimerBasis))
        business, end_of_month = "BUSINESS" in words, "END_OF_MONTH" in words
        return ("timer", Timer(days, basis, business, end_of_month, _span(meta)))

    def guard(self, meta: Any, c: list[Any]) -> tuple[str, Any]:
        return ("guard", c[0])

    def measures(self, meta: Any, c: list[list[Token]]) -> tuple[str, Any]:
        return ("measures", c[0])

    def transition(self, meta: Any, children: list[Any]) -> _Statement:
        source, target, *clauses = children
        span = _span(meta)
        parts: dict[str, Any] = {}
        for name, value in clauses:
            if name in parts:
                word = {"timer": "`after`", "guard": "`when`", "measures": "`do`"}[name]
                self.problems.append(
                    Diagnostic(
                        "E202",
                        f"the transition has {word} twice",
                        span,
                        f"give {word} once; join conditions with `and`",
                        self.path,
                    )
                )
            parts[name] = value
        measures = parts.get("measures", [])
        return _Statement(
            "transition",
            span,
            Transition(
                source=str(source),
                target=str(target),
                timer=parts.get("timer"),
                guard=parts.get("guard"),
                measures=tuple(str(m) for m in measures),
                span=span,
                source_span=_token_span(source),
                target_span=_token_span(target),
                measure_spans=tuple(_token_span(m) for m in measures),
            ),
        )

    def event_from(self, meta: Any, c: list[list[Token]]) -> tuple[str, Any]:
        return ("from", c[0])

    def target_state(self, meta: Any, c: list[Token]) -> tuple[str, Token]:
        return ("target", c[0])

    def target_back(self, meta: Any, c: list[Any]) -> tuple[str, Any]:
        return ("target", BACK)

    def event_rule(self, meta: Any, children: list[Any]) -> _Statement:
        event, *rest = children
        sources: list[Token] = []
        guard = None
        target: Any = None
        measures: list[Token] = []
        for item in rest:
            if isinstance(item, tuple) and item[0] == "from":
                sources = item[1]
            elif isinstance(item, tuple) and item[0] == "target":
                target = item[1]
            elif isinstance(item, list):
                measures = item
            else:
                guard = item
        span = _span(meta)
        target_span = _token_span(target) if isinstance(target, Token) else span
        return _Statement(
            "event",
            span,
            EventRule(
                event=str(event),
                sources=tuple(str(s) for s in sources),
                guard=guard,
                target=str(target),
                measures=tuple(str(m) for m in measures),
                span=span,
                event_span=_token_span(event),
                source_spans=tuple(_token_span(s) for s in sources),
                target_span=target_span,
                measure_spans=tuple(_token_span(m) for m in measures),
            ),
        )

    def start(self, meta: Any, children: list[_Statement]) -> list[_Statement]:
        return children


# The method of each grammar rule, looked up once instead of on every node.
_RULES: dict[str, Any] = {
    name: method
    for name, method in vars(_ToStatements).items()
    if not name.startswith("_") and name != "transform" and callable(method)
}


@define
class _Block:
    kind: str  # "dunning" or "series"
    name: str
    span: Span
    name_span: Span
    transitions: list[Transition] = field(factory=list)
    events: list[EventRule] = field(factory=list)
    uses: list[tuple[str, Span, int]] = field(factory=list)
    initial: tuple[str, Span] | None = None
    kinds: dict[str, tuple[StateKind, Span]] = field(factory=dict)


class _Assembler:
    """Puts the flat statements into a header, catalogues and blocks."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[Diagnostic] = []
        self.header: dict[str, Any] = {}
        self.header_spans: dict[str, Span] = {}
        self.groups: list[GroupRule] = []
        self.exclusions: list[Exclusion] = []
        self.measures: dict[str, Measure] = {}
        self.blocks: list[_Block] = []
        self.current: _Block | None = None

    def error(
        self, code: str, message: str, span: Span, hint: str | None = None
    ) -> None:
        self.problems.append(Diagnostic(code, message, span, hint, self.path))

    def _setting(self, name: str, value: Any, span: Span) -> None:
        if name in self.header:
            self.error(
                "E201",
                f"`{name}` is given twice",
                span,
                f"the policy already sets `{name}` on line "
                f"{self.header_spans[name].line}; keep one",
            )
            return
        self.header[name] = value
        self.header_spans[name] = span

    def add(self, statement: _Statement) -> None:
        kind, span, value = statement.kind, statement.span, statement.value
        if kind in ("policy", "currency", "timezone", "calendar", "rounding"):
            if kind != "policy" and self.current is not None:
                self.error(
                    "E206",
                    f"`{kind}` belongs to the policy header",
                    span,
                    "move it up, below the `policy` line",
                )
            self._setting(kind, value, span)
        elif kind == "group":
            self.current = None
            self.groups.append(value)
        elif kind == "exclude":
            self.current = None
            self.exclusions.append(value)
        elif kind in ("small balance", "after hold"):
            self.current = None
            self._setting(kind, value, span)
        elif kind == "measure":
            self.current = None
            if value.name in self.measures:
                first = self.measures[value.name].name_span.line
                self.error(
                    "E202",
                    f"measure `{value.name}` is defined twice",
                    value.name_span,
                    f"the first definition is on line {first}; rename one of them",
                )
            else:
                self.measures[value.name] = value
        elif kind in ("series", "dunning"):
            self.current = _Block(kind, value, span, statement.extra["name_span"])
            self.blocks.append(self.current)
        else:
            self._add_to_block(statement)

    def _add_to_block(self, statement: _Statement) -> None:
        kind, span, value = statement.kind, statement.span, statement.value
        block = self.current
        words = {
            "transition": "a transition",
            "event": "an `on` rule",
            "initial": "`initial`",
            "terminal": "`terminal`",
            "hold": "`hold`",
            "use": "`use`",
        }
        if block is None:
            self.error(
                "E206",
                f"{words[kind]} must stand inside a `dunning` block",
                span,
                "start the block with `dunning GROUP` on a line above",
            )
            return
        if block.kind == "series" and kind != "transition":
            self.error(
                "E206",
                f"{words[kind]} cannot stand in a series",
                span,
                "a series holds only transitions; put this line in the "
                "`dunning` block that uses the series",
            )
            return
        if kind == "transition":
            block.transitions.append(value)
        elif kind == "event":
            block.events.append(value)
        elif kind == "use":
            block.uses.append((value, span, len(block.transitions)))
        elif kind == "initial":
            token = value[0]
            if block.initial is not None:
                self.error(
                    "E202",
                    "the initial state is given twice",
                    span,
                    f"the block already starts in `{block.initial[0]}`",
                )
            block.initial = (str(token), _token_span(token))
        else:
            state_kind = StateKind.TERMINAL if kind == "terminal" else StateKind.HOLD
            for token in value:
                name = str(token)
                if name in block.kinds:
                    self.error(
                        "E202",
                        f"state `{name}` is declared twice",
                        _token_span(token),
                        "declare each state once, as either `terminal` or `hold`",
                    )
                    continue
                block.kinds[name] = (state_kind, _token_span(token))

    def build(self, source: str) -> Policy | None:
        header = self._header()
        series = self._series()
        dunnings: dict[str, Dunning] = {}
        for block in self.blocks:
            if block.kind != "dunning":
                continue
            if block.name in dunnings:
                self.error(
                    "E202",
                    f"group `{block.name}` has two dunning blocks",
                    block.name_span,
                    f"merge them into the block on line "
                    f"{dunnings[block.name].span.line}",
                )
                continue
            dunnings[block.name] = self._dunning(block, series)
        if header is None:
            return None
        return Policy(
            header=header,
            groups=tuple(self.groups),
            measures=self.measures,
            series=series,
            dunnings=dunnings,
            exclusions=tuple(self.exclusions),
            small_balance=self.header.get("small balance"),
            resume_wait_days=self.header.get("after hold", 0),
            path=self.path,
            digest=hashlib.sha256(source.encode("utf-8")).hexdigest(),
            source=source,
        )

    def _header(self) -> Header | None:
        if "policy" not in self.header:
            self.error(
                "E201",
                "the policy has no `policy` line",
                Span(1, 1, 1, 2),
                'start the file with: policy "Name" version "1"',
            )
            return None
        name, version = self.header["policy"]
        spans = self.header_spans
        return Header(
            name=name,
            version=version,
            currency=self.header.get("currency", "EUR"),
            timezone=self.header.get("timezone", "UTC"),
            calendar=self.header.get("calendar"),
            rounding=self.header.get("rounding"),
            span=spans["policy"],
            rounding_span=spans.get("rounding", spans["policy"]),
            currency_span=spans.get("currency", spans["policy"]),
            timezone_span=spans.get("timezone", spans["policy"]),
            calendar_span=spans.get("calendar", spans["policy"]),
        )

    def _series(self) -> dict[str, Series]:
        found: dict[str, Series] = {}
        for block in self.blocks:
            if block.kind != "series":
                continue
            if block.name in found:
                self.error(
                    "E202",
                    f"series `{block.name}` is defined twice",
                    block.name_span,
                    "rename one of them",
                )
                continue
            transitions = tuple(
                Transition(
                    t.source,
                    t.target,
                    t.timer,
                    t.guard,
                    t.measures,
                    t.span,
                    block.name,
                    t.source_span,
                    t.target_span,
                    t.measure_spans,
                )
                for t in block.transitions
            )
            found[block.name] = Series(
                block.name, transitions, block.span, block.name_span
            )
        return found

    def _dunning(self, block: _Block, series: dict[str, Series]) -> Dunning:
        transitions = list(block.transitions)
        # Series transitions stand where `use` stands, so the written order,
        # which decides between transitions of one state, is kept.
        for name, span, position in reversed(block.uses):
            used = series.get(name)
            if used is None:
                self.error(
                    "E203",
                    f"unknown series `{name}`",
                    span,
                    suggest(name, series, "series"),
                )
                continue
            transitions[position:position] = used.transitions

        state_spans: dict[str, Span] = {}
        order: list[str] = []

        def note(name: str, span: Span) -> None:
            if name not in state_spans:
                state_spans[name] = span
                order.append(name)

        if block.initial:
            note(*block.initial)
        for t in transitions:
            note(t.source, t.source_span)
            note(t.target, t.target_span)
        for rule in block.events:
            for source, span in zip(rule.sources, rule.source_spans, strict=True):
                note(source, span)
            if rule.target != BACK:
                note(rule.target, rule.target_span)
        for name, (_, span) in block.kinds.items():
            note(name, span)

        if block.initial:
            initial = block.initial[0]
        elif transitions:
            initial = transitions[0].source
        else:
            initial = DEFAULT_INITIAL
            note(initial, block.name_span)

        states: dict[str, StateKind] = {}
        for name in order:
            states[name] = (
                block.kinds[name][0] if name in block.kinds else StateKind.NORMAL
            )
        if initial in states and states[initial] is StateKind.NORMAL:
            states[initial] = StateKind.INITIAL
        states[PAID] = StateKind.TERMINAL

        return Dunning(
            group=block.name,
            initial=initial,
            states=states,
            transitions=tuple(transitions),
            events=tuple(block.events),
            uses=tuple(name for name, _, _ in block.uses),
            span=block.span,
            name_span=block.name_span,
            state_spans=state_spans,
            use_spans=tuple(span for _, span, _ in block.uses),
        )


def build_policy(
    tree: Tree, source: str, path: str
) -> tuple[Policy | None, list[Diagnostic]]:
    """Turn a syntax tree into a policy model plus the structural problems found."""
    to_statements = _ToStatements(path)
    statements = to_statements.transform(tree)
    assembler = _Assembler(path)
    for statement in statements:
        assembler.add(statement)
    policy = assembler.build(source)
    return policy, to_statements.problems + assembler.problems

"""Properties of the policy language over generated texts.

Random valid policies, written with random spacing, line breaks and comments,
lay out stably and keep their model and their comments. Random text and random
damage to valid policies never crash the loader or the formatter: they give a
model or `PolicyError`, nothing else.
"""

from __future__ import annotations

import datetime as dt
import re
from importlib.resources import files
from typing import Any

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dunlang import PolicyError, check_text, parse_policy
from dunlang.format import format_source
from dunlang.model import Event, Policy
from dunlang.parser import parse_tree

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# Short random texts are cheap to load, so they get more examples.
CHEAP = settings(SETTINGS, max_examples=200)

# Words of the language, read from the grammar; generated names avoid them.
GRAMMAR = files("dunlang").joinpath("dunlang.lark").read_text(encoding="utf-8")
KEYWORDS = frozenset(re.findall(r'"([a-z_]+)"', GRAMMAR))
PUNCTUATION = frozenset(
    {"->", ",", "(", ")", "[", "]", "=", "%", ".", "!=", "<", "<=", ">", ">="}
)
OPENERS = frozenset({"(", "["})
CLOSERS = frozenset({")", "]"})

LETTERS = "abcdefghijklmnopqrstuvwxyz"
DIGITS = "0123456789"
NAMES = st.builds(
    str.__add__, st.sampled_from(LETTERS), st.text(LETTERS + DIGITS + "_", max_size=7)
).filter(lambda name: name not in KEYWORDS)
# No `<` or `>` in texts and comments: comment markers use them.
FREE_TEXT = st.text(
    st.characters(
        min_codepoint=32,
        max_codepoint=0x17F,
        categories=("L", "N", "P", "S", "Zs"),
        exclude_characters='"<>',
    ),
    max_size=12,
)
WHOLE_NUMBERS = st.text(DIGITS, min_size=1, max_size=3)
NUMBERS = st.tuples(
    st.text(DIGITS, min_size=1, max_size=5),
    st.just("") | st.text(DIGITS, min_size=1, max_size=3).map(".{}".format),
).map("".join)
DATES = st.dates(dt.date(2000, 1, 1), dt.date(2099, 12, 31)).map(dt.date.isoformat)
EVENTS = st.sampled_from([event.value for event in Event])


@attrs.define
class Generated:
    """A generated policy text and the comments it was written with."""

    text: str = ""
    own_line: list[str] = attrs.field(factory=list)
    inner: list[str] = attrs.field(factory=list)
    end_of_line: list[str] = attrs.field(factory=list)


class _Writer:
    """Writes statements as token lists with random spacing and comments."""

    def __init__(self, draw: Any, currency: str) -> None:
        self.draw = draw
        self.currency = currency
        self.out = Generated()
        self.lines: list[str] = []
        self.count = 0

    def comment(self) -> str:
        """A new comment, numbered so that the tests can find it again."""
        self.count += 1
        return f"#<{self.count}>{self.draw(FREE_TEXT)}"

    def separator(self, before: str, after: str, depth: int) -> str:
        """Space between two tokens; inside brackets also line breaks and comments."""
        options = [" ", "  ", "\t", " \t "]
        if before in PUNCTUATION or after in PUNCTUATION:
            options.append("")
        if depth:
            options += ["\n", "\n      ", "eol", "own"]
        choice = self.draw(st.sampled_from(options))
        if choice == "eol":
            comment = self.comment()
            self.out.end_of_line.append(comment)
            return f"  {comment}\n    "
        if choice == "own":
            comment = self.comment()
            self.out.inner.append(comment)
            return f"\n   {comment}\n  "
        return choice

    def statement(self, tokens: list[str]) -> None:
        """Writes one statement, maybe after blank lines and comments."""
        draw = self.draw

        for _ in range(draw(st.integers(0, 2))):
            if draw(st.booleans()):
                comment = self.comment()
                self.out.own_line.append(comment)
                self.lines.append(draw(st.sampled_from(["", "  ", "\t"])) + comment)
            else:
                self.lines.append(draw(st.sampled_from(["", "   "])))

        text = draw(st.sampled_from(["", "  ", "    ", "\t"])) + tokens[0]
        depth = 1 if tokens[0] in OPENERS else 0
        for before, after in zip(tokens, tokens[1:], strict=False):
            text += self.separator(before, after, depth) + after
            depth += (after in OPENERS) - (after in CLOSERS)
        if draw(st.integers(0, 3)) == 0:
            comment = self.comment()
            self.out.end_of_line.append(comment)
            text += draw(st.sampled_from(["", " ", "   "])) + comment
        text += draw(st.sampled_from(["", " ", "\t"]))
        self.lines.append(text)

    def finish(self) -> Generated:
        """The whole text, maybe with a last comment and Windows line ends."""
        draw = self.draw
        if draw(st.booleans()):
            comment = self.comment()
            self.out.own_line.append(comment)
            self.lines.append("  " + comment)
        text = "\n".join(self.lines) + draw(st.sampled_from(["", "\n", "\n\n  \n"]))
        if draw(st.integers(0, 4)) == 0:
            text = text.replace("\n", "\r\n")
        self.out.text = text
        return self.out

    # ---- pieces of statements ------------------------------------------------

    def quoted(self) -> str:
        return '"' + self.draw(FREE_TEXT) + '"'

    def money(self) -> list[str]:
        return [self.draw(NUMBERS), self.currency]

    def percent(self) -> list[str]:
        return [self.draw(NUMBERS), "%"]

    def literal(self) -> list[str]:
        draw = self.draw
        kind = draw(
            st.sampled_from(
                ["money", "percent", "days", "number", "text", "date", "flag"]
            )
        )
        if kind == "money":
            return self.money()
        if kind == "percent":
            return self.percent()
        if kind == "days":
            return [draw(NUMBERS), draw(st.sampled_from(["day", "days"]))]
        if kind == "number":
            return [draw(NUMBERS)]
        if kind == "text":
            return [self.quoted()]
        if kind == "date":
            return [draw(DATES)]
        return [draw(st.sampled_from(["true", "false"]))]

    def attribute(self) -> list[str]:
        return [
            self.draw(st.sampled_from(["claim", "customer"])),
            ".",
            self.draw(NAMES),
        ]

    def operand(self) -> list[str]:
        return self.attribute() if self.draw(st.booleans()) else self.literal()

    def comparison(self, depth: int) -> list[str]:
        draw = self.draw
        kinds = ["compare", "in", "not in", "flag"] + (
            ["brackets"] * 2 if depth else []
        )
        kind = draw(st.sampled_from(kinds))
        if kind == "compare":
            operator = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">="]))
            return [*self.operand(), operator, *self.operand()]
        if kind in ("in", "not in"):
            options: list[str] = []
            for index in range(draw(st.integers(0, 3))):
                options += ([","] if index else []) + self.literal()
            return [*self.operand(), *kind.split(), "[", *options, "]"]
        if kind == "flag":
            return self.attribute()
        return ["(", *self.expression(depth - 1), ")"]

    def negation(self, depth: int) -> list[str]:
        if depth and self.draw(st.integers(0, 3)) == 0:
            return ["not", *self.negation(depth - 1)]
        return self.comparison(depth)

    def conjunction(self, depth: int) -> list[str]:
        tokens = self.negation(depth)
        for _ in range(self.draw(st.integers(0, 2 if depth else 0))):
            tokens += ["and", *self.negation(depth - 1)]
        return tokens

    def expression(self, depth: int = 3) -> list[str]:
        """Tokens of a guard, following the grammar's levels of binding."""
        tokens = self.conjunction(depth)
        for _ in range(self.draw(st.integers(0, 2 if depth else 0))):
            tokens += ["or", *self.conjunction(depth - 1)]
        return tokens

    def names(self, pool: list[str]) -> list[str]:
        chosen = self.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3))
        tokens: list[str] = []
        for index, name in enumerate(chosen):
            tokens += ([","] if index else []) + [name]
        return tokens

    def timer(self) -> list[str]:
        draw = self.draw
        tokens = ["after", draw(WHOLE_NUMBERS)]
        if draw(st.booleans()):
            tokens.append("business")
        tokens.append(draw(st.sampled_from(["day", "days"])))
        tokens += draw(st.sampled_from([["overdue"], ["in", "state"]]))
        if draw(st.booleans()):
            gaps = draw(
                st.lists(st.sampled_from([" ", "  ", "\t"]), min_size=3, max_size=3)
            )
            tokens.append(f"at{gaps[0]}end{gaps[1]}of{gaps[2]}month")
        return tokens

    def transition(self, states: list[str], measures: list[str]) -> list[str]:
        draw = self.draw
        clauses = [self.timer()]
        if draw(st.booleans()):
            clauses.append(["when", *self.expression()])
        if measures and draw(st.booleans()):
            clauses.append(["do", *self.names(measures)])
        clauses = draw(st.permutations(clauses))
        source, target = draw(st.sampled_from(states)), draw(st.sampled_from(states))
        return [source, "->", target, *[t for clause in clauses for t in clause]]

    def event_rule(self, states: list[str], measures: list[str]) -> list[str]:
        draw = self.draw
        tokens = ["on", draw(EVENTS)]
        if draw(st.booleans()):
            tokens += ["from", *self.names(states)]
        if draw(st.booleans()):
            tokens += ["when", *self.expression()]
        tokens += ["->", draw(st.sampled_from([*states, "back", "paid"]))]
        if measures and draw(st.booleans()):
            tokens += ["do", *self.names(measures)]
        return tokens

    def measure(self, name: str) -> list[str]:
        draw, quoted = self.draw, self.quoted
        actions = [
            ["letter", quoted()],
            ["email", quoted()],
            ["phone", "queue", quoted()],
            ["agency", quoted()],
            ["task", quoted()],
            ["task", quoted(), "queue", quoted()],
            ["credit_stop"],
            ["delivery_stop"],
            ["write_off"],
            [draw(NAMES)],
            [draw(NAMES), quoted()],
        ]
        bounds = draw(st.lists(st.sampled_from(["min", "max"]), unique=True))
        costs = [["cost", *self.money()], ["cost", *self.percent(), "of", "collected"]]
        fees = [
            ["fee", *self.money()],
            ["fee", *self.percent(), "of", "open", "amount"]
            + [token for bound in bounds for token in [bound, *self.money()]],
        ]
        interests = [
            ["interest", "statutory"],
            ["interest", "eu"],
            ["interest", *self.percent(), "per", "year"],
        ]
        options = [
            draw(st.sampled_from(choices))
            for choices in (costs, fees, interests)
            if draw(st.booleans())
        ]
        options = draw(st.permutations(options))
        tokens = ["measure", name, "=", *draw(st.sampled_from(actions))]
        return tokens + [token for option in options for token in option]

    def policy_rules(self) -> list[list[str]]:
        """Exclusions, the small balance rule and the wait after a hold."""
        draw = self.draw
        rules = [
            ["exclude", "when", *self.expression(), "because", self.quoted()]
            for _ in range(draw(st.integers(0, 2)))
        ]
        if draw(st.booleans()):
            action = draw(st.sampled_from([["write", "off"], ["write_off"], ["leave"]]))
            rules.append(["small", "balance", "below", *self.money(), *action])
        if draw(st.booleans()):
            days = [draw(WHOLE_NUMBERS), draw(st.sampled_from(["day", "days"]))]
            wait = draw(st.sampled_from([["continue"], ["wait", *days]]))
            rules.append(["after", "hold", *wait])
        return draw(st.permutations(rules))


@st.composite
def policies(draw: Any) -> Generated:
    """A random policy that parses, with random layout and comments."""
    currency = draw(st.sampled_from(["EUR", "USD", "CHF"]))
    writer = _Writer(draw, currency)
    names = draw(st.lists(NAMES, min_size=4, max_size=12, unique=True))
    groups, measures = names[:2], names[2 : 2 + draw(st.integers(0, 3))]
    series_names = names[5 : 5 + draw(st.integers(0, 2))]

    header = [["currency", currency]]
    header += draw(st.sampled_from([[], [["timezone", '"Europe/Berlin"']]]))
    header += draw(st.sampled_from([[], [["calendar", "DE"]], [["calendar", "DE-NI"]]]))
    header += draw(st.sampled_from([[], [["rounding", draw(NUMBERS)]]]))
    statements = [["policy", writer.quoted(), "version", writer.quoted()]]
    statements += draw(st.permutations(header))

    sections: list[list[list[str]]] = []
    sections.append(
        [
            ["group", groups[0], "when", *writer.expression()],
            ["group", groups[1], "otherwise"],
        ]
    )
    if measures:
        sections.append([writer.measure(name) for name in measures])
    rules = writer.policy_rules()
    if rules:
        sections.append(rules)
    for name in series_names:
        states = draw(st.lists(NAMES, min_size=2, max_size=4, unique=True))
        count = draw(st.integers(1, 3))
        sections.append(
            [["series", name]]
            + [writer.transition(states, measures) for _ in range(count)]
        )
    for group in groups:
        states = draw(st.lists(NAMES, min_size=2, max_size=5, unique=True))
        members = [
            writer.transition(states, measures) for _ in range(draw(st.integers(0, 3)))
        ]
        members += [
            writer.event_rule(states, measures) for _ in range(draw(st.integers(0, 2)))
        ]
        if draw(st.booleans()):
            members.append(["initial", states[0]])
        if len(states) > 2 and draw(st.booleans()):
            members.append(["terminal", states[-1]])
        if len(states) > 3 and draw(st.booleans()):
            members.append(["hold", states[-2]])
        for name in draw(
            st.lists(st.sampled_from(series_names), unique=True)
            if series_names
            else st.just([])
        ):
            members.append(["use", name])
        sections.append([["dunning", group], *draw(st.permutations(members))])

    for section in draw(st.permutations(sections)):
        statements += section
    for tokens in statements:
        writer.statement(tokens)
    return writer.finish()


def comparable(policy: Policy | None) -> Policy | None:
    """A policy with the fields that depend on the text's bytes made equal."""
    return None if policy is None else attrs.evolve(policy, digest="", path="")


def comment_line(text: str, comment: str) -> str:
    """The line of a laid-out text that holds a generated comment."""
    marker = comment[: comment.index(">") + 1]
    lines = [line for line in text.split("\n") if marker in line]
    assert len(lines) == 1, f"{marker} found {len(lines)} times"
    return lines[0]


@SETTINGS
@given(policies())
def test_layout_is_stable_and_keeps_model_and_comments(policy: Generated) -> None:
    """Laying out a valid policy twice changes nothing and keeps model and comments."""
    before = check_text(policy.text)
    assert before.policy is not None
    assert not [d for d in before.diagnostics if d.code.startswith("E1")]

    once = format_source(policy.text)
    assert format_source(once) == once

    after = check_text(once)
    assert comparable(after.policy) == comparable(before.policy)
    assert sorted(d.code for d in after.diagnostics) == sorted(
        d.code for d in before.diagnostics
    )

    for comment in policy.own_line + policy.inner:
        assert comment_line(once, comment).strip() == comment.rstrip()
    for comment in policy.end_of_line:
        line = comment_line(once, comment)
        assert not line.lstrip().startswith("#")
        assert comment.rstrip() in line
    positions = [once.index(comment_line(once, c)) for c in policy.own_line]
    assert positions == sorted(positions)


# ---- robustness -------------------------------------------------------------------

POLICY_PIECES = st.sampled_from(
    list('abcdepyz_019 \t\n#"().,[]=<>!-%') + ["EUR", "DE-NI", "->", "\r\n"]
)
POLICY_CHARACTERS = st.lists(POLICY_PIECES, max_size=120).map("".join)
SOUP_EXTRAS = ['"x"', "5", "0.80", "EUR", "DE", "2026-02-30", "claim", "payment"]
SOUP_EXTRAS += ["a", "b", "\n", "#", "at end of month"]
TOKEN_SOUP = st.lists(
    st.sampled_from(sorted(KEYWORDS) + sorted(PUNCTUATION) + SOUP_EXTRAS),
    max_size=40,
).map(" ".join)


@st.composite
def damaged_policies(draw: Any) -> str:
    """A valid policy with a few characters or lines deleted, added or swapped."""
    text = draw(policies()).text
    for _ in range(draw(st.integers(1, 3))):
        lines = text.split("\n")
        kind = draw(
            st.sampled_from(
                ["delete", "insert", "swap", "delete line", "repeat line", "swap lines"]
            )
        )
        at = draw(st.integers(0, max(0, len(text) - 1)))
        if kind == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 5)) :]
        elif kind == "insert":
            text = (
                text[:at]
                + "".join(draw(st.lists(POLICY_PIECES, min_size=1, max_size=3)))
                + text[at:]
            )
        elif kind == "swap" and len(text) > 1:
            other = draw(st.integers(0, len(text) - 1))
            chars = list(text)
            chars[at], chars[other] = chars[other], chars[at]
            text = "".join(chars)
        else:
            line = draw(st.integers(0, len(lines) - 1))
            if kind == "delete line":
                del lines[line]
            elif kind == "repeat line":
                lines.insert(line, lines[line])
            else:
                other = draw(st.integers(0, len(lines) - 1))
                lines[line], lines[other] = lines[other], lines[line]
            text = "\n".join(lines)
    return text


def assert_robust(text: str) -> None:
    """Loading and laying out give a result or `PolicyError`, never a crash."""
    result = check_text(text, "damaged.dun")
    try:
        parse_policy(text, "damaged.dun")
    except PolicyError as error:
        assert error.diagnostics
        assert result.errors or result.policy is None
    else:
        assert not result.errors

    syntax_errors = [d for d in result.diagnostics if d.code.startswith("E1")]
    try:
        once = format_source(text, "damaged.dun")
    except PolicyError as error:
        assert syntax_errors
        assert error.diagnostics
        return
    assert not syntax_errors

    assert format_source(once) == once
    assert comparable(check_text(once).policy) == comparable(result.policy)


@CHEAP
@given(st.text(max_size=200))
def test_random_text_never_crashes(text: str) -> None:
    """Any text at all gives diagnostics or a model, never an exception."""
    assert_robust(text)


@CHEAP
@given(POLICY_CHARACTERS)
def test_random_policy_characters_never_crash(text: str) -> None:
    """Text made of the language's own characters never crashes the loader."""
    assert_robust(text)


@CHEAP
@given(TOKEN_SOUP)
def test_random_words_never_crash(text: str) -> None:
    """The language's words in random order never crash the loader."""
    assert_robust(text)


@SETTINGS
@given(damaged_policies())
def test_damaged_policies_never_crash(text: str) -> None:
    """A valid policy with random damage never crashes the loader or the layout."""
    assert_robust(text)


def test_deeply_nested_conditions_never_crash_the_loader() -> None:
    """Hundreds of `not` in a row give E105 at every depth, never an exception."""
    for depth in range(400, 600):
        text = f'policy "P" version "1"\ngroup all when {"not " * depth}claim.x\n'
        check_text(text)


def test_generated_policies_cover_the_language() -> None:
    """The generator writes every kind of statement, so the properties mean much."""
    seen: set[str] = set()

    @settings(
        max_examples=40,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(policies())
    def collect(policy: Generated) -> None:
        tree, _ = parse_tree(policy.text)
        assert tree is not None
        seen.update(str(statement.data) for statement in tree.children)

    collect()
    assert seen == {
        "policy_header",
        "currency_decl",
        "timezone_decl",
        "calendar_decl",
        "rounding_decl",
        "exclude_decl",
        "small_balance_decl",
        "resume_continue",
        "resume_wait",
        "group_rule",
        "group_fallback",
        "measure_decl",
        "series_decl",
        "dunning_decl",
        "initial_decl",
        "terminal_decl",
        "hold_decl",
        "use_decl",
        "transition",
        "event_rule",
    }

"""The canonical layout of a policy file, with every comment kept in its place.

The layout follows the statements as written, never reorders them, and only
changes spacing: the header first with its settings indented, a blank line
between sections, aligned group and measure names, block contents indented,
guards with single spaces and only the brackets they need. Numbers, amounts
and texts stay exactly as the analyst wrote them. Each statement takes one
line, however long: the layout never breaks a guard over several lines.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import cast

from attrs import define, field
from lark import Tree
from lark.exceptions import VisitError

from .errors import Diagnostic, PolicyError
from .model import Expr, Literal, Span
from .parser import parse_tree
from .text import expr_to_text

# The transformer is the one place where syntax trees become guard expressions;
# reusing it keeps the formatter's idea of a guard the same as the loader's.
from .transform import _ToStatements

log = logging.getLogger(__name__)

INDENT = "  "

EXPRESSION_RULES = frozenset(
    {"or_expr", "and_expr", "negation", "compare", "in_list", "not_in_list", "truthy"}
)
LITERAL_RULES = frozenset(
    {"money", "percent", "days", "number", "string", "date", "true", "false"}
)
HEADER_SETTINGS = frozenset(
    {"currency_decl", "timezone_decl", "calendar_decl", "rounding_decl"}
)
# Policy-wide rules stand on their own, outside the header and any block.
POLICY_RULES = frozenset(
    {"exclude_decl", "small_balance_decl", "resume_continue", "resume_wait"}
)
BLOCK_STARTS = frozenset({"series_decl", "dunning_decl"})

BLANK = None
"""Marks a blank line among the comments that precede a statement."""


# ---- where the comments are ---------------------------------------------------


@define
class _SourceLine:
    """What one line of the source holds besides whitespace."""

    has_code: bool
    comment: str | None


def _comment_start(line: str) -> int | None:
    """Column (0-based) where the line's comment starts, if it has one.

    A `#` inside a quoted text is not a comment; texts never span lines, so
    counting quotes within the line is enough for a file that parsed.
    """
    in_text = False
    for index, char in enumerate(line):
        if char == '"':
            in_text = not in_text
        elif char == "#" and not in_text:
            return index
    return None


def _scan(source: str) -> list[_SourceLine]:
    """Code and comment of each line; lines are split as the parser counts them."""
    lines = []
    for line in source.split("\n"):
        start = _comment_start(line)
        code = line if start is None else line[:start]
        comment = None if start is None else line[start:].rstrip()
        lines.append(_SourceLine(bool(code.strip()), comment))
    return lines


# ---- statements as text -------------------------------------------------------


def _literal(tree: Tree) -> str:
    """A literal from the syntax tree, its digits and texts exactly as written."""
    tokens = [str(child) for child in tree.children]
    if tree.data == "percent":
        return f"{tokens[0]} %"
    if tree.data in ("true", "false"):
        return str(tree.data)
    return " ".join(tokens)


def _meta_span(tree: Tree) -> Span:
    """The span the loader gives the model object built from `tree`."""
    meta = tree.meta
    return Span(meta.line, meta.column, meta.end_line, meta.end_column)


def _expression(tree: Tree, path: str) -> str:
    """A guard in its canonical form, literals spelled as in the source."""
    spellings = {
        _meta_span(node): _literal(node)
        for node in tree.iter_subtrees()
        if node.data in LITERAL_RULES
    }
    expr = cast(Expr, _ToStatements(path).transform(tree))

    def spell(literal: Literal) -> str:
        return spellings[literal.span]

    return expr_to_text(expr, spell)


def _names(tree: Tree) -> str:
    return ", ".join(str(name) for name in tree.children)


def _action(tree: Tree) -> str:
    texts = [str(child) for child in tree.children]
    if tree.data == "phone":
        return f"phone queue {texts[0]}"
    if tree.data == "task":
        return f"task {texts[0]}" + (f" queue {texts[1]}" if len(texts) > 1 else "")
    if tree.data == "plugin":  # the kind as written, then its text if any
        return " ".join(texts)
    return " ".join([str(tree.data), *texts])


def _measure_option(tree: Tree) -> str:
    kind = str(tree.data)
    value = _literal(tree.children[0]) if tree.children else ""

    if kind == "cost_fixed":
        return f"cost {value}"
    if kind == "cost_percent":
        return f"cost {value} of collected"
    if kind == "fee_fixed":
        return f"fee {value}"
    if kind == "fee_percent":
        bounds = [
            f"{str(bound.data).removeprefix('fee_')} {_literal(bound.children[0])}"
            for bound in tree.children[1:]
        ]
        return " ".join([f"fee {value} of open amount", *bounds])
    if kind == "interest_fixed":
        return f"interest {value} per year"
    return {"interest_statutory": "interest statutory", "interest_eu": "interest eu"}[
        kind
    ]


def _timer(tree: Tree) -> str:
    words = ["after"]
    for child in tree.children:
        if isinstance(child, Tree):
            words.append("overdue" if child.data == "overdue" else "in state")
        elif child.type == "END_OF_MONTH":
            words.append("at end of month")
        else:
            words.append(str(child))
    return " ".join(words)


def _transition(tree: Tree, path: str) -> str:
    source, target, *clauses = tree.children
    words = [f"{source} -> {target}"]
    for clause in clauses:
        if clause.data == "timer":
            words.append(_timer(clause))
        elif clause.data == "guard":
            words.append(f"when {_expression(clause.children[0], path)}")
        else:
            words.append(f"do {_names(clause.children[0])}")
    return " ".join(words)


def _event_rule(tree: Tree, path: str) -> str:
    event, *parts = tree.children
    words = [f"on {event}"]
    for part in parts:
        if part.data == "event_from":
            words.append(f"from {_names(part.children[0])}")
        elif part.data in EXPRESSION_RULES:
            words.append(f"when {_expression(part, path)}")
        elif part.data == "target_state":
            words.append(f"-> {part.children[0]}")
        elif part.data == "target_back":
            words.append("-> back")
        else:
            words.append(f"do {_names(part)}")
    return " ".join(words)


def _statement_text(tree: Tree, path: str, width: int) -> str:
    """One statement on one line; `width` pads group and measure names."""
    kind = str(tree.data)
    first = tree.children[0] if tree.children else None

    if kind == "policy_header":
        return f"policy {tree.children[0]} version {tree.children[1]}"
    if kind in HEADER_SETTINGS:
        return f"{kind.removesuffix('_decl')} {first}"
    if kind == "group_rule":
        guard = _expression(tree.children[1], path)
        return f"group {str(first).ljust(width)} when {guard}"
    if kind == "exclude_decl":
        condition, reason = tree.children
        return f"exclude when {_expression(condition, path)} because {reason}"
    if kind == "small_balance_decl":
        limit, action = tree.children
        ending = "write off" if action.data == "write_off_balance" else "leave"
        return f"small balance below {_literal(limit)} {ending}"
    if kind == "resume_continue":
        return "after hold continue"
    if kind == "resume_wait":
        return f"after hold wait {tree.children[0]} {tree.children[1]}"
    if kind == "group_fallback":
        return f"group {str(first).ljust(width)} otherwise"
    if kind == "measure_decl":
        name, action, *options = tree.children
        words = [f"measure {str(name).ljust(width)} =", _action(action)]
        words.extend(_measure_option(option) for option in options)
        return " ".join(words)
    if kind in ("series_decl", "dunning_decl", "initial_decl", "use_decl"):
        return f"{kind.removesuffix('_decl')} {first}"
    if kind in ("terminal_decl", "hold_decl"):
        return f"{kind.removesuffix('_decl')} {_names(tree.children[0])}"
    if kind == "transition":
        return _transition(tree, path)
    if kind == "event_rule":
        return _event_rule(tree, path)
    raise ValueError(f"no layout for statement `{kind}`")  # pragma: no cover


# ---- layout -------------------------------------------------------------------


@define
class _Statement:
    """One statement with its comments and its place in the layout."""

    tree: Tree
    first_line: int
    last_line: int = 0
    section: str = ""
    starts_section: bool = False
    indent: str = ""
    width: int = 0
    before: list[str | None] = field(factory=list)
    trailing: list[str] = field(factory=list)


def _place(statements: list[_Statement]) -> None:
    """Sections and indentation, following how the loader assigns blocks.

    Group, measure and policy-wide rule lines close a block; header settings
    do not, so one written inside a block stays there (the loader reports it).
    """
    in_block = False
    for statement in statements:
        kind = statement.tree.data

        if kind in BLOCK_STARTS:
            in_block = True
            statement.section, statement.starts_section = "block", True
        elif kind.startswith("group_") or kind == "measure_decl":
            in_block = False
            statement.section = "groups" if kind.startswith("group_") else "measures"
        elif kind in POLICY_RULES:
            in_block = False
            statement.section = "exclusions" if kind == "exclude_decl" else "settings"
        elif in_block:
            statement.section, statement.indent = "block", INDENT
        elif kind == "policy_header":
            statement.section = "header"
        elif kind in HEADER_SETTINGS:
            statement.section, statement.indent = "header", INDENT
        else:
            statement.section = "outside"


def _attach_comments(
    statements: list[_Statement], lines: list[_SourceLine]
) -> list[str | None]:
    """Give each statement the comments around it; return those after the last.

    Own-line comments belong to the statement below them; one inside a
    statement that spans lines moves just above it. End-of-line comments stay
    at the end of their statement.
    """
    pending: list[str | None] = []
    line_number = 1

    for index, statement in enumerate(statements):
        following = statements[index + 1 : index + 2]
        next_first = following[0].first_line if following else len(lines) + 1
        for number in range(line_number, statement.first_line):
            pending.append(lines[number - 1].comment)
        statement.before, pending = pending, []

        span = range(statement.first_line, next_first)
        statement.last_line = max(
            (n for n in span if lines[n - 1].has_code), default=statement.first_line
        )
        for number in range(statement.first_line, statement.last_line + 1):
            line = lines[number - 1]
            if line.comment is None:
                continue
            if line.has_code:
                statement.trailing.append(line.comment)
            else:
                statement.before.append(line.comment)
        line_number = statement.last_line + 1

    for number in range(line_number, len(lines) + 1):
        pending.append(lines[number - 1].comment)
    return pending


def _runs(statements: list[_Statement], kind: str) -> Iterator[list[_Statement]]:
    """Consecutive statements of one kind with no blank line between them."""
    run: list[_Statement] = []
    for statement in statements:
        joined = (
            run
            and statement.section == kind
            and not statement.starts_section
            and BLANK not in statement.before
        )
        if run and not joined:
            yield run
            run = []
        if statement.section == kind:
            run.append(statement)
    if run:
        yield run


def _align(statements: list[_Statement]) -> None:
    """Pads group and measure names to the longest name of their run."""
    for kind in ("groups", "measures"):
        for run in _runs(statements, kind):
            width = max(len(str(s.tree.children[0])) for s in run)
            for statement in run:
                statement.width = width


def _emit_comments(out: list[str], items: list[str | None], indent: str) -> None:
    """Comment lines, with at most one blank line wherever blank lines were."""
    for item in items:
        if item is BLANK:
            if out and out[-1] != "":
                out.append("")
        else:
            out.append(indent + item)


def _too_deep(path: str) -> PolicyError:
    """The error for guards nested deeper than Python's stack allows."""
    # Limitation: like the loader (E105), the layout cannot read conditions
    # nested hundreds of levels deep; it says so instead of crashing.
    problem = Diagnostic(
        "E105",
        "a condition is nested too deeply to read",
        path=path,
        hint="write conditions with fewer `not` in a row",
    )
    return PolicyError([problem])


def format_source(text: str, path: str = "<policy>") -> str:
    """The canonical layout of a policy text.

    Raises `PolicyError` with every syntax error when the text does not parse;
    a text that parses but has meaning errors is still laid out.
    """
    try:
        tree, diagnostics = parse_tree(text, path)
        if tree is None:
            raise PolicyError(diagnostics, text)
        return _layout(tree, text, path)
    except RecursionError:
        raise _too_deep(path) from None
    except VisitError as error:
        # The transformer wraps errors raised inside its rules.
        if isinstance(error.orig_exc, RecursionError):
            raise _too_deep(path) from None
        raise


def _layout(tree: Tree, text: str, path: str) -> str:
    """The laid-out text of a parsed policy."""
    lines = _scan(text)
    statements = [_Statement(child, child.meta.line) for child in tree.children]
    after_last = _attach_comments(statements, lines)
    _place(statements)
    _align(statements)
    log.debug("laying out %s statements of %s", len(statements), path)

    out: list[str] = []
    previous: _Statement | None = None
    for statement in statements:
        new_section = previous is not None and (
            statement.starts_section or statement.section != previous.section
        )
        if new_section and out[-1] != "":
            out.append("")
        _emit_comments(out, statement.before, statement.indent)

        body = _statement_text(statement.tree, path, statement.width)
        line = statement.indent + body
        if statement.trailing:
            line += "  " + "  ".join(statement.trailing)
        out.append(line)
        previous = statement

    _emit_comments(out, after_last, "")
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out) + "\n" if out else ""


__all__ = ["format_source"]

"""Text to syntax tree, with every syntax error of a file reported in plain words."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from functools import lru_cache
from importlib.resources import files

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput

from .errors import Diagnostic
from .model import Span

log = logging.getLogger(__name__)

MAX_SYNTAX_ERRORS = 50

# How the analyst reads each kind of token; parser-internal names never show.
TOKEN_WORDS: dict[str, str] = {
    "NAME": "a name",
    "STRING": 'a quoted text like "reminder"',
    "NUMBER": "a number",
    "INT": "a whole number of days",
    "CURRENCY": "a currency code like EUR",
    "CALENDAR": "a calendar like DE or DE-NI",
    "DATE": "a date like 2026-12-31",
    "DAYS": "`days`",
    "COMPARATOR": "a comparison (=, !=, <, <=, >, >=)",
    "BUSINESS": "`business`",
    "END_OF_MONTH": "`at end of month`",
    "_NL": "the end of the line",
    "$END": "the end of the file",
    "LPAR": "`(`",
    "RPAR": "`)`",
    "LSQB": "`[`",
    "RSQB": "`]`",
    "COMMA": "`,`",
    "DOT": "`.`",
    "EQUAL": "`=`",
    "PERCENT": "`%`",
    "__ANON_0": "`->`",
}


class _LineJoiner:
    """Drops line ends inside parentheses and brackets; ends the file with one."""

    always_accept = ("_NL",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        depth = 0
        last: Token | None = None
        for token in stream:
            if token.type in ("LPAR", "LSQB"):
                depth += 1
            elif token.type in ("RPAR", "RSQB"):
                depth = max(0, depth - 1)
            elif token.type == "_NL" and depth:
                continue
            last = token
            yield token
        if last is not None and last.type != "_NL":
            yield Token.new_borrow_pos("_NL", "\n", last)


@lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = files("dunlang").joinpath("dunlang.lark").read_text(encoding="utf-8")
    return Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        postlex=_LineJoiner(),  # type: ignore[arg-type]
        propagate_positions=True,
        maybe_placeholders=False,
    )


def _describe(token_type: str) -> str:
    if token_type in TOKEN_WORDS:
        return TOKEN_WORDS[token_type]
    if token_type.isupper() and not token_type.startswith("__"):
        return f"`{token_type.lower()}`"
    return token_type


def _keyword_for(token_type: str) -> str | None:
    """The literal keyword behind an anonymous terminal, if it is one."""
    parser = _parser()
    for terminal in parser.terminals:
        if terminal.name == token_type and terminal.pattern.type == "str":
            return f"`{terminal.pattern.value}`"
    return None


def _expected_words(expected: set[str]) -> str:
    # The line joiner lets a line end through everywhere; only name it when
    # nothing else fits.
    if len(expected) > 1:
        expected = expected - {"_NL"}
    words = sorted({_keyword_for(t) or _describe(t) for t in expected})
    if len(words) > 12:
        return "a statement or value that fits here"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _diagnose(error: UnexpectedInput, text: str, path: str) -> Diagnostic:
    line, column = error.line, error.column
    if isinstance(error, UnexpectedCharacters):
        char = text[error.pos_in_stream] if error.pos_in_stream < len(text) else ""
        span = Span(line, column, line, column + 1)
        if char == "=" and text[error.pos_in_stream - 1 : error.pos_in_stream] == "=":
            return Diagnostic(
                "E104", "`==` is not a comparison here", span,
                "write a single `=` to compare", path,
            )
        allowed = error.allowed or set()
        return Diagnostic(
            "E101", f"unexpected character `{char}`", span,
            f"expected {_expected_words(allowed)}" if allowed else None, path,
        )
    if isinstance(error, UnexpectedEOF):
        last = len(text.splitlines()) or 1
        return Diagnostic(
            "E103", "the file ends in the middle of a statement",
            Span(last, 1, last, 1), f"expected {_expected_words(set(error.expected))}",
            path,
        )
    token: Token = error.token  # type: ignore[attr-defined]
    expected = set(getattr(error, "expected", set()) or set())
    if token.type == "$END":
        last = len(text.splitlines()) or 1
        return Diagnostic(
            "E103", "the file ends in the middle of a statement",
            Span(last, 1, last, 1), f"expected {_expected_words(expected)}", path,
        )
    value = str(token).strip() or "end of line"
    width = max(1, len(str(token).split("\n")[0]))
    end_column = token.end_column if token.end_line == line else column + width
    span = Span(token.line or line, token.column or column, token.line or line,
                end_column or column + width)
    if token.type == "_NL":
        span = Span(span.line, span.column, span.line, span.column + 1)
        message = "the line ends too early"
    elif value == "=" and text[token.start_pos - 1 : token.start_pos] == "=":
        return Diagnostic("E104", "`==` is not a comparison here",
                          Span(span.line, span.column - 1, span.line, span.column + 1),
                          "write a single `=` to compare", path)
    elif value == "=" and text[token.start_pos : token.start_pos + 2] == "=>":
        return Diagnostic("E104", "`=>` is not an arrow",
                          Span(span.line, span.column, span.line, span.column + 2),
                          "write `->` between the two state names", path)
    else:
        message = f"unexpected `{value}`"
    return Diagnostic("E102", message, span, f"expected {_expected_words(expected)}",
                      path)


def _blank_line(text: str, line: int) -> str:
    """The text with one line's content replaced by spaces, positions kept."""
    lines = text.split("\n")
    if 1 <= line <= len(lines):
        lines[line - 1] = " " * len(lines[line - 1].rstrip("\r"))
    return "\n".join(lines)


def parse_tree(text: str, path: str = "<policy>") -> tuple[Tree | None, list[Diagnostic]]:
    """Parse policy text; on syntax errors return every one of them and no tree.

    After each error the offending line is blanked and parsing starts again, so
    one mistake does not hide the next; blocks are not syntactic, so blanking a
    line never breaks the structure of the rest.
    """
    parser = _parser()
    diagnostics: list[Diagnostic] = []
    current = text
    seen_lines: set[int] = set()

    while len(diagnostics) < MAX_SYNTAX_ERRORS:
        try:
            tree = parser.parse(current)
        except UnexpectedInput as error:
            diagnostic = _diagnose(error, current, path)
            if diagnostic.span.line in seen_lines or diagnostic.code == "E103":
                diagnostics.append(diagnostic)
                break
            seen_lines.add(diagnostic.span.line)
            diagnostics.append(diagnostic)
            current = _blank_line(current, diagnostic.span.line)
            log.debug("syntax error at line %s, parsing again", diagnostic.span.line)
            continue
        return (None, diagnostics) if diagnostics else (tree, [])
    return None, diagnostics


__all__ = ["parse_tree"]

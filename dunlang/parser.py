"""Text to syntax tree, with every syntax error of a file reported in plain words."""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import io
import logging
import os
import pickle
import re
import sys
import tempfile
import unicodedata
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import lark
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput

from .errors import Diagnostic, suggest
from .model import Span
from .reader import LineJoiner, Reader, Unsupported

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


# ---- building the parser, kept between runs -------------------------------------

# How lark builds the parser; the line joiner comes on top.
_OPTIONS: dict[str, Any] = {
    "parser": "lalr",
    "lexer": "contextual",
    "propagate_positions": True,
    "maybe_placeholders": False,
}
# Starts the first line of a kept parser; a new format gets a new number.
_CACHE_FORMAT = b"dunlang-parser-1"


@lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = files("dunlang").joinpath("dunlang.lark").read_text(encoding="utf-8")
    return build_parser(grammar, _cache_directory())


def _cache_directory() -> Path | None:
    """The user's cache directory for dunning, or None when there is none."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache"
    )
    return Path(root, "dunning") if os.path.isabs(root) else None


def build_parser(grammar: str, cache: Path | None) -> Lark:
    """The parser of `grammar`, read from the directory `cache` when a copy for
    this grammar, lark and Python is kept there, else built and kept there.

    Building takes most of the first parse of a run; reading a kept copy takes a
    tenth of that. A missing, outdated, damaged or foreign copy, or a directory
    that cannot be written, only means building as without a cache.
    """
    if cache is None:
        return _build(grammar)
    file = cache / f"parser-py{sys.version_info[0]}{sys.version_info[1]}.pickle"
    key = hashlib.sha256(
        "\0".join(
            [grammar, lark.__version__, sys.version, repr(sorted(_OPTIONS.items()))]
        ).encode("utf-8")
    ).hexdigest()
    parser = _read_kept(file, key)
    if parser is None:
        parser = _build(grammar)
        _keep(parser, file, key)
    return parser


def _build(grammar: str) -> Lark:
    return Lark(grammar, postlex=LineJoiner(), **_OPTIONS)  # type: ignore[arg-type]


def _read_kept(file: Path, key: str) -> Lark | None:
    """The parser kept in `file` if it was kept for `key` and is whole."""
    try:
        with open(file, "rb") as stream:
            status = os.fstat(stream.fileno())
            data = stream.read()
    except OSError:
        return None
    # Unpickling runs code: only a file that no one else could have written.
    if hasattr(os, "getuid") and (
        status.st_uid != os.getuid() or status.st_mode & 0o022
    ):
        log.debug("not reading %s: others may write it", file)
        return None
    head, _, payload = data.partition(b"\n")
    expected = b" ".join(
        [_CACHE_FORMAT, key.encode(), hashlib.sha256(payload).hexdigest().encode()]
    )
    if head != expected:
        log.debug("not reading %s: kept for another grammar, or damaged", file)
        return None
    try:
        parser = Lark.__new__(Lark)
        parser._load(pickle.loads(payload), postlex=LineJoiner())
    except Exception as error:  # a cache must never stop the loading
        log.debug("not reading %s: %s", file, error)
        return None
    log.debug("parser read from %s", file)
    return parser


def _keep(parser: Lark, file: Path, key: str) -> None:
    """Keep `parser` in `file` for the next run; written whole or not at all."""
    temporary = None
    try:
        payload = io.BytesIO()
        parser.save(payload, exclude_options=("postlex",))
        data = payload.getvalue()
        head = b" ".join(
            [_CACHE_FORMAT, key.encode(), hashlib.sha256(data).hexdigest().encode()]
        )
        file.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=file.parent, suffix=".tmp")
        with os.fdopen(handle, "wb") as stream:
            stream.write(head + b"\n" + data)
        os.replace(temporary, file)
        log.debug("parser kept in %s", file)
    except Exception as error:  # a cache must never stop the loading
        log.debug("parser not kept in %s: %s", file, error)
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.remove(temporary)


@lru_cache(maxsize=1)
def _reader() -> Reader | None:
    """The fast reader over the parser's tables, if it can follow this lark."""
    try:
        return Reader(_parser())
    except Unsupported as problem:
        log.debug("parsing with lark alone: %s", problem)
        return None


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


# The words a statement can start with; a line may also start with a state
# name, as a transition.
STATEMENT_WORDS = (
    "after", "calendar", "currency", "dunning", "exclude", "group", "hold", "initial",
    "measure", "on", "policy", "rounding", "series", "small", "terminal", "timezone",
    "use",
)
STATEMENT_START = (
    "a statement like `group`, `measure` or `dunning`, or a transition like "
    "`current -> reminded`"
)
# Words that go on a statement, written by mistake at the start of a new line.
CONTINUATION_WORDS = ("and", "or", "not", "when", "do", "after", "from")
CLOSING = {"(": ")", "[": "]"}


WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@lru_cache(maxsize=1)
def _all_keywords() -> tuple[str, ...]:
    """Every word the grammar spells out, like `after`, `when` or `write_off`."""
    return tuple(
        sorted(
            {
                str(terminal.pattern.value)
                for terminal in _parser().terminals
                if terminal.pattern.type == "str"
                and WORD.fullmatch(str(terminal.pattern.value))
            }
        )
    )


def _misspelled_keyword(
    text: str, token: Token, expected: set[str]
) -> tuple[str, Span, str] | None:
    """A word that is close to a keyword: the whole word, its span, the keyword.

    The lexer may take the start of a word for a keyword (`afterr` as `after`
    and `r`); the whole word is then compared with every keyword, since what
    was expected where the word starts is no longer known.
    """
    value = str(token)
    start = token.start_pos
    if start is None or not WORD.fullmatch(value):
        return None
    begin = start
    while begin > 0 and (text[begin - 1].isalnum() or text[begin - 1] == "_"):
        begin -= 1
    word = text[begin : start + len(value)]
    if begin < start:
        candidates: tuple[str, ...] = _all_keywords()
    else:
        words = (_keyword_for(t) or _describe(t) for t in expected)
        candidates = tuple(w[1:-1] for w in words if WORD.fullmatch(w[1:-1]))
    if word in candidates:
        return None
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.7)
    if not close:
        return None
    line = token.line or 0
    column = (token.column or 1) - (start - begin)
    return word, Span(line, column, line, column + len(word)), close[0]


def _line_text(text: str, line: int) -> str:
    lines = text.split("\n")
    return lines[line - 1] if 1 <= line <= len(lines) else ""


def _line_start_problem(text: str, token: Token, expected: set[str],
                        path: str) -> Diagnostic | None:
    """A line whose first word is no statement, read as a transition that then
    lacks its `->`: a misspelled statement (`grup a otherwise`) or a condition
    carried on to the next line (`  or customer.kind = "x"`)."""
    if "`->`" not in {_keyword_for(t) for t in expected}:
        return None
    line = token.line or 0
    first = re.match(r"([ \t]*)([A-Za-z_][A-Za-z0-9_]*)[ \t]+$",
                     _line_text(text, line)[: (token.column or 1) - 1])
    if first is None or first.group(2) in STATEMENT_WORDS:
        return None
    word = first.group(2)
    start = len(first.group(1)) + 1
    span = Span(line, start, line, start + len(word))
    if word in CONTINUATION_WORDS:
        carry = ("to carry a condition on to the next line, put it in parentheses"
                 if word in ("and", "or", "not") else
                 f"write `{word}` on the line of the rule it belongs to")
        return Diagnostic("E102", f"a line cannot start with `{word}`", span,
                          f"a statement ends with its line; {carry}", path)
    if not difflib.get_close_matches(word, STATEMENT_WORDS, n=1, cutoff=0.6):
        return None
    close = suggest(word, STATEMENT_WORDS, "statements").split("?")[0]
    return Diagnostic(
        "E102", f"`{word}` is not a statement", span,
        f"{close}? A line that starts with a state name is a transition and needs "
        "`->` next, like `current -> reminded`", path)


def _timer_on_own_line(text: str, token: Token, path: str) -> Diagnostic | None:
    """`after` starting a line, but not `after hold`: a timer written on the
    line below its transition."""
    line = token.line or 0
    before = _line_text(text, line)[: (token.column or 1) - 1]
    first = re.match(r"([ \t]*)after[ \t]+$", before)
    if first is None or not str(token).isdigit():
        return None
    start = len(first.group(1)) + 1
    return Diagnostic(
        "E102", "a line cannot start with `after` and a number of days",
        Span(line, start, line, start + len("after")),
        "a statement ends with its line; write the timer on the line of its "
        "transition, like `current -> reminded after 14 days overdue`", path)


def _starts_statement(text: str, token: Token) -> bool:
    """Whether `token` begins its line with what can only start a statement: a
    statement word, or a state name and `->`."""
    line = _line_text(text, token.line or 0)
    before = line[: (token.column or 1) - 1]
    if before.strip():
        return False
    rest = line[len(before) :]
    word = WORD.match(rest)
    if word is None:
        return False
    return word.group() in STATEMENT_WORDS or bool(
        re.match(r"[ \t]*->", rest[word.end() :])
    )


def _unclosed_bracket(text: str, end: int) -> tuple[int, int, str] | None:
    """Line, column and character of the innermost `(` or `[` still open at
    position `end`; quoted texts and comments do not count."""
    stack: list[tuple[int, int, str]] = []
    line, column, quoted, comment = 1, 1, False, False
    for char in text[:end]:
        if char == "\n":
            line, column, quoted, comment = line + 1, 1, False, False
            continue
        if comment:
            pass
        elif char == '"':
            quoted = not quoted
        elif quoted:
            pass
        elif char == "#":
            comment = True
        elif char in "([":
            stack.append((line, column, char))
        elif char in ")]" and stack:
            stack.pop()
        column += 1
    return stack[-1] if stack else None


def _diagnose(error: UnexpectedInput, text: str, path: str) -> tuple[Diagnostic, range]:
    """The diagnostic for a syntax error, and the lines to blank before parsing
    again so that it is not reported twice."""
    diagnostic = _describe_error(error, text, path)
    lines = range(diagnostic.span.line, diagnostic.span.line + 1)
    token = getattr(error, "token", None)
    failed_on = (token.line or 0) if token is not None else 0
    if failed_on > diagnostic.span.line:
        # Reported above the line that failed: an unclosed bracket, whose
        # statement runs on up to that line.
        lines = range(diagnostic.span.line, failed_on)
    return diagnostic, lines


def _describe_error(error: UnexpectedInput, text: str, path: str) -> Diagnostic:
    line, column = error.line, error.column
    if isinstance(error, UnexpectedCharacters):
        position = error.pos_in_stream or 0
        char = text[position] if position < len(text) else ""
        span = Span(line, column, line, column + 1)
        if char == "=" and text[position - 1 : position] == "=":
            return Diagnostic(
                "E104", "`==` is not a comparison here", span,
                "write a single `=` to compare", path,
            )
        allowed = error.allowed or set()
        hint = f"expected {_expected_words(allowed)}" if allowed else None
        if "NAME" in allowed and not _line_text(text, line)[: column - 1].strip():
            hint = f"expected {STATEMENT_START}"
        if _foreign_digit(char):
            # A digit of another script reads as a number elsewhere, not here.
            digits = "write numbers with the digits 0 to 9"
            hint = f"{hint}; {digits}" if hint else digits
        if char == "\r":
            hint = (
                "the lines end with a carriage return alone; save the file with "
                "ordinary line ends (LF or CR LF)"
            )
        message = f"unexpected character {_shown(char)}"
        return Diagnostic("E101", message, span, hint, path)
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
    at_end = token.type == "_NL" and not re.sub(
        r"#[^\n]*", "", text[token.end_pos or 0 :]).strip()
    opened = _unclosed_bracket(text, len(text) if at_end else token.start_pos or 0)
    if opened is not None and at_end:
        open_line, open_column, char = opened
        return Diagnostic(
            "E103", f"the file ends before this `{char}` is closed",
            Span(open_line, open_column, open_line, open_column + 1),
            f"close it with `{CLOSING[char]}`; inside brackets a statement goes on "
            "over the next lines", path)
    value = str(token).strip() or "end of line"
    start = token.start_pos or 0
    width = max(1, len(str(token).split("\n")[0]))
    end_column = token.end_column if token.end_line == line else column + width
    span = Span(token.line or line, token.column or column, token.line or line,
                end_column or column + width)
    if token.type == "_NL":
        span = Span(span.line, span.column, span.line, span.column + 1)
        message = "the line ends too early"
    elif value == "=" and text[start - 1 : start] == "=":
        return Diagnostic("E104", "`==` is not a comparison here",
                          Span(span.line, span.column - 1, span.line, span.column + 1),
                          "write a single `=` to compare", path)
    elif value == "=" and text[start : start + 2] == "=>":
        return Diagnostic("E104", "`=>` is not an arrow",
                          Span(span.line, span.column, span.line, span.column + 2),
                          "write `->` between the two state names", path)
    else:
        message = f"unexpected `{value}`"
        misspelled = _line_start_problem(text, token, expected, path)
        if misspelled is not None:
            return misspelled
        timer = _timer_on_own_line(text, token, path)
        if timer is not None:
            return timer
    hint = f"expected {_expected_words(expected)}"
    if opened is not None and opened[0] < span.line:
        open_line, open_column, char = opened
        if token.type != "_NL" and _starts_statement(text, token):
            # The line is a statement of its own; the bracket above is what is
            # wrong, and is reported once, not on every line that follows it.
            return Diagnostic(
                "E102", f"this `{char}` is not closed",
                Span(open_line, open_column, open_line, open_column + 1),
                f"close it with `{CLOSING[char]}`; inside brackets a statement "
                f"goes on over the next lines, so `{value}` on line {span.line} "
                "was read as part of it", path)
        hint = (f"the `{char}` on line {open_line} is not closed, so its statement "
                f"goes on into this line; close it with `{CLOSING[char]}`")
    elif token.type != "_NL":
        close = _misspelled_keyword(text, token, expected)
        if close is not None:
            word, span, keyword = close
            message = f"unexpected `{word}`"
            hint = f"did you mean `{keyword}`?" + (
                "" if span.column < (token.column or 0) else f" {hint}")
    if _foreign_digit(text[start : start + len(value) + 1]):
        # `0.٨0`: the foreign digit ends the number, and the `.` is left over.
        hint = f"{hint}; write numbers with the digits 0 to 9"
    return Diagnostic("E102", message, span, hint, path)


def _shown(char: str) -> str:
    """A character as a message shows it: in backticks, or, where it would
    not show or would upset the terminal, by its code point and name."""
    if char.isprintable() and not char.isspace():
        return f"`{char}`"
    return f"U+{ord(char):04X} ({unicodedata.name(char, 'a control character')})"


def _foreign_digit(text: str) -> bool:
    """True when the text holds a digit of another script than 0-9."""
    return any(char.isdigit() and not char.isascii() for char in text)


def _blank_line(text: str, line: int) -> str:
    """The text with one line's content replaced by spaces, positions kept."""
    lines = text.split("\n")
    if 1 <= line <= len(lines):
        lines[line - 1] = " " * len(lines[line - 1].rstrip("\r"))
    return "\n".join(lines)


def parse_tree(
    text: str, path: str = "<policy>"
) -> tuple[Tree | None, list[Diagnostic]]:
    """Parse policy text; on syntax errors return every one of them and no tree.

    After each error the offending line is blanked and parsing starts again, so
    one mistake does not hide the next; blocks are not syntactic, so blanking a
    line never breaks the structure of the rest.
    """
    parser, reader = _parser(), _reader()
    diagnostics: list[Diagnostic] = []
    current = text
    seen_lines: set[int] = set()

    while len(diagnostics) < MAX_SYNTAX_ERRORS:
        try:
            # The reader builds lark's own tree faster, and leaves a text it
            # cannot read, which has an error, to lark to report. Once there is
            # an error no tree is returned, so lark alone looks for the next.
            tree = None
            if reader is not None and not diagnostics:
                tree = reader.read(current)
            if tree is None:
                tree = parser.parse(current)
        except UnexpectedInput as error:
            diagnostic, lines = _diagnose(error, current, path)
            if diagnostic.span.line in seen_lines or diagnostic.code == "E103":
                diagnostics.append(diagnostic)
                break
            seen_lines.add(diagnostic.span.line)
            diagnostics.append(diagnostic)
            for line in lines:
                current = _blank_line(current, line)
            log.debug("syntax error at line %s, parsing again", diagnostic.span.line)
            continue
        return (None, diagnostics) if diagnostics else (tree, [])
    return None, diagnostics


__all__ = ["build_parser", "parse_tree"]

"""Diagnostics: what is wrong with a policy, where, and what would be valid.

Every diagnostic has a stable code listed in `CODES`; `docs/errors.md` has an
entry for each with a broken and a fixed example.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Iterable, Sequence

from attrs import frozen

from .model import NO_SPAN, Span


class Severity(enum.Enum):
    """Errors stop a policy from being used; warnings do not, unless strict."""

    ERROR = "error"
    WARNING = "warning"


CODES: dict[str, str] = {
    # Syntax: the text does not follow the grammar.
    "E101": "unexpected character",
    "E102": "unexpected word",
    "E103": "unexpected end of file",
    "E104": "wrong operator",
    "E105": "condition nested too deeply",
    # Meaning: the text parses but does not make sense as a policy.
    "E201": "missing or repeated policy header or setting",
    "E202": "duplicate name",
    "E203": "unknown name",
    "E204": "missing fallback group",
    "E205": "group without dunning block",
    "E206": "statement outside a block",
    "E207": "unknown event",
    "E208": "non-terminal state with no way out",
    "E209": "transition out of a terminal state",
    "E210": "ambiguous transitions",
    "E211": "timer goes backwards",
    "E212": "mixed currencies",
    "E213": "values that cannot be compared",
    "E214": "invalid value",
    "E215": "invalid calendar, currency or time zone",
    "E216": "`back` without a hold state",
    "E217": "transition that can never fire",
    "E218": "invalid rounding step",
    # Warnings: the policy works, but probably not as meant.
    "W301": "measure never used",
    "W302": "unreachable state",
    "W303": "steps fall due on the same day",
    "W304": "group rule after the fallback",
    "W305": "a value that looks like a misspelled built-in",
    "W306": "business days without a calendar",
    "W307": "measure kind no installed plug-in provides",
}


@frozen
class Diagnostic:
    """One finding about a policy file."""

    code: str
    message: str
    span: Span = NO_SPAN
    hint: str | None = None
    path: str = "<policy>"

    @property
    def severity(self) -> Severity:
        """Warnings have codes starting with W."""
        return Severity.WARNING if self.code.startswith("W") else Severity.ERROR

    def as_dict(self) -> dict[str, object]:
        """A plain mapping for the JSON output of `dunning check`."""
        return {
            "path": self.path,
            "line": self.span.line,
            "column": self.span.column,
            "end_line": self.span.end_line,
            "end_column": self.span.end_column,
            "severity": self.severity.value,
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
        }


class PolicyError(Exception):
    """A policy could not be loaded; carries every diagnostic found in it."""

    def __init__(self, diagnostics: Sequence[Diagnostic], source: str = "") -> None:
        self.diagnostics = tuple(diagnostics)
        self.source = source
        super().__init__(render_all(self.diagnostics, source))


def suggest(name: str, known: Iterable[str], what: str) -> str:
    """A hint: the closest known name, then the list of known names."""
    known = sorted(set(known))
    if not known:
        return f"no {what} is defined yet"
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    listing = f"known {what}: {', '.join(known)}"
    return f"did you mean `{close[0]}`? {listing}" if close else listing


def render(
    diagnostic: Diagnostic, source: str, lines: Sequence[str] | None = None
) -> str:
    """`file:line:col: error CODE: message`, the source line, carets, the hint.

    `lines` is the source already split, for callers rendering many diagnostics.
    """
    span = diagnostic.span
    # A problem with the file as a whole (unreadable, not text) has no place.
    where = diagnostic.path
    if span.line:
        where += f":{span.line}:{span.column}"
    severity = diagnostic.severity.value
    head = f"{where}: {severity} {diagnostic.code}: {diagnostic.message}"
    if lines is None:
        lines = source.splitlines()
    out = [head]

    if 1 <= span.line <= len(lines):
        text = lines[span.line - 1].expandtabs(1)
        gutter = f"{span.line:>5} | "
        end = span.end_column if span.end_line == span.line else len(text) + 1
        width = max(1, end - span.column)
        out.append(f"{gutter}{text}")
        carets = " " * (span.column - 1) + "^" * width
        out.append(" " * (len(gutter) - 2) + "| " + carets)

    if diagnostic.hint:
        out.append(f"      = hint: {diagnostic.hint}")
    return "\n".join(out)


def render_all(diagnostics: Iterable[Diagnostic], source: str) -> str:
    """All diagnostics of one file, in file order, separated by blank lines."""
    ordered = sorted(diagnostics, key=lambda d: (d.span.line, d.span.column))
    lines = source.splitlines()
    return "\n\n".join(render(d, source, lines) for d in ordered)

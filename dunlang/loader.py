"""Load policy files: parse, assemble, check, and hand back a model or all problems."""

from __future__ import annotations

from pathlib import Path

from attrs import frozen
from lark.exceptions import VisitError

from .checks import check_policy
from .errors import Diagnostic, PolicyError, Severity
from .model import Policy
from .parser import parse_tree
from .transform import build_policy


@frozen
class CheckResult:
    """The outcome of checking one policy text: the model if it was built, and
    every diagnostic in file order."""

    path: str
    source: str
    policy: Policy | None
    diagnostics: tuple[Diagnostic, ...]

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        """The diagnostics that stop the policy from being used."""
        return tuple(d for d in self.diagnostics if d.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        """The diagnostics that only warn."""
        return tuple(d for d in self.diagnostics if d.severity is Severity.WARNING)

    def ok(self, strict: bool = False) -> bool:
        """True when the policy may be used (in strict mode: no warnings either)."""
        return not (self.diagnostics if strict else self.errors)


def check_text(source: str, path: str = "<policy>") -> CheckResult:
    """Parse and check policy text without raising; syntax errors stop before
    the meaning checks, which would only repeat them."""
    try:
        tree, diagnostics = parse_tree(source, path)
        policy = None
        if tree is not None:
            policy, problems = build_policy(tree, source, path)
            diagnostics = list(problems)
            if policy is not None:
                diagnostics.extend(check_policy(policy))
    except (RecursionError, VisitError) as error:
        if isinstance(error, VisitError) and not isinstance(
            error.orig_exc, RecursionError
        ):
            raise
        # Limitation: conditions nested hundreds of levels deep exceed Python's
        # stack while the model is built; say so instead of crashing.
        problem = Diagnostic(
            "E105",
            "a condition is nested too deeply to read",
            path=path,
            hint="write conditions with fewer `not` in a row",
        )
        return CheckResult(path, source, None, (problem,))
    ordered = tuple(
        sorted(diagnostics, key=lambda d: (d.span.line, d.span.column, d.code))
    )
    return CheckResult(path, source, policy, ordered)


def parse_policy(source: str, path: str = "<policy>") -> Policy:
    """The checked policy model of a text; raises `PolicyError` on any error."""
    result = check_text(source, path)
    if result.errors or result.policy is None:
        raise PolicyError(result.diagnostics, source)
    return result.policy


def read_source(path: str | Path) -> str:
    """The text of a policy file; an unreadable file is a policy error too."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise PolicyError(
            [
                Diagnostic(
                    "E101", f"cannot read the file: {error.strerror}", path=str(path)
                )
            ]
        ) from None
    try:
        # A byte order mark, as some editors write, is not part of the text.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise PolicyError(
            [
                Diagnostic(
                    "E101",
                    f"the file is not UTF-8 text: byte 0x{data[error.start]:02X} "
                    f"on line {line}, column {column}",
                    path=str(path),
                    hint="save the policy as UTF-8 text (most editors offer it "
                    "under Save as or Encoding)",
                )
            ]
        ) from None


def load_policy(path: str | Path) -> Policy:
    """Read, parse and check a `.dun` file; raises `PolicyError` on any error."""
    return parse_policy(read_source(path), str(path))

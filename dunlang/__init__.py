"""dunlang: the dunning policy language.

Turns `.dun` policy text into a checked, immutable policy model, or into
diagnostics that name file, line and column and say what would be valid.
"""

from .errors import CODES, Diagnostic, PolicyError, Severity, render, render_all
from .loader import CheckResult, check_text, load_policy, parse_policy, read_source
from .model import Policy

__all__ = [
    "CODES",
    "CheckResult",
    "Diagnostic",
    "Policy",
    "PolicyError",
    "Severity",
    "check_text",
    "load_policy",
    "parse_policy",
    "read_source",
    "render",
    "render_all",
]

"""Plug-in measures: kinds of measure that installed packages carry out.

A policy names a plug-in kind like a built-in one (`measure text_reminder =
sms "reminder"`). When `dunning send` meets an outbox item of such a measure,
it hands the item to the handler registered under that kind's name in the
entry point group `dunning.measures`, and records what the handler answers.

A handler is any object with a `send(item, context) -> Outcome` method (the
`MeasureHandler` protocol). The entry point names the handler's class (made
with no arguments) or a ready handler object. docs/api.md has a worked example.
"""

from __future__ import annotations

import datetime as dt
import logging
from importlib.metadata import EntryPoint, entry_points
from typing import Protocol, runtime_checkable

import attrs
from attrs import frozen

from dunlang.model import Measure

from .outbox import FAILED, SENT, UNDELIVERABLE, OutboxItem
from .records import Claim, Customer, Money

__all__ = [
    "ENTRY_POINT_GROUP",
    "MeasureContext",
    "MeasureHandler",
    "Outcome",
    "PluginError",
    "load_handler",
]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "dunning.measures"
"""The entry point group in which packages register measure handlers."""

OUTCOMES = (SENT, FAILED, UNDELIVERABLE)


class PluginError(Exception):
    """A plug-in kind has no handler, or its handler cannot be loaded."""


def _known_outcome(_instance: object, _attribute: object, status: str) -> None:
    if status not in OUTCOMES:
        raise ValueError(
            f"`{status}` is no outcome of a measure handler; "
            f"give one of {', '.join(OUTCOMES)}"
        )


@frozen
class Outcome:
    """What a handler did with one outbox item.

    `status` is `sent` (carried out), `failed` (a transient failure: the item
    is tried again on the next send) or `undeliverable` (a person must act).
    `detail` says what happened in words (a gateway's message id, an error).
    """

    status: str = attrs.field(validator=_known_outcome)
    detail: str | None = None


@frozen
class MeasureContext:
    """What a handler may need besides the item: the customer, claim and measure."""

    customer: Customer
    claim: Claim
    measure: Measure
    on: dt.date
    """The date the measure is carried out on."""
    open_amount_now: Money
    """What the measure asks for on the day of sending: the claim's open amount
    that day, or under a payment plan the unpaid part of the instalments overdue
    that day. The item's `open_amount` is the amount as of the run that queued
    it, kept as recorded."""


@runtime_checkable
class MeasureHandler(Protocol):
    """Carries out the outbox items of one plug-in kind of measure."""

    def send(self, item: OutboxItem, context: MeasureContext) -> Outcome:
        """Carry out one item; return its outcome, or raise for a transient failure."""
        ...


def _entry_point(kind: str) -> EntryPoint | None:
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == kind]
    return found[0] if found else None


def installed_kinds() -> list[str]:
    """The names of the plug-in kinds installed, sorted."""
    return sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


def load_handler(kind: str) -> MeasureHandler:
    """The handler registered for a plug-in kind, or a `PluginError` saying why not."""
    entry = _entry_point(kind)
    if entry is None:
        known = ", ".join(installed_kinds()) or "none"
        raise PluginError(
            f"no plug-in handles measures of kind `{kind}`: install the package "
            f"that provides it (entry point group `{ENTRY_POINT_GROUP}`, name "
            f"`{kind}`); installed kinds: {known}"
        )
    try:
        loaded = entry.load()
        handler = loaded() if isinstance(loaded, type) else loaded
    except Exception as error:
        raise PluginError(
            f"the plug-in for `{kind}` ({entry.value}) cannot be loaded: {error}"
        ) from error
    if not isinstance(handler, MeasureHandler):
        raise PluginError(
            f"the plug-in for `{kind}` ({entry.value}) has no method "
            "`send(item, context)`"
        )
    log.debug("plug-in kind %s handled by %s", kind, entry.value)
    return handler

"""engine: runs checked dunning policies over claims and keeps the audit trail."""

from .api import Engine, RecordError
from .explain import Explanation, TimelineEntry
from .records import Claim, Customer, Event, Money, Payment
from .runner import RunError, RunResult, Step
from .store import Store, StoreError

__all__ = [
    "Claim",
    "Customer",
    "Engine",
    "Event",
    "Explanation",
    "Money",
    "Payment",
    "RecordError",
    "RunError",
    "RunResult",
    "Step",
    "Store",
    "StoreError",
    "TimelineEntry",
]

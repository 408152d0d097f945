"""State diagrams of a dunning group, as Mermaid or Graphviz DOT text.

A diagram shows every state of one group, with the initial, hold and terminal
states drawn distinctly, each timed transition as a solid arrow labelled with
its timer, guard and measures, and each event rule as a dashed arrow.
"""

from __future__ import annotations

from attrs import frozen

from .model import BACK, Dunning, EventRule, StateKind, Transition
from .text import expr_to_text, timer_to_text

GUARD_WIDTH = 40
"""Longest guard text shown on an arrow; longer ones are cut short."""

ANY_STATE = "any state"
PREVIOUS_STATE = "previous state"


@frozen
class _Edge:
    """One arrow of the diagram, independent of the output notation."""

    source: str | None  # None: an event rule that applies in any state
    target: str | None  # None: back to the state held before the hold
    label: tuple[str, ...]
    dashed: bool


def _short(text: str) -> str:
    """The text, or as many whole words of it as fit, then ` ...`."""
    if len(text) <= GUARD_WIDTH:
        return text
    cut = text[: GUARD_WIDTH - 4]
    if " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut + " ..."


def _transition_label(transition: Transition) -> tuple[str, ...]:
    lines = []
    if transition.timer is not None:
        lines.append(timer_to_text(transition.timer))
    if transition.guard is not None:
        lines.append(f"when {_short(expr_to_text(transition.guard))}")
    if transition.measures:
        lines.append(f"do {', '.join(transition.measures)}")
    return tuple(lines)


def _event_label(rule: EventRule) -> tuple[str, ...]:
    lines = [f"on {rule.event}"]
    if rule.guard is not None:
        lines.append(f"when {_short(expr_to_text(rule.guard))}")
    if rule.measures:
        lines.append(f"do {', '.join(rule.measures)}")
    return tuple(lines)


def _edges(dunning: Dunning) -> list[_Edge]:
    """Timed transitions in written order, then event rules in written order."""
    edges = [
        _Edge(t.source, t.target, _transition_label(t), dashed=False)
        for t in dunning.transitions
    ]
    for rule in dunning.events:
        target = None if rule.target == BACK else rule.target
        label = _event_label(rule)
        sources: tuple[str | None, ...] = rule.sources or (None,)
        edges.extend(_Edge(source, target, label, dashed=True) for source in sources)
    return edges


# ---- Mermaid ------------------------------------------------------------------

_MERMAID_SHAPES = {
    StateKind.INITIAL: '(["{}"])',
    StateKind.NORMAL: '("{}")',
    StateKind.HOLD: '{{{{"{}"}}}}',
    StateKind.TERMINAL: '((("{}")))',
}


def _mermaid_text(text: str) -> str:
    """Text safe inside a quoted Mermaid label: quotes and brackets as entities."""
    # `#` goes first: it starts Mermaid's own entity codes.
    for char, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(char, code)
    return text


def _mermaid_id(state: str | None, placeholder: str) -> str:
    # Prefixed so that state names such as `end` never clash with Mermaid words.
    return f"s_{state}" if state is not None else placeholder


def to_mermaid(dunning: Dunning) -> str:
    """A Mermaid flowchart of one dunning group, ready for a Markdown fence."""
    lines = [f"%% dunning group {dunning.group}", "flowchart LR"]

    for state, kind in dunning.states.items():
        shape = _MERMAID_SHAPES[kind].format(_mermaid_text(state))
        lines.append(f"    {_mermaid_id(state, '')}{shape}")
    edges = _edges(dunning)
    if any(edge.source is None for edge in edges):
        lines.append(f'    any_state["{ANY_STATE}"]')
    if any(edge.target is None for edge in edges):
        lines.append(f'    previous_state["{PREVIOUS_STATE}"]')

    for edge in edges:
        source = _mermaid_id(edge.source, "any_state")
        target = _mermaid_id(edge.target, "previous_state")
        arrow = "-.->" if edge.dashed else "-->"
        label = "<br>".join(_mermaid_text(line) for line in edge.label)
        middle = f'{arrow}|"{label}"|' if label else arrow
        lines.append(f"    {source} {middle} {target}")

    for kind in (StateKind.INITIAL, StateKind.HOLD, StateKind.TERMINAL):
        members = [_mermaid_id(s, "") for s, k in dunning.states.items() if k is kind]
        if members:
            lines.append(f"    class {','.join(members)} {kind.value}")
    lines.append("    classDef initial stroke-width:3px")
    lines.append("    classDef hold fill:#fff4cc")
    lines.append("    classDef terminal fill:#e6e6e6")
    return "\n".join(lines)


# ---- Graphviz DOT -------------------------------------------------------------

# Helper nodes have ids in brackets, which no state name can have.
START_NODE = '"(start)"'
ANY_NODE = '"(any state)"'
BACK_NODE = '"(previous state)"'

_DOT_STYLES = {
    StateKind.INITIAL: 'shape=box, style="rounded,bold"',
    StateKind.NORMAL: 'shape=box, style="rounded"',
    StateKind.HOLD: 'shape=hexagon, style="filled", fillcolor="#fff4cc"',
    StateKind.TERMINAL: 'shape=box, style="rounded,filled", fillcolor="#e6e6e6", '
    "peripheries=2",
}


def _dot_text(*lines: str) -> str:
    """Lines as one quoted DOT string, broken where the lines end."""
    escaped = (line.replace("\\", "\\\\").replace('"', '\\"') for line in lines)
    return '"' + "\\n".join(escaped) + '"'


def to_dot(dunning: Dunning) -> str:
    """A Graphviz DOT digraph of one dunning group, for `dot -Tsvg`."""
    lines = [
        f"digraph {_dot_text(dunning.group)} {{",
        "    rankdir=LR;",
        '    node [fontname="Helvetica"];',
        '    edge [fontname="Helvetica", fontsize=10];',
        f'    {START_NODE} [shape=point, label=""];',
    ]

    for state, kind in dunning.states.items():
        lines.append(f"    {_dot_text(state)} [{_DOT_STYLES[kind]}];")
    edges = _edges(dunning)
    if any(edge.source is None for edge in edges):
        lines.append(f'    {ANY_NODE} [shape=plaintext, label="{ANY_STATE}"];')
    if any(edge.target is None for edge in edges):
        lines.append(f'    {BACK_NODE} [shape=plaintext, label="{PREVIOUS_STATE}"];')

    lines.append(f"    {START_NODE} -> {_dot_text(dunning.initial)};")
    for edge in edges:
        source = _dot_text(edge.source) if edge.source is not None else ANY_NODE
        target = _dot_text(edge.target) if edge.target is not None else BACK_NODE
        attributes = [f"label={_dot_text(*edge.label)}"]
        if edge.dashed:
            attributes.append("style=dashed")
        lines.append(f"    {source} -> {target} [{', '.join(attributes)}];")

    lines.append("}")
    return "\n".join(lines)


__all__ = ["to_dot", "to_mermaid"]

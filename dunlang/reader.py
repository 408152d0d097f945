"""A fast reader for policy texts that parse: lark's own tables, without lark's
per-token machinery.

`Lark.parse` spends most of its time in generic layers: a lexer object called
for every token and every blank, a parser that calls a chain of wrappers at
every reduction, and position bookkeeping that looks attributes up by name.
This reader runs the same LALR table and the same patterns of the contextual
lexer, joins lines as `LineJoiner` does, and builds the same tree, with the same
positions, as lark's tree builder with `propagate_positions`; all in one loop.

It reads only texts without syntax errors. At the first thing it does not
expect it gives up, and the caller lets lark parse the text again, so that
errors are reported exactly as lark finds them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

from lark import Lark, Token, Tree
from lark.tree import Meta

try:
    from lark.lexer import UnlessCallback
    from lark.parser_frontends import PostLexConnector
    from lark.parsers.lalr_analysis import Shift
except ImportError:  # a lark that keeps these elsewhere: lark parses alone
    _LARK_KNOWN = False
else:
    _LARK_KNOWN = True

log = logging.getLogger(__name__)


class LineJoiner:
    """Drops line ends inside parentheses and brackets; ends the file with one.

    Lark runs it between its lexer and its parser; `Reader` does the same inline.
    """

    always_accept = ("_NL",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        """The tokens of `stream`, line ends joined."""
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


# Terminals `LineJoiner` counts; it drops line ends inside brackets.
_OPENS, _CLOSES, _ENDS_LINE = 1, 2, 3
_JOINER = {"LPAR": _OPENS, "LSQB": _OPENS, "RPAR": _CLOSES, "RSQB": _CLOSES}
_JOINER["_NL"] = _ENDS_LINE

# What a reduction does with the values it takes off the stack.
_KEEP = 0  # a `?rule` of one symbol: the value stays as it is
_EXTEND = 1  # `_list: _list item`: the item joins the list's node
_BUILD = 2  # anything else: filter, maybe inline, make a tree

_new_token = getattr(Token, "_future_new", Token)  # Token() without its checks


class _Scanner:
    """The contextual lexer's pattern for one parser state, blanks included.

    Lark matches every blank and comment as a token of its own and drops it;
    here the ignored terminals are skipped in front of each match instead. That
    reads the same tokens as long as no other terminal can start the way an
    ignored one does: in this grammar nothing else starts with a blank or `#`,
    and the tests compare both readers on generated policies.
    """

    __slots__ = ("match", "skip", "skipped_newlines", "groups")

    def __init__(self, lexer: Any) -> None:
        scanner = lexer.scanner  # builds lark's pattern and `lexer.callback`
        (pattern,) = scanner._mres
        ignored = "|".join(
            f"(?:{terminal.pattern.to_regexp()})"
            for terminal in lexer.terminals
            if terminal.name in lexer.ignore_types
        )
        skip = f"(?:{ignored})*+" if ignored else ""
        compiled = re.compile(f"{skip}(?:{pattern.pattern})", pattern.flags)
        # Typed loosely: a match always has a last group, and `skip` always
        # matches, if only the empty text.
        self.match: Callable[[str, int], Any] = compiled.match
        self.skip: Callable[[str, int], Any] = re.compile(skip, pattern.flags).match
        self.skipped_newlines = bool(lexer.newline_types & lexer.ignore_types)

        # Keywords that NAME also matches are read as NAME, then renamed.
        keywords = {
            type_: _plain_words(callback) for type_, callback in lexer.callback.items()
        }
        # By group number: the terminal, whether it may span lines, and the
        # keywords to rename it to.
        self.groups: list[tuple[str, bool, dict[str, str] | None] | None]
        self.groups = [None] * (compiled.groups + 1)
        for name, index in compiled.groupindex.items():
            self.groups[index] = (name, name in lexer.newline_types, keywords.get(name))


def _plain_words(callback: Any) -> dict[str, str]:
    """Word -> terminal, for the callback that renames keywords."""
    if type(callback) is not UnlessCallback:
        raise Unsupported(f"lexer callback {callback!r}")
    words = {}
    for terminal in callback.scanner.terminals:
        if terminal.pattern.type != "str" or terminal.pattern.flags:
            raise Unsupported(f"keyword pattern {terminal.pattern!r}")
        words[terminal.pattern.value] = terminal.name
    return words


class Unsupported(Exception):
    """The grammar uses something the reader does not reproduce."""


def _reduction(rule: Any) -> tuple[Any, ...]:
    """How lark's tree builder turns the values of one rule into a node."""
    expansion = rule.expansion
    origin = str.__str__(rule.origin.name)
    inline_one = bool(rule.options.expand1) and not rule.alias
    kept = [
        (index, not symbol.is_term and symbol.name.startswith("_"))
        for index, symbol in enumerate(expansion)
        if rule.options.keep_all_tokens or not (symbol.is_term and symbol.filter_out)
    ]
    if inline_one and len(expansion) == 1 and kept == [(0, False)]:
        return (_KEEP, 1, origin, None, None, True)
    # Lark builds a new node for each item of a `_list`, only to splice it into
    # the parent; growing the one node gives the parent the same children and
    # positions.
    if (
        origin.startswith("_")
        and not inline_one
        and expansion[0].name == rule.origin.name
        and kept[:1] == [(0, True)]
        and not any(expand for _, expand in kept[1:])
    ):
        return (_EXTEND, len(expansion), origin, None, tuple(kept[1:]), False)
    include = None
    if len(kept) < len(expansion) or any(expand for _, expand in kept):
        include = tuple(kept)
    name = rule.alias or rule.options.template_source or rule.origin.name
    return (_BUILD, len(expansion), origin, name, include, inline_one)


class Reader:
    """Parses texts without syntax errors into lark's exact tree, or gives up."""

    def __init__(self, lark: Lark) -> None:
        options = lark.options
        if (
            not _LARK_KNOWN
            or options.parser != "lalr"
            or options.lexer != "contextual"
            or type(options.postlex) is not LineJoiner
            or options.propagate_positions is not True
            or options.maybe_placeholders
            or options.transformer is not None
            or options.tree_class not in (None, Tree)
            or options.lexer_callbacks
            or options.regex
            or options.use_bytes
        ):
            raise Unsupported("the reader only follows lark's plain LALR trees")
        try:
            self._follow(lark)
        except (AttributeError, KeyError, TypeError, ValueError) as error:
            raise Unsupported(f"this lark is built differently: {error!r}") from error

    def _follow(self, lark: Lark) -> None:
        frontend = lark.parser
        lexer = frontend.lexer
        contextual = lexer.lexer if isinstance(lexer, PostLexConnector) else lexer
        self._lexers: dict[int, Any] = contextual.lexers
        self._scanners: dict[int, _Scanner] = {}
        self._by_lexer: dict[int, _Scanner] = {}  # the lexers live as long as self

        table = frontend.parser.parser.parse_table
        self._start: int = table.start_states["start"]
        self._end: int = table.end_states["start"]
        reductions: dict[Any, tuple[Any, ...]] = {}
        self._table: dict[int, dict[str, tuple[bool, Any]]] = {}
        for state, actions in table.states.items():
            row = {}
            for symbol, (action, argument) in actions.items():
                if action is Shift:
                    row[str.__str__(symbol)] = (True, argument)
                else:
                    if argument not in reductions:
                        reductions[argument] = _reduction(argument)
                    row[str.__str__(symbol)] = (False, reductions[argument])
            self._table[state] = row

    def _scanner(self, state: int) -> _Scanner:
        # States that accept the same terminals share one lexer, and so one
        # scanner.
        lexer = self._lexers[state]
        scanner = self._by_lexer.get(id(lexer))
        if scanner is None:
            try:
                scanner = _Scanner(lexer)
            except (AttributeError, TypeError, ValueError, re.error) as error:
                raise Unsupported(f"a lexer is built differently: {error!r}") from error
            self._by_lexer[id(lexer)] = scanner
        self._scanners[state] = scanner
        return scanner

    def read(self, text: str) -> Tree | None:
        """The syntax tree lark would build for `text`; None when lark would
        raise, or when the text needs something this reader does not do."""
        try:
            return self._read(text)
        except Unsupported as problem:
            log.debug("reading with lark instead: %s", problem)
        except Exception:  # the reader only saves time; lark reads what it cannot
            log.warning("the fast reader failed; lark reads the text", exc_info=True)
        return None

    def _read(self, text: str) -> Tree | None:
        table, scanners, end_state = self._table, self._scanners, self._end
        states: list[int] = [self._start]
        values: list[Any] = []
        pos, line, line_start, end = 0, 1, 0, len(text)
        depth = 0
        last: Token | None = None
        at_end = False
        meta: Any  # lark's tree builder gives its `Meta` more attributes than it types

        while True:
            # ---- the next token, as the contextual lexer and then the line
            # joiner hand it over
            if pos < end:
                state = states[-1]
                scanner = scanners.get(state) or self._scanner(state)
                found = scanner.match(text, pos)
                if found is None:
                    if scanner.skip(text, pos).end() != end:
                        return None
                    pos = end
                    continue
                group = found.lastindex
                type_, multiline, keywords = scanner.groups[group]
                start = found.start(group)
                stop = found.end()
                value = text[start:stop]
                if start != pos and scanner.skipped_newlines:
                    breaks = text.count("\n", pos, start)
                    if breaks:
                        line += breaks
                        line_start = text.rindex("\n", pos, start) + 1
                start_line, column = line, start - line_start + 1
                if multiline:
                    breaks = value.count("\n")
                    if breaks:
                        line += breaks
                        line_start = start + value.rindex("\n") + 1
                if keywords is not None:
                    type_ = keywords.get(value, type_)
                token = _new_token(
                    type_,
                    value,
                    start,
                    start_line,
                    column,
                    line,
                    stop - line_start + 1,
                    stop,
                )
                pos = stop
                joiner = _JOINER.get(type_)
                if joiner is not None:
                    if joiner == _OPENS:
                        depth += 1
                    elif joiner == _CLOSES:
                        depth = depth - 1 if depth else 0
                    elif depth:
                        continue
                last = token
            elif last is not None and last.type != "_NL":
                token = last = Token.new_borrow_pos("_NL", "\n", last)
                type_ = "_NL"
            else:
                type_, at_end = "$END", True

            # ---- the reductions this token completes, then its shift
            while True:
                action = table[states[-1]].get(type_)
                if action is None:
                    return None
                if action[0]:
                    if at_end:
                        return None
                    states.append(action[1])
                    values.append(token)
                    break

                kind, size, origin, name, include, inline_one = action[1]
                if kind == _KEEP:
                    del states[-1]
                    states.append(table[states[-1]][origin][1])
                    if at_end and states[-1] == end_state:
                        return values[-1] if type(values[-1]) is Tree else None
                    continue

                base = len(values) - size
                if kind == _EXTEND:
                    node = values[base]
                    for index, _ in include:
                        node.children.append(values[base + index])
                    meta = node.meta
                    _set_end(meta, values[-1])
                    meta.end_line = meta.container_end_line
                    meta.end_column = meta.container_end_column
                    meta.end_pos = meta.container_end_pos
                    del values[base + 1 :]
                    del states[-size:]
                    states.append(table[states[-1]][origin][1])
                    continue

                if include is None:
                    children = values[base:]
                else:
                    children = []
                    for index, expand in include:
                        if not expand:
                            children.append(values[base + index])
                        elif children:
                            children += values[base + index].children
                        else:  # a left-recursive list: take it over, not copy it
                            children = values[base + index].children
                if inline_one and len(children) == 1:
                    node = children[0]
                    if type(node) is Tree and size:
                        meta = node.meta
                        _set_start(meta, values[base])
                        _set_end(meta, values[-1])
                else:
                    meta = Meta()
                    node = Tree(name, children, meta)
                    if size:
                        _set_start(meta, values[base])
                        _set_end(meta, values[-1])
                        meta.line = meta.container_line
                        meta.column = meta.container_column
                        meta.start_pos = meta.container_start_pos
                        meta.end_line = meta.container_end_line
                        meta.end_column = meta.container_end_column
                        meta.end_pos = meta.container_end_pos
                        meta.empty = False
                if size:
                    del values[base:]
                    del states[-size:]
                values.append(node)
                states.append(table[states[-1]][origin][1])
                if at_end and states[-1] == end_state:
                    tree = values[-1]
                    return tree if type(tree) is Tree else None


def _set_start(meta: Any, first: Any) -> None:
    """Where all a rule's symbols start, inlined brackets and keywords included."""
    if type(first) is Token:
        meta.container_line = first.line
        meta.container_column = first.column
        meta.container_start_pos = first.start_pos
    else:
        inner = first.meta
        meta.container_line = inner.container_line
        meta.container_column = inner.container_column
        meta.container_start_pos = inner.container_start_pos


def _set_end(meta: Any, last: Any) -> None:
    """Where all a rule's symbols end, inlined brackets and keywords included."""
    if type(last) is Token:
        meta.container_end_line = last.end_line
        meta.container_end_column = last.end_column
        meta.container_end_pos = last.end_pos
    else:
        inner = last.meta
        meta.container_end_line = inner.container_end_line
        meta.container_end_column = inner.container_end_column
        meta.container_end_pos = inner.container_end_pos


__all__ = ["LineJoiner", "Reader", "Unsupported"]

"""The fast reader builds exactly lark's tree, and the kept parser is safe to use.

Lark's own parse is the reference: for every text the reader either builds the
same tree, tokens and positions included, or gives up where lark finds an
error, so that lark reports it.
"""

from __future__ import annotations

import logging
import os
import re
from importlib.resources import files
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedInput

from dunlang import check_text
from dunlang.parser import _parser, build_parser
from dunlang.reader import Reader

from .conftest import POLICIES, ROOT
from .test_properties import (
    CHEAP,
    POLICY_CHARACTERS,
    SETTINGS,
    TOKEN_SOUP,
    damaged_policies,
    policies,
)

GRAMMAR = files("dunlang").joinpath("dunlang.lark").read_text(encoding="utf-8")
LARK = _parser()
READER = Reader(LARK)

# Texts at the edges of the lexer and the line joiner.
EDGES = [
    "",
    "\n",
    "# only a comment",
    "  # only a comment\n\n   \n",
    'policy "P" version "1"',
    'policy "P" version "1"   # no line end after the comment',
    'policy "P" version "1"\r\n  currency EUR\r\n',
    '\n\n# before\npolicy "P" version "1"\n',
    'policy "P" version "1"\ngroup a when (claim.x = 1\n  # inside\n  or claim.y)\n',
    'policy "P" version "1"\ngroup a when claim.x in [1,\n 2, 3 days,\n]\n',
    'policy "P" version "1"\ngroup a when ((claim.x))\ngroup b otherwise',
    'policy "P" version "1"\ndunning a\n  a -> b after 3 days in state at\tend  of month',
    'policy "P" version "1"\ngroup order when customer.and_more or claim.notes\n',
    'policy "P" version "1"\ngroup a when claim.x >= 10 EURO\n',
    'policy "P" version "1"\ncalendar DE-NI\ncurrency CHF\ntimezone "UTC"\n',
    'policy "P" version "1"\ngroup a when (claim.x = 1\n',
    'policy "P" version "1"\ngroup a when claim.x = 1)\n',
    'policy "P" version "1"\ngroup a when claim.x == 1\n',
    'policy "P" version "1"\r',
    'policy "P" version "1"\n\tmeasure m = letter "a\nb"\n',
    'policy "P" version "1"\n  rounding 0.05\nsmall balance below 5 EUR write_off\n',
    'policy "P" version "1"\nsmall balance below 5 EUR write off\nafter hold continue',
    'policy "P" version "1"\nsmall balance below 5 EUR write_offs\n',
    'policy "P" version "1"\nafter hold wait 3 day\nafter 3 days\n',
    'policy "P" version "1"\nmeasure m = letters "a"\nmeasure n = write_offs cost 1 EUR\n',
    'policy "P" version "1"\nmeasure m = sms\nmeasure n = phone "a"\n',
    'policy "P" version "1"\nexclude when (claim.x\n or claim.y) because "r"\n',
    'policy "P" version "1"\ndunning a\n  a -> b afterr 3 days in state\n',
]


def flattened(tree: Tree, rule_names_as_text: bool = False) -> list[tuple[object, ...]]:
    """Every node and token of a tree in order, with all their fields.

    Lark names some rules with a token and others with plain text, and a parser
    read back from its cache names them all with text; `rule_names_as_text`
    leaves that difference out.
    """
    out: list[tuple[object, ...]] = []
    stack: list[Tree | Token] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, Tree):
            meta = sorted(vars(node.meta).items())
            data = str.__str__(node.data) if rule_names_as_text else node.data
            kind = type(data)
            out.append(("tree", data, kind, len(node.children), meta))
            stack.extend(reversed(node.children))
        else:
            out.append(("token", *(getattr(node, name) for name in Token.__slots__)))
    return out


def assert_reads_like_lark(text: str, parser: Lark = LARK) -> None:
    """The reader builds lark's tree for `text`, or gives up where lark fails."""
    reader = READER if parser is LARK else Reader(parser)
    try:
        expected = parser.parse(text)
    except UnexpectedInput:
        assert reader.read(text) is None
        return
    tree = reader.read(text)
    assert tree is not None
    assert flattened(tree) == flattened(expected)


def documented_policies() -> list[str]:
    """The policy examples of the documentation, broken ones included."""
    texts = []
    for page in sorted((ROOT / "docs").glob("*.md")):
        texts += re.findall(r"```dun\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
    return texts


def error_of(parser: Lark, text: str) -> tuple[object, ...]:
    """What lark says about a text with a syntax error."""
    with pytest.raises(UnexpectedInput) as raised:
        parser.parse(text)
    error = raised.value
    expected = sorted(getattr(error, "expected", None) or ())
    return (type(error), error.line, error.column, expected, str(error))


# ---- the reader -------------------------------------------------------------------


def test_reader_follows_the_shipped_parser() -> None:
    """The shipped grammar is one the reader can follow, so loading is fast."""
    assert READER.read('policy "P" version "1"\n') is not None


@pytest.mark.parametrize(
    "path", sorted(POLICIES.glob("*.dun")), ids=lambda path: path.name
)
def test_reader_builds_lark_tree_for_shipped_policies(path: Path) -> None:
    """Each shipped policy reads into lark's tree, positions included."""
    text = path.read_text(encoding="utf-8")
    assert READER.read(text) is not None
    assert_reads_like_lark(text)


def test_reader_follows_lark_on_documented_examples() -> None:
    """Every example in the docs, broken or fixed, reads as lark reads it."""
    examples = documented_policies()
    assert len(examples) > 50
    for text in examples:
        assert_reads_like_lark(text)


@pytest.mark.parametrize("text", EDGES)
def test_reader_follows_lark_at_the_edges(text: str) -> None:
    """Blank files, comments, line ends in brackets, keywords in names, errors."""
    assert_reads_like_lark(text)


@SETTINGS
@given(policies())
def test_reader_builds_lark_tree_for_generated_policies(policy: object) -> None:
    """Random valid policies, random layout and comments, read as lark reads them."""
    assert_reads_like_lark(policy.text)  # type: ignore[attr-defined]


@CHEAP
@given(st.one_of(damaged_policies(), POLICY_CHARACTERS, TOKEN_SOUP))
def test_reader_gives_up_exactly_where_lark_fails(text: str) -> None:
    """Damaged policies and random words: the same tree, or no tree and an error."""
    assert_reads_like_lark(text)


def test_stumbling_reader_leaves_the_text_to_lark(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Should the reader fail, loading takes longer but gives the same result."""
    text = (POLICIES / "de-b2b-trade.dun").read_text(encoding="utf-8")
    expected = check_text(text, "trade.dun")

    def stumble(reader: Reader, text: str) -> None:
        raise IndexError("a mistake in the reader")

    monkeypatch.setattr(Reader, "_read", stumble)
    with caplog.at_level(logging.WARNING, logger="dunlang.reader"):
        result = check_text(text, "trade.dun")

    assert result == expected
    assert "the fast reader failed" in caplog.text


# ---- the kept parser ----------------------------------------------------------------


def kept_file(directory: Path) -> Path:
    """The one file the parser is kept in."""
    (file,) = directory.iterdir()
    return file


def test_kept_parser_is_read_back_and_parses_alike(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A parser kept in the cache gives the trees and errors of a built one."""
    built = build_parser(GRAMMAR, tmp_path)
    with caplog.at_level(logging.DEBUG, logger="dunlang.parser"):
        kept = build_parser(GRAMMAR, tmp_path)

    assert "parser read from" in caplog.text
    for path in sorted(POLICIES.glob("*.dun")):
        text = path.read_text(encoding="utf-8")
        assert flattened(kept.parse(text), rule_names_as_text=True) == flattened(
            built.parse(text), rule_names_as_text=True
        )
        assert_reads_like_lark(text, kept)
    broken = 'policy "P" version "1"\ngroup a when claim.x = = 1\n'
    assert error_of(kept, broken) == error_of(built, broken)


def test_outdated_cache_is_replaced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A parser kept for another grammar is not used; the new one takes its place."""
    build_parser(GRAMMAR + "\nEXTRA: /extra/\n", tmp_path)
    outdated = kept_file(tmp_path).read_bytes()

    parser = build_parser(GRAMMAR, tmp_path)
    with caplog.at_level(logging.DEBUG, logger="dunlang.parser"):
        build_parser(GRAMMAR, tmp_path)

    assert parser.parse('policy "P" version "1"\n').data == "start"
    assert kept_file(tmp_path).read_bytes() != outdated
    assert "parser read from" in caplog.text


@pytest.mark.parametrize("damage", ["cut", "garbage", "empty"])
def test_damaged_cache_is_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    """A cut or overwritten cache file is not read, and is written whole again."""
    build_parser(GRAMMAR, tmp_path)
    file = kept_file(tmp_path)
    whole = file.read_bytes()
    damaged = {"cut": whole[: len(whole) // 2], "garbage": b"x" * 100, "empty": b""}
    file.write_bytes(damaged[damage])

    parser = build_parser(GRAMMAR, tmp_path)
    with caplog.at_level(logging.DEBUG, logger="dunlang.parser"):
        build_parser(GRAMMAR, tmp_path)

    assert_reads_like_lark('policy "P" version "1"\n  currency EUR\n', parser)
    assert "parser read from" in caplog.text


def test_unwritable_cache_is_no_error(tmp_path: Path) -> None:
    """A cache directory that cannot be made only means building each time."""
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the directory should be", encoding="utf-8")

    parser = build_parser(GRAMMAR, blocked / "dunning")

    assert parser.parse('policy "P" version "1"\n').data == "start"
    assert list(tmp_path.iterdir()) == [blocked]


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="file owners are POSIX")
def test_cache_that_others_may_write_is_not_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Reading a kept parser runs code, so a file others may write is left alone."""
    build_parser(GRAMMAR, tmp_path)
    kept_file(tmp_path).chmod(0o666)

    with caplog.at_level(logging.DEBUG, logger="dunlang.parser"):
        parser = build_parser(GRAMMAR, tmp_path)

    assert "others may write it" in caplog.text
    assert parser.parse('policy "P" version "1"\n').data == "start"

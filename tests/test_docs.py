"""The documentation's code examples run as written."""

from __future__ import annotations

import re

from .conftest import ROOT


def python_blocks(name: str) -> list[str]:
    """The ```python blocks of a document in docs/."""
    text = (ROOT / "docs" / name).read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_the_api_example_runs() -> None:
    """The complete example in docs/api.md runs and its own asserts hold."""
    blocks = python_blocks("api.md")
    assert blocks, "docs/api.md has no python example"
    exec(compile(blocks[0], "docs/api.md", "exec"), {})

"""A page stays a few lines built from components (``gui.components``), as NiceGUI's own
examples keep theirs: a page function that grows past ``PAGE_LINES`` fails here."""

from __future__ import annotations

import ast
from pathlib import Path

PAGES = Path(__file__).resolve().parents[2] / "gui" / "pages"
PAGE_LINES = 40


def page_functions() -> dict[str, int]:
    """Each function decorated with ``@page(...)``: its lines, decorator included."""
    found = {}
    for path in sorted(PAGES.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
                isinstance(d, ast.Call) and getattr(d.func, "id", "") == "page"
                for d in node.decorator_list
            ):
                first = min(d.lineno for d in node.decorator_list)
                found[f"{path.name}:{node.name}"] = node.end_lineno - first + 1
    return found


def test_every_page_function_is_at_most_forty_lines():
    found = page_functions()
    assert len(found) >= 6, found  # dashboard, world, a service, drift, actions, events
    too_long = {name: lines for name, lines in found.items() if lines > PAGE_LINES}
    assert too_long == {}, f"split these into components (gui/components): {too_long}"

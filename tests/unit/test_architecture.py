"""The core stays platform-neutral: nothing under bot/ imports a platform library or an adapter."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "bot"
FORBIDDEN = ("discord", "slack_bolt", "slack_sdk", "adapters")


def imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


CORE_FILES = sorted(CORE.rglob("*.py"))


def test_the_core_has_modules() -> None:
    assert len(CORE_FILES) > 20


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(CORE.parent)))
def test_core_module_imports_no_platform(path: Path) -> None:
    bad = [m for m in imported_modules(path) if m.split(".")[0] in FORBIDDEN]
    assert not bad, f"{path.relative_to(CORE.parent)} imports {bad}"

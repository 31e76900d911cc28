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


def _commands() -> set[type]:
    from bot.domain import commands as c

    # the module's own classes: a slots dataclass replaces the class it decorates, so __subclasses__
    # can still list the replaced ones
    return {v for v in vars(c).values() if isinstance(v, type) and issubclass(v, c.Command) and v is not c.Command}


def test_every_command_has_one_handler_and_every_handler_is_in_bot_handlers() -> None:
    from bot.handlers import HANDLERS

    assert set(HANDLERS) == _commands()
    outside = {cmd.__name__: h.__module__ for cmd, h in HANDLERS.items() if not h.__module__.startswith("bot.handlers.")}
    assert outside == {}


def test_the_core_keeps_its_top_level_small() -> None:
    """The application's own modules at bot/'s top level; everything else lives in a room (a package)."""
    top = sorted(p.name for p in CORE.glob("*.py"))
    assert len(top) <= 10, top

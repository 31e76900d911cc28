"""Every table and every text column is in the erasure registry (bot/privacy/registry.py): listed as
holding a member's id, words or text made from them, or declared free of member data with a reason;
and every table that holds member data has an erasure step. A table added later (precedents, say)
fails here until someone decides where a member's data can be in it and how erasure reaches it."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from sqlalchemy import Column, Integer, MetaData, Table, Text
from sqlalchemy.types import String
from sqlmodel import SQLModel

import adapters
import bot
import storage
from bot.privacy.erasure import STEPS
from bot.privacy.registry import EVERYWHERE_FREE, TABLES, Holds
from tests.privacy.support import texty_column


def _import_everything() -> None:
    """Every module of the project, so every table any of them declares is on SQLModel.metadata."""
    for package in (bot, storage, adapters):
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if ".migrations" not in info.name:
                importlib.import_module(info.name)


def text_columns(table: Table) -> set[str]:
    """Columns that can hold text: strings of any kind, JSON, bytes, and any type not known to be otherwise."""

    return {c.name for c in table.columns if texty_column(c)}


def problems(metadata: MetaData, registry: dict[str, Holds] | Any) -> list[str]:
    out: list[str] = []
    for name, table in sorted(metadata.tables.items()):
        holds = registry.get(name)
        if holds is None:
            out.append(f"table {name} is not in bot/privacy/registry.py: say which columns can hold a member's data")
            continue
        classified = holds.personal | set(holds.free) | set(EVERYWHERE_FREE)
        for column in sorted(text_columns(table) - classified):
            out.append(f"{name}.{column} holds text: list it as ids, words or derived, or declare it free (and why)")
        for column in sorted((holds.personal | set(holds.free)) - {c.name for c in table.columns}):
            out.append(f"{name}.{column} is listed but the table has no such column")
    for name in sorted(set(registry) - set(metadata.tables)):
        out.append(f"{name} is listed but no table has that name")
    return out


def test_every_text_column_of_every_table_is_listed_or_declared_free() -> None:
    _import_everything()
    assert problems(SQLModel.metadata, TABLES) == []


def test_every_table_holding_member_data_has_an_erasure_step() -> None:
    holding = {name for name, holds in TABLES.items() if holds.personal}
    assert sorted(holding - set(STEPS)) == [], "tables whose member data erasure would miss"
    assert sorted(set(STEPS) - holding) == [], "erasure steps for tables the registry says hold nothing"


def test_a_table_added_later_is_caught() -> None:
    """As the precedent tables would be: answers kept as 'answers like this', a free-text column."""
    metadata = MetaData()
    columns = (Column("id", Integer, primary_key=True), Column("community", String(128)), Column("answer", Text))
    Table("precedent", metadata, *columns)
    missing = "table precedent is not in bot/privacy/registry.py: say which columns can hold a member's data"
    assert problems(metadata, {}) == [missing]
    assert problems(metadata, {"precedent": Holds()}) == [
        "precedent.answer holds text: list it as ids, words or derived, or declare it free (and why)"
    ]
    assert problems(metadata, {"precedent": Holds(derived=("answer",))}) == []
    assert problems(metadata, {"precedent": Holds(derived=("answer", "author"))}) == [
        "precedent.author is listed but the table has no such column"
    ]

"""What an erased record looks like, for the code that must leave it out (exports, drafting,
previews): a scenario whose author erased it keeps its id but holds one placeholder turn; an
erased candidate has no text."""

from __future__ import annotations

from bot.domain.model import ERASED_TEXT, Turn
from bot.domain.turns import turns_json
from storage.tables import ScenarioRow

ERASED_SCENARIO = turns_json((Turn("user", ERASED_TEXT),))


def scenario_erased(row: ScenarioRow) -> bool:
    return row.turns_json == ERASED_SCENARIO

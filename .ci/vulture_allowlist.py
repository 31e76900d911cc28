"""Names vulture cannot see used, each for a reason: libraries read them, or they are columns and
fields kept for the record (read back by people, by SQL and by exports), not by our code.
`vulture` (configured in pyproject.toml) reads this file beside the code."""

from types import SimpleNamespace

from bot.analysis.pipeline import RoundAnalysis, RoundInput
from bot.export.derive import MemberPlan
from storage import tables

# columns written for the record: who changed a setting and when, when a figure was computed,
# the detail of a tally, the identity of a reminder that was sent
tables.TallyRow.detail_json
tables.DiscordGuildSettingsRow.updated_by
tables.DiscordGuildSettingsRow.updated_at
tables.DiversityRow.computed_at
tables.StressCaseRow.proposed_at
tables.StressCaseRow.accepted_by
tables.ReminderSentRow.offset_seconds
tables.ReminderSentRow.deadline_epoch
tables.ReminderSentRow.sent_at
tables.MemberPrivacyRow.updated_at
tables.CommunityExportSettingsRow.updated_by
tables.CommunityExportSettingsRow.updated_at
tables.RoundAnalysisRow.computed_at
tables.DiscordCommandScopeRow.synced_at
tables.PrecedentRoundRow.recorded_at  # precedents: when a round's precedents were recorded

# fields of results kept for callers and tests that read them
RoundInput.scenario_titles
RoundAnalysis.notes
MemberPlan.members_seen

# attributes the tokenizers and transformers libraries read: the tiny tokenizer of the TRL export tests
_tokenizer = SimpleNamespace()
_tokenizer.pre_tokenizer
_tokenizer.chat_template

"""The dataset card (README.md) of an export bundle: its YAML header, which `datasets` reads (one config
per format with its files, features and row count, and a default config), and the text: what was
asked, under which policy versions and clauses, with which models and sampling settings, when, how
much (every count matches a file), who was left out and why, the licence, and the known limitations.

`datasets` picks one file reader for all the configs of a card (from the first config's files), so a
card declares JSON Lines configs or Parquet configs, never both: the bundle's README.md declares the
JSON Lines files (or the Parquet ones when only Parquet was written), and parquet/README.md, written
when both were, declares the Parquet files under the same config names."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyarrow as pa
import yaml

from bot.export.context import Context
from bot.export.formats import FORMATS, PARQUET_DIR
from bot.export.writers import Output

K_NOTE = "values held by fewer than k members are folded into 'suppressed'"
DEFAULT_ORDER = (
    "trl",
    "trl-standard",
    "kto",
    "community-alignment",
    "openai",
    "events",
    "amendments",
    "precedents",
    "precedent-checks",
    "openai-provenance",
)


@dataclass
class CardFacts:
    """Everything the card says besides the context, gathered while the files were written."""

    outputs: list[Output]
    counts: dict[str, int]
    exclusions: dict[str, Any]
    reactions: dict[str, int]  # the reconciliation of reaction events
    group_sizes: Mapping[int, Mapping[int, int]]
    attributes: Mapping[str, Mapping[str, int]]
    k: int
    now: datetime
    system_prompt: bool
    not_written: dict[str, str] = field(default_factory=dict)
    openai: dict[str, int] = field(default_factory=dict)
    polis_unvoted: dict[str, int] = field(default_factory=dict)
    long_conversations: int = 0


def hf_licence(licence: str) -> str:
    lid = licence.strip().lower()
    return (
        lid
        if re.fullmatch(r"(cc-by(-sa|-nc|-nd|-nc-sa|-nc-nd)?-4\.0|cc0-1\.0|odc-by|odbl|pddl|mit|apache-2\.0)", lid)
        else "other"
    )


def features(schema: pa.Schema | pa.StructType) -> list[dict[str, Any]]:
    """Arrow fields as the `features` list of a dataset card (the YAML form `datasets` reads)."""
    return [{"name": f.name, **_feature(f.type)} for f in schema]


def _feature(t: pa.DataType) -> dict[str, Any]:
    if pa.types.is_struct(t):
        return {"struct": features(t)}
    if pa.types.is_list(t):
        inner = _feature(t.value_type)
        return {"list": inner["dtype"] if set(inner) == {"dtype"} else inner.get("struct", inner)}
    if pa.types.is_null(t):
        return {"dtype": "null"}
    return {"dtype": str(t)}


def _default(names: Iterable[str]) -> str:
    present = list(names)
    return next((n for n in DEFAULT_ORDER if n in present), present[0])


def card_header(ctx: Context, configs: list[Output], relative_to: str = "") -> str:
    """The YAML header: licence, name, and one config per file `datasets` loads (paths relative to
    the card), the default marked, with features and row counts."""
    licence = ctx.privacy.licence
    policies = sorted({f"{r.policy} v{r.version}" for r in ctx.rounds.values()})
    head: dict[str, Any] = {"license": hf_licence(licence)}
    if head["license"] == "other":
        head["license_name"] = licence
    head["pretty_name"] = f"policybot export: {', '.join(policies)}"
    head["tags"] = ["preference", "human-feedback", "policy-prototyping"]
    if configs:
        default = _default(o.config for o in configs)
        head["configs"] = [
            {
                "config_name": o.config,
                "data_files": [{"split": "train", "path": o.path.removeprefix(relative_to)}],
                **({"default": True} if o.config == default else {}),
            }
            for o in configs
        ]
        head["dataset_info"] = [
            {
                "config_name": o.config,
                "features": features(o.schema) if o.schema is not None else [],
                "splits": [{"name": "train", "num_bytes": o.bytes or 0, "num_examples": o.rows}],
            }
            for o in configs
        ]
    return "---\n" + str(yaml.safe_dump(head, sort_keys=False, allow_unicode=True, width=1000)) + "---\n"


def loadable(outputs: list[Output], *, parquet: bool) -> list[Output]:
    """The files a config of the card declares: `datasets` cannot load a config with no rows, so an
    empty file (a format with nothing to export in this scope) is listed, but not declared."""
    return [o for o in outputs if o.config and o.rows and o.path.endswith(".parquet") == parquet]


def parquet_card(ctx: Context, outputs: list[Output]) -> str:
    configs = loadable(outputs, parquet=True)
    body = [
        "",
        "# policybot export: Parquet files",
        "",
        "The same data as the JSON Lines files one folder up, as Parquet, under the same config names:",
        "`datasets.load_dataset(<bundle>/parquet, name)`. The dataset card one folder up describes it all.",
        "",
    ]
    return card_header(ctx, configs, f"{PARQUET_DIR}/") + "\n".join(body)


def _date(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def _cut(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _intro(ctx: Context, f: CardFacts, policies: list[str], root_configs: list[Output]) -> list[str]:
    lines = [
        f"# policybot export: {', '.join(policies)}",
        "",
        "Preference data produced by a community drafting the policy (a constitution of numbered clauses) that an",
        "LLM follows, by *policy prototyping*: the bot showed what a model answers under the draft, members reacted",
        "(endorse, object, pass, best of the scenario), proposed amendments and voted on them.",
        "",
        f"- Scope: {ctx.scope.what()} of community `{ctx.scope.community}` on {ctx.platform}",
        f"- Generated: {_date(f.now)}",
        f"- Licence chosen by the community: **{ctx.privacy.licence}**",
        "- Annotators are pseudonymous: `annotator_id` is a keyed hash (HMAC-SHA256) of platform, community and member id",
        "  with the deployment's secret; it is stable across exports of this deployment and never the platform id.",
    ]
    if root_configs:
        default = _default(o.config for o in root_configs)
        lines.append(
            f"- Load with `datasets.load_dataset(<bundle directory>)` (config `{default}`) or "
            f"`load_dataset(<bundle directory>, name)` for: {', '.join(f'`{o.config}`' for o in root_configs)}."
        )
    if any(o.config and o.path.startswith(f"{PARQUET_DIR}/") for o in f.outputs) and any(
        o.path.endswith(".jsonl") for o in f.outputs
    ):
        lines.append(f"- The same configs as Parquet: `load_dataset(<bundle directory>/{PARQUET_DIR}, name)`.")
    if f.system_prompt:
        lines.append(
            "- Prompts carry the policy: the TRL, KTO and OpenAI prompts start with the system message the candidates"
            " answer under (the policy version's clauses, or the amended clauses for a preview)."
        )
    else:
        lines.append(
            "- Prompts are the scenarios' turns only; the policy each candidate answered under is in the provenance"
            " (`policy`, `policy_version`, `clause_ids`, `amendment_id`) and below. Export with `--policy-prompt` to put it"
            " into the prompts as their system message."
        )
    return [*lines, ""]


def _counts(f: CardFacts) -> list[str]:
    rows = {o.path: o for o in f.outputs}
    lines = [
        "## Counts",
        "",
        "Every count matches the file named beside it.",
        "",
        "| what | count | file |",
        "| --- | ---: | --- |",
    ]
    for name, value, where in _count_rows(f, rows):
        lines.append(f"| {name} | {value:,} | {where} |")
    return [*lines, ""]


def _file(rows: Mapping[str, Output], *paths: str) -> str:
    present = [p for p in paths if p in rows]
    return ", ".join(f"`{p}`" for p in present) or "—"


def _count_rows(f: CardFacts, rows: Mapping[str, Output]) -> list[tuple[str, int, str]]:
    c = f.counts
    trl = _file(rows, "trl_preference.jsonl", "trl_preference_standard.jsonl", "parquet/trl_preference.parquet")
    kto = _file(rows, "trl_unpaired.jsonl", "parquet/trl_unpaired.parquet")
    ca = _file(rows, "community_alignment.jsonl", "parquet/community_alignment.parquet")
    out = [
        ("rounds", c["rounds"], "—"),
        ("scenarios (round × scenario)", c["scenarios"], "—"),
        ("candidates exported", c["candidates"], _file(rows, "polis/comments.csv")),
        ("annotators exported", c["annotators"], _file(rows, "polis/participant-annotators.csv")),
        ("current stances (endorse, object, pass)", c["current_stances"], _file(rows, "polis/votes.csv")),
        ("best picks", c["best_picks"], "—"),
        ("comparisons (one row per member and pair)", c["comparisons"], trl),
        ("… from best picks", c["comparisons_from_best_picks"], trl),
        ("… from endorse over object", c["comparisons_from_stances"], trl),
    ]
    if "unpaired_endorse" in c:
        out += [("unpaired rows, endorse (label true)", c["unpaired_endorse"], kto)]
        out += [("unpaired rows, object (label false)", c["unpaired_object"], kto)]
    if "community_alignment_rows" in c:
        out += [("Community Alignment rows (member × scenario)", c["community_alignment_rows"], ca)]
        out += [("… with a best pick", c["community_alignment_rows_with_best_pick"], ca)]
    for key in ("reaction_events", "ballot_events", "amendments"):
        if key in c:
            where = _file(rows, "events.jsonl", "parquet/events.parquet") if key != "amendments" else "`amendments.*`"
            out.append((key.replace("_", " ") + " exported", c[key], where))
    if "precedents" in c:
        out.append(("precedents recorded by these rounds", c["precedents"], "`precedents.*`"))
    if "precedent_checks" in c:
        out.append(("precedent checks made in these rounds", c["precedent_checks"], "`precedent_checks.*`"))
        out.append(("… not checked (the model or the judge failed)", c["precedent_checks_not_checked"], "`precedent_checks.*`"))
    return out


def _reactions(f: CardFacts) -> list[str]:
    r = f.reactions
    lines = [
        "## Reaction events: what was recorded and what is exported",
        "",
        f"- recorded and still held: {r['held']:,}",
        f"- − of members who opted out of exports: {r['opted_out']:,}",
        f"- − of members without consent where the community requires it: {r['no_consent']:,}",
        f"- − on candidates left out (a member-written response whose author opted out, has not consented or erased"
        f" it; an answer to a scenario or amendment its author erased): {r['on_withheld']:,}",
        f"- = exported: {r['exported']:,} (the reaction rows of the event log)",
        f"- Not counted above: events erased by their members ({r['erased']:,} events from"
        f" {f.exclusions['erased_members']:,} members who erased their data); erasure deletes them.",
        "",
        "Current stances, best picks and comparisons are derived from the exported events: a member's latest",
        "reaction on a candidate is her stance, a removed reaction counts for nothing, and a reason belongs to the",
        "reaction it was given with (a stance's `feedback` is the reason of that stance; a best pick's, of the pick).",
        "",
    ]
    return lines


def _exclusions(ctx: Context, f: CardFacts) -> list[str]:
    e = f.exclusions
    required = "yes" if ctx.privacy.consent_required else "no"
    withheld = e["candidates"]["opted_out"] + e["candidates"]["no_consent"]
    lines = [
        "## Exclusions",
        "",
        f"- Members opted out of exports: {e['members']['opted_out']:,}",
        f"- Members without consent where the community requires it (required: {required}): {e['members']['no_consent']:,}",
        f"- Members who erased their data in this community (no longer held, so not exported): {e['erased_members']:,}",
        f"- Member-written responses left out: {withheld:,} (author opted out or has not consented),"
        f" {e['candidates']['erased']:,} erased by their author",
        f"- Candidates left out with the scenario or amendment they answered, erased by its author:"
        f" {e['candidates']['source_erased']:,}",
        "- Member-written responses that are exported carry no author: no file links a response to the annotator id,",
        "  the participant number or the other responses of the member who wrote it.",
    ]
    for name, why in f.not_written.items():
        lines.append(f"- `{name}` was asked for but not written: {why}")
    return [*lines, ""]


def _candidates_line(ctx: Context, round_id: int) -> str:
    """What members were shown, counted from the exported candidates (not from the round's k)."""
    groups = [g for g in ctx.groups if g.round_id == round_id]
    parts: list[str] = []
    for label, chosen in (
        ("under the policy version", [g for g in groups if g.amendment_id == 0]),
        ("in previews under an amendment", [g for g in groups if g.amendment_id != 0]),
    ):
        sizes = Counter(sum(ctx.candidates[c].author_kind == "model" for c in g.candidate_ids) for g in chosen)
        parts += [f"{n} model candidates for {k} scenario{'s' if k != 1 else ''} {label}" for n, k in sorted(sizes.items())]
    text = "Shown: " + ("; ".join(parts) or "no candidates")
    written = [sum(ctx.candidates[c].author_kind != "model" for c in g.candidate_ids) for g in groups]
    with_written = sum(1 for n in written if n)
    if with_written:
        text += f"; besides them, {sum(written)} member-written response(s) in {with_written} scenario(s)"
    return text + "."


def _rounds(ctx: Context, f: CardFacts) -> list[str]:
    lines = ["## Rounds, policy versions and clauses", ""]
    for r in sorted(ctx.rounds.values(), key=lambda x: x.id):
        lines += [
            f"### Round {r.id}: {r.policy} v{r.version} ({r.phase})",
            "",
            f"Opened {_date(r.opened_at)}, closed {_date(r.closed_at)}; the round asked the model for k = {r.k} candidates.",
            _candidates_line(ctx, r.id),
            "",
        ]
        lines += [f"- `{c.key}`: {_cut(c.text)}" for c in r.clauses]
        lines += ["", "What was asked (scenarios):", ""]
        seen: set[int] = set()
        for g in ctx.groups:
            if g.round_id == r.id and g.scenario_id not in seen:
                seen.add(g.scenario_id)
                lines.append(f"- scenario {g.scenario_id}: {_cut(' / '.join(f'{t.role}: {t.content}' for t in g.turns))}")
        sizes = f.group_sizes.get(r.id)
        if sizes:
            lines += ["", "Opinion groups (exported members): " + ", ".join(f"group {g}: {n}" for g, n in sorted(sizes.items()))]
        tallies = [t for t in ctx.tallies if t["round_id"] == r.id]
        if tallies:
            lines += ["", "Published vote totals (totals only, as announced; texts in `amendments.*`):", ""]
            lines += [
                f"- amendment {t['amendment_id']}: {t['yes']} yes, {t['no']} no, {t['abstain']} abstain"
                f" — {'adopted' if t['adopted'] else 'not adopted'}"
                for t in tallies
            ]
        lines.append("")
    return lines


def _models(ctx: Context) -> list[str]:
    lines = ["## Models and sampling settings", "", "| author | model | method | temperature | prompt version | candidates |"]
    lines.append("| --- | --- | --- | ---: | --- | ---: |")
    combos = Counter((c.author_kind, c.model, c.method, c.temperature, c.prompt_version) for c in ctx.candidates.values())
    for (kind, model, method, temp, pv), n in sorted(combos.items(), key=lambda kv: str(kv[0])):
        lines.append(f"| {kind} | {model or '—'} | {method or '—'} | {'—' if temp is None else temp} | {pv or '—'} | {n} |")
    return [*lines, "", "Each row also carries the full settings of each candidate in its `*sampling` field (JSON).", ""]


def _attributes(f: CardFacts) -> list[str]:
    lines = ["## Self-described attributes (aggregate only)", ""]
    if f.attributes:
        lines += [f"Given only by members who consented; k = {f.k}: {K_NOTE}.", ""]
        for name, values in f.attributes.items():
            lines.append(f"- {name}: " + ", ".join(f"{v}: {n}" for v, n in values.items()))
    else:
        lines.append("No exported member has given attributes.")
    return [*lines, ""]


def _formats(f: CardFacts) -> list[str]:
    lines = ["## Files", "", "| file | format | rows |", "| --- | --- | ---: |"]
    lines += [f"| `{o.path}` | {o.format} | {o.rows:,} |" for o in f.outputs]
    empty = sorted({o.config for o in f.outputs if o.config and not o.rows})
    if empty:
        lines += ["", f"Written but empty in this scope, so not declared as configs: {', '.join(f'`{c}`' for c in empty)}."]
    lines += ["", "Checksums (SHA-256) of every file are in `manifest.json`.", "", "Formats:", ""]
    lines += [f"- `{name}`: {text}" for name, text in FORMATS.items() if name not in f.not_written]
    lines += [
        "",
        "Notes on the formats:",
        "",
        "- TRL standard form renders a conversation as `User: …` / `Assistant: …` turns separated by a blank line and",
        "  ending with `Assistant:`; every completion starts with a space, as in TRL's own examples.",
        "- Community Alignment rows use the published dataset's columns, in its order, then this project's provenance.",
        "  A scenario's last exchange holds the candidates (`candidates_turn`); earlier scripted exchanges fill the",
        "  turns before it with their one answer as `response_a`. `response_a`…`_d` are the first four model",
        "  candidates; any other candidate shown (more than four, or member-written) is in `additional_responses`",
        "  and, when it was the best pick, the preferred response is null and `preferred_candidate_id` names it.",
        "  `*_feedback` is the reason given with the best pick; `is_pregenerated_first_prompt` is always true;",
        "  `assigned_lang`, education level, political leaning and ethnicity are not collected (null).",
    ]
    if f.long_conversations:
        lines.append(f"  {f.long_conversations:,} scenario(s) have more than four exchanges: their rows keep the last four.")
    return [*lines, *_openai(f), *_polis(f), ""]


def _openai(f: CardFacts) -> list[str]:
    o = f.openai
    if not o:
        return []
    return [
        f"- OpenAI preference lines: {o['lines']:,} (one per prompt and pair of outputs, pooled over members, in the",
        f"  majority's direction): {o['unanimous']:,} unanimous, {o['majority']:,} by a majority over a dissent;",
        f"  dropped: {o['ties']:,} ties (as many members each way), {o['conflicts']:,} conflicts (both outputs the same text).",
        f"  {o['with_context']:,} lines carry earlier turns of the scenario as context: OpenAI trains on one turn per",
        "  example, the final assistant message, which is always the preferred / non-preferred output here.",
    ]


def _polis(f: CardFacts) -> list[str]:
    u = f.polis_unvoted
    if not u:
        return []
    return [
        f"- Polis comments nobody voted on: {u['preview']:,} preview candidates (posted under a proposed amendment when",
        f"  the vote opens) and {u['policy_version']:,} others; their columns in `participants-votes.csv` are empty.",
        "  Member-written responses have author-ids above every participant's, one per response.",
    ]


LIMITATIONS = [
    "## Known limitations",
    "",
    "- Pairwise comparisons are derived, not asked: the best pick of a scenario is preferred over each other",
    "  candidate of that scenario, and an endorsed candidate over an objected one (unless the member's best pick",
    "  says the reverse). Pairs from one member are not independent.",
    "- Members chose which candidates to react to; coverage is uneven and not random.",
    "- Free-text reasons and member-written responses are exported as their authors wrote them (unless erased or",
    "  opted out); they may contain anything a member chose to write. The event log keeps each reason with its own",
    "  event, also of reactions taken back later; feedback columns only carry the reasons of current reactions.",
    "- Members are self-selected; they are not a sample of any population. Attributes are self-described,",
    "  optional, and shown only in aggregate.",
    "- `amendment_id` 0 marks candidates generated under the policy version itself; other values are previews",
    "  under a proposed amendment (its text is in `amendments.*`).",
    "- Ballots appear in the event log only for rounds whose vote is over; vote totals are as published.",
    "- Erasure removes a member's reactions, ballots and words from the bot, with the scenarios she wrote and the",
    "  model's answers to them (left out of this export and counted above); copies exported before the erasure",
    "  are outside the bot's reach.",
    "",
]


def dataset_card(ctx: Context, f: CardFacts) -> str:
    policies = sorted({f"{r.policy} v{r.version}" for r in ctx.rounds.values()})
    jsonl = loadable(f.outputs, parquet=False)
    root_configs = jsonl or loadable(f.outputs, parquet=True)
    lines = [
        "",
        *_intro(ctx, f, policies, root_configs),
        *_counts(f),
        *_reactions(f),
        *_exclusions(ctx, f),
        *_rounds(ctx, f),
        *_models(ctx),
        *_attributes(f),
        *_formats(f),
        *LIMITATIONS,
    ]
    return card_header(ctx, root_configs) + "\n".join(lines)

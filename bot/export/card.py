"""The dataset card (README.md) of an export bundle: what was asked, under which policy versions and
clauses, with which models and sampling settings, when, how much, who was left out and why, the
licence chosen by the community, and the known limitations."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.export.context import Context
from bot.export.formats import FORMATS
from bot.export.writers import Output

K_NOTE = "values held by fewer than k members are folded into 'suppressed'"


def _hf_licence(licence: str) -> str:
    lid = licence.strip().lower()
    return (
        lid
        if re.fullmatch(r"(cc-by(-sa|-nc|-nd|-nc-sa|-nc-nd)?-4\.0|cc0-1\.0|odc-by|odbl|pddl|mit|apache-2\.0)", lid)
        else "other"
    )


def _date(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def _cut(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def dataset_card(
    ctx: Context,
    outputs: list[Output],
    counts: Mapping[str, int],
    exclusions: Mapping[str, Any],
    group_sizes: Mapping[int, Mapping[int, int]],
    attributes: Mapping[str, Mapping[str, int]],
    k: int,
    now: datetime,
) -> str:
    licence = ctx.privacy.licence
    policies = sorted({f"{r.policy} v{r.version}" for r in ctx.rounds.values()})
    lines: list[str] = ["---", f"license: {_hf_licence(licence)}"]
    if _hf_licence(licence) == "other":
        lines.append(f"license_name: {licence}")
    lines += [f'pretty_name: "policybot export: {", ".join(policies)}"', "configs:"]
    for o in outputs:
        if o.path.endswith((".jsonl", ".parquet")) and "provenance" not in o.path:
            lines += [
                f"- config_name: {o.path.rsplit('.', 1)[0].replace('/', '_')}_{o.path.rsplit('.', 1)[1]}",
                f"  data_files: {o.path}",
            ]
    lines += ["---", ""]
    lines += [
        f"# policybot export: {', '.join(policies)}",
        "",
        "Preference data produced by a community drafting the policy (a constitution of numbered clauses) that an",
        "LLM follows, by *policy prototyping*: the bot showed what a model answers under the draft, members reacted",
        "(endorse, object, pass, best of the scenario), proposed amendments and voted on them.",
        "",
        f"- Scope: {ctx.scope.describe()} of community `{ctx.scope.community}` on {ctx.platform}",
        f"- Generated: {_date(now)}",
        f"- Licence chosen by the community: **{licence}**",
        "- Annotators are pseudonymous: `annotator_id` is a keyed hash (HMAC-SHA256) of platform, community and member id",
        "  with the deployment's secret; it is stable across exports of this deployment and never the platform id.",
        "",
        "## Counts",
        "",
        "| what | count |",
        "| --- | ---: |",
    ]
    lines += [f"| {name.replace('_', ' ')} | {value:,} |" for name, value in counts.items()]
    lines += ["", "## Exclusions", ""]
    required = "yes" if ctx.privacy.consent_required else "no"
    withheld = exclusions["candidates"]["opted_out"] + exclusions["candidates"]["no_consent"]
    lines += [
        f"- Members opted out of exports: {exclusions['members']['opted_out']:,} "
        f"(their {exclusions['reaction_events']['opted_out']:,} reaction events are left out of every file)",
        f"- Members without consent where the community requires it (required: {required}): "
        f"{exclusions['members']['no_consent']:,} ({exclusions['reaction_events']['no_consent']:,} reaction events left out)",
        f"- Members who erased their data in this community (no longer held, so not exported): {exclusions['erased_members']:,}",
        f"- Member-written candidates left out: {withheld:,} "
        f"(author opted out or has not consented), {exclusions['candidates']['erased']:,} erased by their author",
        "",
        "## Rounds, policy versions and clauses",
        "",
    ]
    for r in sorted(ctx.rounds.values(), key=lambda x: x.id):
        lines += [
            f"### Round {r.id}: {r.policy} v{r.version} ({r.phase})",
            "",
            f"Opened {_date(r.opened_at)}, closed {_date(r.closed_at)}; {r.k} candidates per scenario.",
            "",
        ]
        lines += [f"- `{key}`: {_cut(text)}" for key, text in r.clauses]
        lines += ["", "What was asked (scenarios):", ""]
        seen: set[int] = set()
        for g in ctx.groups:
            if g.round_id == r.id and g.scenario_id not in seen:
                seen.add(g.scenario_id)
                lines.append(f"- scenario {g.scenario_id}: {_cut(' / '.join(f'{t.role}: {t.content}' for t in g.turns))}")
        sizes = group_sizes.get(r.id)
        if sizes:
            lines += ["", "Opinion groups (exported members): " + ", ".join(f"group {g}: {n}" for g, n in sorted(sizes.items()))]
        tallies = [t for t in ctx.tallies if t["round_id"] == r.id]
        if tallies:
            lines += ["", "Published vote totals (totals only, as announced):", ""]
            lines += [
                f"- amendment {t['amendment_id']}: {t['yes']} yes, {t['no']} no, {t['abstain']} abstain"
                f" — {'adopted' if t['adopted'] else 'not adopted'}"
                for t in tallies
            ]
        lines.append("")
    lines += ["## Models and sampling settings", "", "| author | model | method | temperature | prompt version | candidates |"]
    lines.append("| --- | --- | --- | ---: | --- | ---: |")
    combos = Counter((c.author_kind, c.model, c.method, c.temperature, c.prompt_version) for c in ctx.candidates.values())
    for (kind, model, method, temp, pv), n in sorted(combos.items(), key=lambda kv: str(kv[0])):
        lines.append(f"| {kind} | {model or '—'} | {method or '—'} | {'—' if temp is None else temp} | {pv or '—'} | {n} |")
    lines += ["", "Each row also carries the full settings of each candidate in its `*sampling` field (JSON).", ""]
    lines += ["## Self-described attributes (aggregate only)", ""]
    if attributes:
        lines.append(f"Given only by members who consented; k = {k}: {K_NOTE}.")
        lines.append("")
        for name, values in attributes.items():
            lines.append(f"- {name}: " + ", ".join(f"{v}: {n}" for v, n in values.items()))
    else:
        lines.append("No exported member has given attributes.")
    lines += ["", "## Files", "", "| file | format | rows |", "| --- | --- | ---: |"]
    for o in outputs:
        lines.append(f"| `{o.path}` | {o.format} | {o.rows:,} |")
    lines += ["", "Checksums (SHA-256) of every file are in `manifest.json`.", "", "Formats:", ""]
    lines += [f"- `{name}`: {text}" for name, text in FORMATS.items()]
    lines += [
        "",
        "## Known limitations",
        "",
        "- Pairwise comparisons are derived, not asked: the best pick of a scenario is preferred over each other",
        "  candidate of that scenario, and an endorsed candidate over an objected one (unless the member's best pick",
        "  says the reverse). Pairs from one member are not independent.",
        "- Members chose which candidates to react to; coverage is uneven and not random.",
        "- Free-text reasons and member-written responses are exported as their authors wrote them (unless erased or",
        "  opted out); they may contain anything a member chose to write.",
        "- The community is self-selected; its members are not a sample of any population. Attributes are",
        "  self-described, optional, and shown only in aggregate.",
        "- `amendment_id` 0 marks candidates generated under the policy version itself; other values are previews",
        "  under a proposed amendment.",
        "- Ballots appear in the event log only for rounds whose vote is over; vote totals are as published.",
        "- Erasure removes a member's reactions, ballots and free text from the bot; copies exported before the",
        "  erasure are outside the bot's reach.",
        "",
    ]
    return "\n".join(lines)

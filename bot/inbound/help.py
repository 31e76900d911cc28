"""Usage text for every command, shown by /help and with every parse error.

Help is written for the platform that asks: its PlatformCommands says which of the core's commands
it offers and how it spells them (Slack's /help is /policybot; Discord's /stress takes `propose`),
so a member is never shown a command they cannot type there."""

from __future__ import annotations

import re

from bot.domain.commands import ROUND_DEFAULTS as D  # the defaults shown are the ones /round open takes
from bot.domain.commands import PlatformCommands

USAGE: dict[str, str] = {
    "policy": (
        "/policy create <name> <clauses…>   (numbered clauses: '1. … 2. …'; console: --file PATH)\n"
        "/policy show <name> [version]\n"
        "/policy history <name>\n"
        "/policy diff <name> <from-version> <to-version>\n"
        "/policy list"
    ),
    "scenario": (
        "/scenario add <prompt>   (a conversation: 'user: … || assistant: … || user: …')\n"
        "/scenario list\n"
        "/scenario remove <id>\n"
        "/scenario import <path>   (JSONL with 'prompt' or 'messages', or text with blank-line-separated scenarios)"
    ),
    "round": (
        f"/round open <policy> scenarios=1,2,3 [version=N] [k={D.k}] [review={D.review}] [amend={D.amend}] [vote={D.vote}]\n"
        f"            [quorum={D.quorum}] [quorum-share=0.3] [threshold={D.threshold}|>=2/3] [bridging=N]\n"
        "            [review-ends=2026-12-01T18:00+01:00|…[Europe/Paris]] [amend-ends=…] [vote-ends=…] [reminders=24h,1h|none]\n"
        "/round status [round]\n"
        "/round results [round]   (anyone: the results so far, aggregates only, with a chart)\n"
        "/round advance <round>\n"
        "/round cancel <round>\n"
        "/round extend <round> <12h>   /round shorten <round> <2h>   /round ends <round> <2026-12-01T18:00+01:00>\n"
        "/round pause <round>   /round resume <round>   (moderators: the current phase's deadline)\n"
        "/round respond <round> <scenario> <your response…>\n"
        "/round retry <round> [scenario ids]   (moderators: scenarios whose generation failed)"
    ),
    "stress": (
        "/stress <round> [clause=N] [kinds=loophole,over-reach,unclear] [n=1]   (moderators: the model proposes hard cases)\n"
        "/stress accept <case>   (adds a proposed case to the round as a scenario)"
    ),
    "react": ("/react <candidate> endorse|object|pass|best [reason…]\n/unreact <candidate> endorse|object|pass|best"),
    "amend": (
        "/amend add <round> [after=N] <clause text…> [-- rationale]\n"
        "/amend replace <round> <clause-number> <new text…> [-- rationale]\n"
        "/amend remove <round> <clause-number> [-- rationale]\n"
        "/amend withdraw <amendment>\n"
        "/amend list <round>"
    ),
    "vote": "/vote <amendment> yes|no|abstain",
    "reminders": "/reminders off|on   (direct-message reminders to vote, for you in this community)",
    # export and privacy
    "export": (
        "/export round <round> [formats=trl,kto,…] [parquet]   (moderators: a zip with data, dataset card, checksums)\n"
        "/export policy <name> [formats=…] [parquet]\n"
        "/export community [formats=…] [parquet]\n"
        "   formats: trl, trl-standard, kto, openai, polis, community-alignment, events, amendments,\n"
        "            precedents, precedent-checks (default: all)\n"
        "/export settings [licence=CC-BY-4.0] [consent=required|optional]   (moderators; no options: show them)"
    ),
    "privacy": (
        "/privacy show   (what the bot holds about you, as a file)\n"
        "/privacy optout   /privacy optin   (leave your data out of research exports, or take part again)\n"
        "/privacy consent yes|no   (where the community exports only with consent)\n"
        "/privacy attributes [agree country=… age=25-34 gender=… language=…] | clear   (optional, aggregate only)\n"
        '/privacy name on|off   (credit what you write to your display name, or to "a member": the default)\n'
        "/privacy erase [confirm]   (erase your data here: events, words, settings, and your name wherever it is)"
    ),
    # precedents and /try
    "try": (
        "/try <prompt…> [policy=NAME] [version=N] [amendment=ID]   (anyone, privately: the model's answer under the\n"
        "            current version, a past one, or the policy as an amendment would make it; 'user: … || assistant: …')\n"
        "/try keep <try>   (add the prompt you tried as a scenario)"
    ),
    "precedent": (
        "/precedent list [policy]   (scenarios the community reached a verdict on, most supported first)\n"
        "/precedent show <id>\n"
        "/precedent retire <id> [reason…]   (moderators: no longer checked)\n"
        "/precedent checks <amendment> | <policy> <version>   (how it fares against each precedent)\n"
        "/precedent recheck <amendment> | <policy> <version>   (moderators: check again, e.g. after the judge failed)"
    ),
}


USAGE["help"] = "/help [topic]   (every command, or one topic's: " + ", ".join(USAGE) + ")"

# a command where a usage line names one: "/round open", "/stress <round>" (no subcommand), never "2/3"
_NAMED = re.compile(r"(?<![\w/])/([a-z]+)(?: ([a-z][a-z-]*))?")


def _respelled(line: str, commands: PlatformCommands) -> str | None:
    """The line with every command in the platform's spelling; None when it names one the platform lacks."""
    out: list[str] = []
    end = 0
    for m in _NAMED.finditer(line):
        command, sub = m.group(1), m.group(2) or ""
        whole = commands.spelling.get(f"{command} {sub}") if sub else None
        spelled = whole if whole is not None else commands.spelled(command)
        if not spelled:
            return None
        out.append(line[end : m.start()])
        out.append(spelled if whole is not None else spelled + (f" {sub}" if sub else ""))
        end = m.end()
    return "".join(out) + line[end:]


def usage_for(topic: str, commands: PlatformCommands | None) -> str:
    """One topic's usage as the platform offers it ("" when it offers none of it)."""
    if commands is None:
        return USAGE.get(topic, "")
    if topic in commands.own:
        return commands.own[topic]
    kept: list[str] = []
    keep = False
    for line in USAGE.get(topic, "").splitlines():
        if line.startswith("/"):  # a command's line; the indented lines after it continue it
            respelled = _respelled(line, commands)
            keep = respelled is not None
            line = respelled or ""
        elif keep:
            line = _respelled(line, commands) or line
        if keep:
            kept.append(line)
    return "\n".join(kept)


def help_text(topic: str = "", commands: PlatformCommands | None = None) -> str:
    """One topic's usage, or (for no topic or an unknown one) every command the platform offers."""
    topic = topic.strip().lstrip("/").lower()
    found = usage_for(topic, commands) if topic else ""
    if found:
        return found
    topics = [*USAGE, *(commands.own if commands else ())]
    overview = "Commands:\n" + "\n".join(u for u in (usage_for(t, commands) for t in dict.fromkeys(topics)) if u)
    return overview + (commands.note if commands else "")

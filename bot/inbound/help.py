"""Usage text for every command, shown by /help and with every parse error."""

from __future__ import annotations

from bot.domain.commands import ROUND_DEFAULTS as D  # the defaults shown are the ones /round open takes

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
        "/privacy optout | optin   (leave your data out of research exports, or take part again)\n"
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


def help_text(topic: str = "") -> str:
    topic = topic.strip().lstrip("/").lower()
    if topic in USAGE:
        return USAGE[topic]
    return "Commands:\n" + "\n".join(USAGE.values())

"""Reading a text command ("/round open kindness scenarios=1,2 k=4") into a command dataclass.

Used by the console adapter and by Slack, whose slash commands arrive as text. Any input either
parses or raises CommandError with the usage of the command; nothing else escapes."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from bot.domain import commands as c
from bot.domain.commands import Actor
from bot.domain.model import AmendmentKind, BallotChoice, Stance
from bot.domain.turns import turns_from_text
from bot.errors import CommandError
from bot.inbound.help import USAGE, help_text

ReadFile = Callable[[str], str]
_OPTION = re.compile(r"^([a-z][a-z-]*)=(.*)$")


def _int(value: str, what: str, usage: str) -> int:
    v = value.strip().lstrip("#")
    if not re.fullmatch(r"-?\d{1,12}", v):
        raise CommandError(f"'{value[:40]}' is not a valid {what} number.\nUsage:\n{usage}")
    return int(v)


def _need(args: list[str], n: int, usage: str) -> None:
    if len(args) < n:
        raise CommandError(f"Missing arguments.\nUsage:\n{usage}")


def _options(words: list[str], allowed: set[str], usage: str) -> tuple[list[str], dict[str, str]]:
    positional: list[str] = []
    options: dict[str, str] = {}
    for w in words:
        m = _OPTION.match(w)
        if m:
            if m.group(1) not in allowed:
                raise CommandError(f"Unknown option '{m.group(1)}'.\nUsage:\n{usage}")
            options[m.group(1)] = m.group(2)
        else:
            positional.append(w)
    return positional, options


def _split_rationale(text: str) -> tuple[str, str]:
    if " -- " in f" {text} ":
        head, _, tail = f" {text} ".partition(" -- ")
        return head.strip(), tail.strip()
    return text.strip(), ""


def parse(
    line: str,
    actor: Actor,
    channel: str,
    *,
    read_file: ReadFile | None = None,
    event_key: str | None = None,
) -> c.Command:
    text = line.strip()
    if not text.startswith("/"):
        raise CommandError("Commands start with '/'. Try /help.")
    head, _, rest = text[1:].partition(" ")
    name = head.lower()
    rest = rest.strip()
    if name == "help":
        return c.Help(actor, rest)
    if name == "policy":
        return _policy(rest, actor, read_file)
    if name == "scenario":
        return _scenario(rest, actor, read_file)
    if name == "round":
        return _round(rest, actor, channel)
    if name in ("react", "unreact"):
        return _react(rest, actor, removed=name == "unreact", event_key=event_key)
    if name == "amend":
        return _amend(rest, actor)
    if name == "stress":
        return _stress(rest, actor)
    if name == "vote":
        usage = USAGE["vote"]
        args = rest.split()
        _need(args, 2, usage)
        try:
            choice = BallotChoice(args[1].lower())
        except ValueError:
            raise CommandError(f"Vote yes, no or abstain (not '{args[1][:20]}').\nUsage:\n{usage}") from None
        return c.CastBallot(actor, _int(args[0], "amendment", usage), choice, event_key=event_key or "")
    if name == "reminders":  # scheduling
        if rest.lower() not in ("on", "off"):
            raise CommandError(f"Say /reminders on or /reminders off.\nUsage:\n{USAGE['reminders']}")
        return c.SetReminderMessages(actor, rest.lower() == "on")
    if name == "export":  # export and privacy
        return _export(rest, actor)
    if name == "privacy":
        return _privacy(rest, actor)
    raise CommandError(f"Unknown command '/{head[:30]}'.\n{help_text()}")


def _sub(rest: str) -> tuple[str, str]:
    sub, _, tail = rest.partition(" ")
    return sub.lower(), tail.strip()


def _read(read_file: ReadFile | None, path: str) -> str:
    if read_file is None:
        raise CommandError("Reading a file is not available here; attach the file or paste its text.")
    return read_file(path)


def _policy(rest: str, actor: Actor, read_file: ReadFile | None) -> c.Command:
    usage = USAGE["policy"]
    sub, tail = _sub(rest)
    args = tail.split()
    if sub == "create":
        _need(args, 2, usage)
        name, _, body = tail.partition(" ")
        body = body.strip()
        body = _read(read_file, body.removeprefix("--file ").strip()) if body.startswith("--file ") else body.replace("\\n", "\n")
        return c.CreatePolicy(actor, name, body)
    if sub == "show":
        _need(args, 1, usage)
        version = _int(args[1].lstrip("v"), "version", usage) if len(args) > 1 else None
        return c.ShowPolicy(actor, args[0], version)
    if sub == "history":
        _need(args, 1, usage)
        return c.PolicyHistory(actor, args[0])
    if sub == "diff":
        _need(args, 3, usage)
        return c.DiffPolicy(
            actor, args[0], _int(args[1].lstrip("v"), "version", usage), _int(args[2].lstrip("v"), "version", usage)
        )
    if sub == "list":
        return c.ListPolicies(actor)
    raise CommandError(f"Unknown /policy subcommand '{sub[:20]}'.\nUsage:\n{usage}")


def _scenario(rest: str, actor: Actor, read_file: ReadFile | None) -> c.Command:
    usage = USAGE["scenario"]
    sub, tail = _sub(rest)
    if sub == "add":
        if not tail:
            raise CommandError(f"Missing the prompt.\nUsage:\n{usage}")
        return c.AddScenario(actor, turns_from_text(tail.replace(" || ", "\n").replace("\\n", "\n")))
    if sub == "list":
        return c.ListScenarios(actor)
    if sub == "remove":
        _need(tail.split(), 1, usage)
        return c.RemoveScenario(actor, _int(tail.split()[0], "scenario", usage))
    if sub == "import":
        _need(tail.split(), 1, usage)
        path = tail
        fmt = "jsonl" if path.endswith(".jsonl") else "text" if path.endswith((".txt", ".md")) else "auto"
        return c.ImportScenarios(actor, _read(read_file, path), fmt)
    raise CommandError(f"Unknown /scenario subcommand '{sub[:20]}'.\nUsage:\n{usage}")


def _round(rest: str, actor: Actor, channel: str) -> c.Command:
    usage = USAGE["round"]
    sub, tail = _sub(rest)
    args = tail.split()
    if sub == "open":
        pos, opt = _options(
            args,
            {"scenarios", "version", "k", "review", "amend", "vote", "quorum", "quorum-share", "threshold", "bridging"}
            | {"review-ends", "amend-ends", "vote-ends", "reminders"},  # scheduling
            usage,
        )
        if len(pos) != 1:
            raise CommandError(f"Name exactly one policy.\nUsage:\n{usage}")
        ids = tuple(_int(x, "scenario", usage) for x in opt.get("scenarios", "").split(",") if x.strip())
        for phase in ("review", "amend", "vote"):  # scheduling
            if phase in opt and f"{phase}-ends" in opt:
                raise CommandError(f"Give {phase}= or {phase}-ends=, not both.\nUsage:\n{usage}")
        try:
            share = float(opt.get("quorum-share", "0"))
        except ValueError:
            raise CommandError(f"quorum-share must be a number between 0 and 1.\nUsage:\n{usage}") from None
        return c.OpenRound(
            actor,
            pos[0],
            channel,
            ids,
            version=_int(opt["version"].lstrip("v"), "version", usage) if "version" in opt else None,
            k=_int(opt.get("k", "4"), "k", usage),
            review=opt.get("review", "48h"),
            amend=opt.get("amend", "24h"),
            vote=opt.get("vote", "24h"),
            quorum=_int(opt.get("quorum", "1"), "quorum", usage),
            quorum_share=share,
            threshold=opt.get("threshold", ">1/2"),
            bridging_min_voters=_int(opt.get("bridging", "0"), "bridging", usage),  # analysis
            review_ends=opt.get("review-ends", ""),
            amend_ends=opt.get("amend-ends", ""),
            vote_ends=opt.get("vote-ends", ""),
            reminders=opt.get("reminders", ""),
        )
    if sub == "status":
        return c.RoundStatus(actor, _int(args[0], "round", usage) if args else None)
    if sub == "results":  # analysis
        return c.RoundResults(actor, _int(args[0], "round", usage) if args else None)
    if sub == "advance":
        _need(args, 1, usage)
        return c.AdvanceRound(actor, _int(args[0], "round", usage))
    if sub == "cancel":
        _need(args, 1, usage)
        return c.CancelRound(actor, _int(args[0], "round", usage))
    if sub == "respond":
        _need(args, 3, usage)
        text = tail.split(None, 2)[2]
        return c.ContributeResponse(actor, _int(args[0], "round", usage), _int(args[1], "scenario", usage), text)
    if sub == "retry":
        _need(args, 1, usage)
        ids = tuple(_int(x, "scenario", usage) for x in " ".join(args[1:]).replace(",", " ").split())
        return c.RetryScenarios(actor, _int(args[0], "round", usage), ids)
    if sub in ("extend", "shorten"):  # scheduling
        _need(args, 2, usage)
        change = c.ExtendPhase if sub == "extend" else c.ShortenPhase
        return change(actor, _int(args[0], "round", usage), args[1])
    if sub == "ends":
        _need(args, 2, usage)
        return c.SetPhaseEnd(actor, _int(args[0], "round", usage), args[1])
    if sub in ("pause", "resume"):
        _need(args, 1, usage)
        clock = c.PausePhase if sub == "pause" else c.ResumePhase
        return clock(actor, _int(args[0], "round", usage))
    raise CommandError(f"Unknown /round subcommand '{sub[:20]}'.\nUsage:\n{usage}")


def _stress(rest: str, actor: Actor) -> c.Command:
    usage = USAGE["stress"]
    sub, tail = _sub(rest)
    if sub == "accept":
        _need(tail.split(), 1, usage)
        return c.AcceptStressCase(actor, _int(tail.split()[0], "stress case", usage))
    pos, opt = _options(rest.split(), {"clause", "kinds", "n"}, usage)
    if len(pos) != 1:
        raise CommandError(f"Name exactly one round.\nUsage:\n{usage}")
    kinds = (
        tuple(k.strip() for k in opt["kinds"].split(",") if k.strip())
        if "kinds" in opt
        else ("loophole", "over-reach", "unclear")
    )
    return c.ProposeStressCases(
        actor,
        _int(pos[0], "round", usage),
        clause=_int(opt["clause"], "clause", usage) if "clause" in opt else None,
        kinds=kinds,
        per_kind=_int(opt.get("n", "1"), "count", usage),
    )


def _react(rest: str, actor: Actor, *, removed: bool, event_key: str | None) -> c.Command:
    usage = USAGE["react"]
    args = rest.split(None, 2)
    _need(args, 2, usage)
    try:
        stance = Stance(args[1].lower())
    except ValueError:
        raise CommandError(f"React with endorse, object, pass or best (not '{args[1][:20]}').\nUsage:\n{usage}") from None
    reason = args[2] if len(args) > 2 and not removed else ""
    return c.RecordReaction(
        actor,
        stance,
        event_key=event_key or f"console:{uuid.uuid4()}",
        candidate_id=_int(args[0], "candidate", usage),
        removed=removed,
        reason=reason,
    )


def _amend(rest: str, actor: Actor) -> c.Command:
    usage = USAGE["amend"]
    sub, tail = _sub(rest)
    body, rationale = _split_rationale(tail)
    args = body.split()
    if sub == "add":
        _need(args, 2, usage)
        round_id = _int(args[0], "round", usage)
        words = body.split(None, 1)[1]
        after: int | None = None
        m = re.match(r"^after=(\S+)\s+(.*)$", words, re.DOTALL)
        if m:
            after = _int(m.group(1), "clause", usage)
            words = m.group(2)
        return c.ProposeAmendment(actor, round_id, AmendmentKind.ADD, after, words, rationale)
    if sub == "replace":
        _need(args, 3, usage)
        new_text = body.split(None, 2)[2]
        return c.ProposeAmendment(
            actor, _int(args[0], "round", usage), AmendmentKind.REPLACE, _int(args[1], "clause", usage), new_text, rationale
        )
    if sub == "remove":
        _need(args, 2, usage)
        if len(args) > 2:
            raise CommandError(f"A removal takes no clause text; give reasons after ' -- '.\nUsage:\n{usage}")
        return c.ProposeAmendment(
            actor, _int(args[0], "round", usage), AmendmentKind.REMOVE, _int(args[1], "clause", usage), "", rationale
        )
    if sub == "withdraw":
        _need(args, 1, usage)
        return c.WithdrawAmendment(actor, _int(args[0], "amendment", usage))
    if sub == "list":
        _need(args, 1, usage)
        return c.ListAmendments(actor, _int(args[0], "round", usage))
    raise CommandError(f"Unknown /amend subcommand '{sub[:20]}'.\nUsage:\n{usage}")


# ---------------------------------------------------------------- export and privacy


def _export(rest: str, actor: Actor) -> c.Command:
    usage = USAGE["export"]
    sub, tail = _sub(rest)
    if sub == "settings":
        pos, opt = _options(tail.split(), {"licence", "license", "consent"}, usage)
        if pos:
            raise CommandError(f"Unexpected '{pos[0][:30]}'.\nUsage:\n{usage}")
        consent = opt.get("consent", "").lower()
        if consent not in ("", "required", "optional"):
            raise CommandError(f"consent is 'required' or 'optional'.\nUsage:\n{usage}")
        licence = opt.get("licence", opt.get("license"))
        return c.ExportSettings(actor, licence=licence, consent_required=None if not consent else consent == "required")
    pos, opt = _options(tail.split(), {"formats", "format"}, usage)
    parquet = "parquet" in [p.lower() for p in pos]
    pos = [p for p in pos if p.lower() != "parquet"]
    raw = opt.get("formats", opt.get("format", "all"))
    formats = tuple(f.strip().lower() for f in raw.split(",") if f.strip())
    if sub == "round":
        if len(pos) != 1:
            raise CommandError(f"Name exactly one round.\nUsage:\n{usage}")
        return c.ExportData(actor, round_id=_int(pos[0], "round", usage), formats=formats, parquet=parquet)
    if sub == "policy":
        if len(pos) != 1:
            raise CommandError(f"Name exactly one policy.\nUsage:\n{usage}")
        return c.ExportData(actor, policy=pos[0], formats=formats, parquet=parquet)
    if sub == "community":
        if pos:
            raise CommandError(f"Unexpected '{pos[0][:30]}'.\nUsage:\n{usage}")
        return c.ExportData(actor, formats=formats, parquet=parquet)
    raise CommandError(f"Export a round, a policy or the community.\nUsage:\n{usage}")


def _privacy(rest: str, actor: Actor) -> c.Command:
    usage = USAGE["privacy"]
    sub, tail = _sub(rest)
    words = tail.split()
    if sub in ("", "show"):
        return c.PrivacyShow(actor)
    if sub in ("optout", "optin"):
        return c.PrivacyExportChoice(actor, opt_out=sub == "optout")
    if sub == "consent":
        if len(words) != 1 or words[0].lower() not in ("yes", "no"):
            raise CommandError(f"Say /privacy consent yes or /privacy consent no.\nUsage:\n{usage}")
        return c.PrivacyExportChoice(actor, consent=words[0].lower() == "yes")
    if sub == "erase":
        if words and words != ["confirm"]:
            raise CommandError(f"Say /privacy erase, then /privacy erase confirm.\nUsage:\n{usage}")
        return c.PrivacyErase(actor, confirm=words == ["confirm"])
    if sub == "attributes":
        pairs: list[tuple[str, str]] = []
        agree = clear = False
        for w in words:
            key, eq, value = w.partition("=")
            if eq:
                pairs.append((key, value))
            elif w.lower() == "agree":
                agree = True
            elif w.lower() == "clear":
                clear = True
            else:
                raise CommandError(f"Unexpected '{w[:30]}': give attributes as name=value.\nUsage:\n{usage}")
        return c.PrivacyAttributes(actor, tuple(pairs), agree=agree, clear=clear)
    raise CommandError(f"Unknown /privacy subcommand '{sub[:20]}'.\nUsage:\n{usage}")

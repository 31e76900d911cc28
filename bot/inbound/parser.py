"""Reading a text command ("/round open kindness scenarios=1,2 k=4") into a command dataclass.

Used by the console adapter and by Slack, whose slash commands arrive as text. Any input either
parses or raises CommandError with the usage of the command; nothing else escapes. Each command and
subcommand has its own small reader, found by name in a table; what a member leaves out takes the
command's own default (bot/domain/commands.py), never one written here."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from bot.domain import commands as c
from bot.domain.commands import Actor
from bot.domain.model import AmendmentKind, BallotChoice, Stance
from bot.domain.turns import turns_from_text
from bot.errors import CommandError
from bot.inbound.help import USAGE, help_text

ReadFile = Callable[[str], str]
_OPTION = re.compile(r"^([a-z][a-z-]*)=(.*)$")


@dataclass(frozen=True, slots=True)
class _Line:
    """What a command's own reader reads: the words after the command's name (or its subcommand's),
    and their context."""

    rest: str
    actor: Actor
    channel: str
    read_file: ReadFile | None
    event_key: str | None

    def tail(self) -> _Line:
        """The same line without its first word (the subcommand)."""
        return _Line(_sub(self.rest)[1], self.actor, self.channel, self.read_file, self.event_key)


Reader = Callable[[_Line], c.Command]


def parse(
    line: str,
    actor: Actor,
    channel: str,
    *,
    read_file: ReadFile | None = None,
    event_key: str | None = None,
    commands: c.PlatformCommands | None = None,
) -> c.Command:
    """`commands`: what the asking platform offers, for the help it is shown (None: the core's every command)."""
    text = line.strip()
    help_is = commands.spelled("help") if commands else "/help"
    if not text.startswith("/"):
        raise CommandError(f"Commands start with '/'. Try {help_is}.")
    head, _, rest = text[1:].partition(" ")
    read = _COMMANDS.get(head.lower())
    if read is None:
        raise CommandError(f"Unknown command '/{head[:30]}'.\n{help_text(commands=commands)}")
    cmd = read(_Line(rest.strip(), actor, channel, read_file, event_key))
    return replace(cmd, commands=commands) if isinstance(cmd, c.Help) else cmd


def command_names() -> frozenset[str]:
    """Every command a member can type, as "vote", or "round open" for a command with subcommands."""
    grouped = {"policy": _POLICY, "scenario": _SCENARIO, "round": _ROUND, "amend": _AMEND}
    grouped |= {"export": _EXPORT, "privacy": _PRIVACY, "precedent": _PRECEDENT}
    names = {f"{command} {sub}" for command, readers in grouped.items() for sub in readers if sub}
    names |= set(_COMMANDS) - set(grouped)
    return frozenset(names | {"stress accept", "try keep"})  # read by /stress's and /try's own readers


# ---------------------------------------------------------------- small readers


def _int(value: str, what: str, usage: str) -> int:
    v = value.strip().lstrip("#")
    if not re.fullmatch(r"-?\d{1,12}", v):
        raise CommandError(f"'{value[:40]}' is not a valid {what} number.\nUsage:\n{usage}")
    return int(v)


def _version(value: str, usage: str) -> int:
    return _int(value.lstrip("v"), "version", usage)


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


def _sub(rest: str) -> tuple[str, str]:
    sub, _, tail = rest.partition(" ")
    return sub.lower(), tail.strip()


def _read(read_file: ReadFile | None, path: str) -> str:
    if read_file is None:
        raise CommandError("Reading a file is not available here; attach the file or paste its text.")
    return read_file(path)


def _by_subcommand(group: str, readers: dict[str, Reader], line: _Line, unknown: str = "") -> c.Command:
    sub, _ = _sub(line.rest)
    read = readers.get(sub)
    if read is None:
        usage = USAGE[group]
        said = unknown or f"Unknown /{group} subcommand '{sub[:20]}'."
        raise CommandError(f"{said}\nUsage:\n{usage}")
    return read(line.tail())


# ---------------------------------------------------------------- /policy


def _policy_create(line: _Line) -> c.Command:
    _need(line.rest.split(), 2, USAGE["policy"])
    name, _, body = line.rest.partition(" ")
    body = body.strip()
    if body.startswith("--file "):
        body = _read(line.read_file, body.removeprefix("--file ").strip())
    else:
        body = body.replace("\\n", "\n")
    return c.CreatePolicy(line.actor, name, body)


def _policy_show(line: _Line) -> c.Command:
    usage = USAGE["policy"]
    args = line.rest.split()
    _need(args, 1, usage)
    return c.ShowPolicy(line.actor, args[0], _version(args[1], usage) if len(args) > 1 else None)


def _policy_history(line: _Line) -> c.Command:
    args = line.rest.split()
    _need(args, 1, USAGE["policy"])
    return c.PolicyHistory(line.actor, args[0])


def _policy_diff(line: _Line) -> c.Command:
    usage = USAGE["policy"]
    args = line.rest.split()
    _need(args, 3, usage)
    return c.DiffPolicy(line.actor, args[0], _version(args[1], usage), _version(args[2], usage))


_POLICY: dict[str, Reader] = {
    "create": _policy_create,
    "show": _policy_show,
    "history": _policy_history,
    "diff": _policy_diff,
    "list": lambda line: c.ListPolicies(line.actor),
}


# ---------------------------------------------------------------- /scenario


def _scenario_add(line: _Line) -> c.Command:
    if not line.rest:
        raise CommandError(f"Missing the prompt.\nUsage:\n{USAGE['scenario']}")
    return c.AddScenario(line.actor, turns_from_text(line.rest.replace(" || ", "\n").replace("\\n", "\n")))


def _scenario_remove(line: _Line) -> c.Command:
    usage = USAGE["scenario"]
    args = line.rest.split()
    _need(args, 1, usage)
    return c.RemoveScenario(line.actor, _int(args[0], "scenario", usage))


def _scenario_import(line: _Line) -> c.Command:
    _need(line.rest.split(), 1, USAGE["scenario"])
    path = line.rest
    fmt = "jsonl" if path.endswith(".jsonl") else "text" if path.endswith((".txt", ".md")) else "auto"
    return c.ImportScenarios(line.actor, _read(line.read_file, path), fmt)


_SCENARIO: dict[str, Reader] = {
    "add": _scenario_add,
    "list": lambda line: c.ListScenarios(line.actor),
    "remove": _scenario_remove,
    "import": _scenario_import,
}


# ---------------------------------------------------------------- /round


def _share(value: str, usage: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise CommandError(f"quorum-share must be a number between 0 and 1.\nUsage:\n{usage}") from None


def _text(value: str, usage: str) -> str:
    return value


def _number(what: str) -> Callable[[str, str], int]:
    return lambda value, usage: _int(value, what, usage)


# option → (OpenRound's field, how its value is read); an option left out takes OpenRound's default
_OPEN_OPTIONS: dict[str, tuple[str, Callable[[str, str], Any]]] = {
    "version": ("version", _version),
    "k": ("k", _number("k")),
    "review": ("review", _text),
    "amend": ("amend", _text),
    "vote": ("vote", _text),
    "quorum": ("quorum", _number("quorum")),
    "quorum-share": ("quorum_share", _share),
    "threshold": ("threshold", _text),
    "bridging": ("bridging_min_voters", _number("bridging")),  # analysis
    "review-ends": ("review_ends", _text),  # scheduling
    "amend-ends": ("amend_ends", _text),
    "vote-ends": ("vote_ends", _text),
    "reminders": ("reminders", _text),
}


def _round_open(line: _Line) -> c.Command:
    usage = USAGE["round"]
    pos, opt = _options(line.rest.split(), {"scenarios", *_OPEN_OPTIONS}, usage)
    if len(pos) != 1:
        raise CommandError(f"Name exactly one policy.\nUsage:\n{usage}")
    ids = tuple(_int(x, "scenario", usage) for x in opt.get("scenarios", "").split(",") if x.strip())
    given = {field: read(opt[name], usage) for name, (field, read) in _OPEN_OPTIONS.items() if name in opt}
    opened = c.OpenRound(line.actor, pos[0], line.channel, ids, **given)
    try:
        opened.phase_lengths()  # the core's own rule for what a phase may be given, said here with the usage
    except CommandError as e:
        raise CommandError(f"{e.message}\nUsage:\n{usage}") from None
    return opened


def _optional_round(command: Callable[[Actor, int | None], c.Command]) -> Reader:
    def read(line: _Line) -> c.Command:
        args = line.rest.split()
        return command(line.actor, _int(args[0], "round", USAGE["round"]) if args else None)

    return read


def _one_round(command: Callable[[Actor, int], c.Command]) -> Reader:
    def read(line: _Line) -> c.Command:
        args = line.rest.split()
        _need(args, 1, USAGE["round"])
        return command(line.actor, _int(args[0], "round", USAGE["round"]))

    return read


def _round_and_text(command: Callable[[Actor, int, str], c.Command]) -> Reader:  # scheduling: extend, shorten, ends
    def read(line: _Line) -> c.Command:
        args = line.rest.split()
        _need(args, 2, USAGE["round"])
        return command(line.actor, _int(args[0], "round", USAGE["round"]), args[1])

    return read


def _round_respond(line: _Line) -> c.Command:
    usage = USAGE["round"]
    args = line.rest.split()
    _need(args, 3, usage)
    text = line.rest.split(None, 2)[2]
    return c.ContributeResponse(line.actor, _int(args[0], "round", usage), _int(args[1], "scenario", usage), text)


def _round_retry(line: _Line) -> c.Command:
    usage = USAGE["round"]
    args = line.rest.split()
    _need(args, 1, usage)
    ids = tuple(_int(x, "scenario", usage) for x in " ".join(args[1:]).replace(",", " ").split())
    return c.RetryScenarios(line.actor, _int(args[0], "round", usage), ids)


_ROUND: dict[str, Reader] = {
    "open": _round_open,
    "status": _optional_round(c.RoundStatus),
    "results": _optional_round(c.RoundResults),  # analysis
    "advance": _one_round(c.AdvanceRound),
    "cancel": _one_round(c.CancelRound),
    "respond": _round_respond,
    "retry": _round_retry,
    "extend": _round_and_text(c.ExtendPhase),  # scheduling
    "shorten": _round_and_text(c.ShortenPhase),
    "ends": _round_and_text(c.SetPhaseEnd),
    "pause": _one_round(c.PausePhase),
    "resume": _one_round(c.ResumePhase),
}


# ---------------------------------------------------------------- /stress (generation)


def _stress(line: _Line) -> c.Command:
    usage = USAGE["stress"]
    sub, tail = _sub(line.rest)
    if sub == "accept":
        _need(tail.split(), 1, usage)
        return c.AcceptStressCase(line.actor, _int(tail.split()[0], "stress case", usage))
    pos, opt = _options(line.rest.split(), {"clause", "kinds", "n"}, usage)
    if len(pos) != 1:
        raise CommandError(f"Name exactly one round.\nUsage:\n{usage}")
    kinds = (
        tuple(k.strip() for k in opt["kinds"].split(",") if k.strip())
        if "kinds" in opt
        else ("loophole", "over-reach", "unclear")
    )
    return c.ProposeStressCases(
        line.actor,
        _int(pos[0], "round", usage),
        clause=_int(opt["clause"], "clause", usage) if "clause" in opt else None,
        kinds=kinds,
        per_kind=_int(opt.get("n", "1"), "count", usage),
    )


# ---------------------------------------------------------------- /react, /vote, /reminders


def _react(line: _Line, *, removed: bool) -> c.Command:
    usage = USAGE["react"]
    args = line.rest.split(None, 2)
    _need(args, 2, usage)
    try:
        stance = Stance(args[1].lower())
    except ValueError:
        raise CommandError(f"React with endorse, object, pass or best (not '{args[1][:20]}').\nUsage:\n{usage}") from None
    reason = args[2] if len(args) > 2 and not removed else ""
    return c.RecordReaction(
        line.actor,
        stance,
        event_key=line.event_key or f"console:{uuid.uuid4()}",
        candidate_id=_int(args[0], "candidate", usage),
        removed=removed,
        reason=reason,
    )


def _vote(line: _Line) -> c.Command:
    usage = USAGE["vote"]
    args = line.rest.split()
    _need(args, 2, usage)
    try:
        choice = BallotChoice(args[1].lower())
    except ValueError:
        raise CommandError(f"Vote yes, no or abstain (not '{args[1][:20]}').\nUsage:\n{usage}") from None
    return c.CastBallot(line.actor, _int(args[0], "amendment", usage), choice, event_key=line.event_key or "")


def _reminders(line: _Line) -> c.Command:  # scheduling
    setting = line.rest.lower()
    if setting not in ("on", "off"):
        raise CommandError(f"Say /reminders on or /reminders off.\nUsage:\n{USAGE['reminders']}")
    return c.SetReminderMessages(line.actor, setting == "on")


# ---------------------------------------------------------------- /amend


def _amend_add(line: _Line) -> c.Command:
    usage = USAGE["amend"]
    body, rationale = _split_rationale(line.rest)
    _need(body.split(), 2, usage)
    round_id = _int(body.split()[0], "round", usage)
    words = body.split(None, 1)[1]
    after: int | None = None
    m = re.match(r"^after=(\S+)\s+(.*)$", words, re.DOTALL)
    if m:
        after = _int(m.group(1), "clause", usage)
        words = m.group(2)
    return c.ProposeAmendment(line.actor, round_id, AmendmentKind.ADD, after, words, rationale)


def _amend_replace(line: _Line) -> c.Command:
    usage = USAGE["amend"]
    body, rationale = _split_rationale(line.rest)
    args = body.split()
    _need(args, 3, usage)
    new_text = body.split(None, 2)[2]
    round_id, clause = _int(args[0], "round", usage), _int(args[1], "clause", usage)
    return c.ProposeAmendment(line.actor, round_id, AmendmentKind.REPLACE, clause, new_text, rationale)


def _amend_remove(line: _Line) -> c.Command:
    usage = USAGE["amend"]
    body, rationale = _split_rationale(line.rest)
    args = body.split()
    _need(args, 2, usage)
    if len(args) > 2:
        raise CommandError(f"A removal takes no clause text; give reasons after ' -- '.\nUsage:\n{usage}")
    round_id, clause = _int(args[0], "round", usage), _int(args[1], "clause", usage)
    return c.ProposeAmendment(line.actor, round_id, AmendmentKind.REMOVE, clause, "", rationale)


def _amendment_or_round(command: Callable[[Actor, int], c.Command], what: str) -> Reader:
    def read(line: _Line) -> c.Command:
        usage = USAGE["amend"]
        args = _split_rationale(line.rest)[0].split()
        _need(args, 1, usage)
        return command(line.actor, _int(args[0], what, usage))

    return read


_AMEND: dict[str, Reader] = {
    "add": _amend_add,
    "replace": _amend_replace,
    "remove": _amend_remove,
    "withdraw": _amendment_or_round(c.WithdrawAmendment, "amendment"),
    "list": _amendment_or_round(c.ListAmendments, "round"),
}


# ---------------------------------------------------------------- export and privacy


def _export_settings(line: _Line) -> c.Command:
    usage = USAGE["export"]
    pos, opt = _options(line.rest.split(), {"licence", "license", "consent"}, usage)
    if pos:
        raise CommandError(f"Unexpected '{pos[0][:30]}'.\nUsage:\n{usage}")
    consent = opt.get("consent", "").lower()
    if consent not in ("", "required", "optional"):
        raise CommandError(f"consent is 'required' or 'optional'.\nUsage:\n{usage}")
    licence = opt.get("licence", opt.get("license"))
    return c.ExportSettings(line.actor, licence=licence, consent_required=None if not consent else consent == "required")


def _export_data(names: int, what: str) -> Callable[[_Line], tuple[list[str], tuple[str, ...], bool]]:
    """A reader of `[name…] [formats=…] [parquet]` that wants `names` positional words (0 or 1)."""

    def read(line: _Line) -> tuple[list[str], tuple[str, ...], bool]:
        usage = USAGE["export"]
        pos, opt = _options(line.rest.split(), {"formats", "format"}, usage)
        parquet = "parquet" in [p.lower() for p in pos]
        pos = [p for p in pos if p.lower() != "parquet"]
        if names == 0 and pos:
            raise CommandError(f"Unexpected '{pos[0][:30]}'.\nUsage:\n{usage}")
        if names == 1 and len(pos) != 1:
            raise CommandError(f"Name exactly one {what}.\nUsage:\n{usage}")
        raw = opt.get("formats", opt.get("format", "all"))
        return pos, tuple(f.strip().lower() for f in raw.split(",") if f.strip()), parquet

    return read


def _export_round(line: _Line) -> c.Command:
    pos, formats, parquet = _export_data(1, "round")(line)
    round_id = _int(pos[0], "round", USAGE["export"])
    return c.ExportData(line.actor, round_id=round_id, formats=formats, parquet=parquet)


def _export_policy(line: _Line) -> c.Command:
    pos, formats, parquet = _export_data(1, "policy")(line)
    return c.ExportData(line.actor, policy=pos[0], formats=formats, parquet=parquet)


def _export_community(line: _Line) -> c.Command:
    _, formats, parquet = _export_data(0, "")(line)
    return c.ExportData(line.actor, formats=formats, parquet=parquet)


_EXPORT: dict[str, Reader] = {
    "settings": _export_settings,
    "round": _export_round,
    "policy": _export_policy,
    "community": _export_community,
}


def _privacy_consent(line: _Line) -> c.Command:
    words = line.rest.split()
    if len(words) != 1 or words[0].lower() not in ("yes", "no"):
        raise CommandError(f"Say /privacy consent yes or /privacy consent no.\nUsage:\n{USAGE['privacy']}")
    return c.PrivacyExportChoice(line.actor, consent=words[0].lower() == "yes")


def _privacy_erase(line: _Line) -> c.Command:
    words = line.rest.split()
    if words and words != ["confirm"]:
        raise CommandError(f"Say /privacy erase, then /privacy erase confirm.\nUsage:\n{USAGE['privacy']}")
    return c.PrivacyErase(line.actor, confirm=words == ["confirm"])


def _privacy_name(line: _Line) -> c.Command:
    setting = line.rest.strip().lower()
    if setting not in ("on", "off"):
        raise CommandError(f"Say /privacy name on or /privacy name off.\nUsage:\n{USAGE['privacy']}")
    return c.PrivacyName(line.actor, named=setting == "on")


def _privacy_attributes(line: _Line) -> c.Command:
    pairs: list[tuple[str, str]] = []
    flags: set[str] = set()
    for w in line.rest.split():
        key, eq, value = w.partition("=")
        if eq:
            pairs.append((key, value))
        elif w.lower() in ("agree", "clear"):
            flags.add(w.lower())
        else:
            raise CommandError(f"Unexpected '{w[:30]}': give attributes as name=value.\nUsage:\n{USAGE['privacy']}")
    return c.PrivacyAttributes(line.actor, tuple(pairs), agree="agree" in flags, clear="clear" in flags)


_PRIVACY: dict[str, Reader] = {
    "": lambda line: c.PrivacyShow(line.actor),
    "show": lambda line: c.PrivacyShow(line.actor),
    "optout": lambda line: c.PrivacyExportChoice(line.actor, opt_out=True),
    "optin": lambda line: c.PrivacyExportChoice(line.actor, opt_out=False),
    "consent": _privacy_consent,
    "erase": _privacy_erase,
    "attributes": _privacy_attributes,
    "name": _privacy_name,
}


# ---------------------------------------------------------------- /try and /precedent (precedents)

_TRY_OPTION = re.compile(r"^\s*(policy|version|amendment)=(\S*)(?:\s+|$)|(?:^|\s+)(policy|version|amendment)=(\S*)\s*$")


def _try_options(text: str, usage: str) -> tuple[str, dict[str, str]]:
    """The prompt, and the policy=, version= and amendment= options written before or after it."""
    options: dict[str, str] = {}
    while m := _TRY_OPTION.search(text):
        name, value = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        if name in options:
            raise CommandError(f"The option {name}= is given twice.\nUsage:\n{usage}")
        options[name] = value
        text = text[: m.start()] + text[m.end() :]
    return text.strip(), options


def _try(line: _Line) -> c.Command:
    usage = USAGE["try"]
    words = line.rest.split()
    if len(words) == 2 and words[0].lower() == "keep":
        return c.KeepTry(line.actor, _int(words[1], "try", usage))
    prompt, opt = _try_options(line.rest, usage)
    if not prompt:
        raise CommandError(f"Missing the prompt.\nUsage:\n{usage}")
    return c.TryPrompt(
        line.actor,
        turns_from_text(prompt.replace(" || ", "\n").replace("\\n", "\n")),
        policy=opt.get("policy") or None,
        version=_version(opt["version"], usage) if "version" in opt else None,
        amendment_id=_int(opt["amendment"], "amendment", usage) if "amendment" in opt else None,
    )


def _one_precedent(command: Callable[[Actor, int], c.Command]) -> Reader:
    def read(line: _Line) -> c.Command:
        args = line.rest.split()
        _need(args, 1, USAGE["precedent"])
        return command(line.actor, _int(args[0], "precedent", USAGE["precedent"]))

    return read


def _precedent_list(line: _Line) -> c.Command:
    args = line.rest.split()
    if len(args) > 1:
        raise CommandError(f"Name at most one policy.\nUsage:\n{USAGE['precedent']}")
    return c.ListPrecedents(line.actor, args[0] if args else None)


def _precedent_retire(line: _Line) -> c.Command:
    usage = USAGE["precedent"]
    args = line.rest.split(None, 1)
    _need(args, 1, usage)
    return c.RetirePrecedent(line.actor, _int(args[0], "precedent", usage), args[1].strip() if len(args) > 1 else "")


def _checked(command: type[c.PrecedentChecks] | type[c.RecheckPrecedents]) -> Reader:
    """`<amendment>` or `<policy> <version>`."""

    def read(line: _Line) -> c.Command:
        usage = USAGE["precedent"]
        args = line.rest.split()
        if len(args) == 1:
            return command(line.actor, amendment_id=_int(args[0], "amendment", usage))
        if len(args) == 2:
            return command(line.actor, policy=args[0], version=_version(args[1], usage))
        raise CommandError(f"Name an amendment, or a policy and a version.\nUsage:\n{usage}")

    return read


_PRECEDENT: dict[str, Reader] = {
    "list": _precedent_list,
    "show": _one_precedent(c.ShowPrecedent),
    "retire": _precedent_retire,
    "checks": _checked(c.PrecedentChecks),
    "recheck": _checked(c.RecheckPrecedents),
}


# ---------------------------------------------------------------- every command, by name

_COMMANDS: dict[str, Reader] = {
    "help": lambda line: c.Help(line.actor, line.rest),
    "policy": lambda line: _by_subcommand("policy", _POLICY, line),
    "scenario": lambda line: _by_subcommand("scenario", _SCENARIO, line),
    "round": lambda line: _by_subcommand("round", _ROUND, line),
    "react": lambda line: _react(line, removed=False),
    "unreact": lambda line: _react(line, removed=True),
    "amend": lambda line: _by_subcommand("amend", _AMEND, line),
    "stress": _stress,
    "vote": _vote,
    "reminders": _reminders,
    "export": lambda line: _by_subcommand("export", _EXPORT, line, "Export a round, a policy or the community."),
    "privacy": lambda line: _by_subcommand("privacy", _PRIVACY, line),
    "try": _try,  # precedents and /try
    "precedent": lambda line: _by_subcommand("precedent", _PRECEDENT, line),
}

"""Drive the Discord adapter the way Discord does: slash command interactions, reaction events and
button presses delivered over the fake gateway, answers read from the fake REST API."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlmodel import select

from adapters.discord.client import PolicyBot
from bot.bootstrap import App
from bot.domain import commands as c
from bot.domain.commands import Actor
from bot.domain.model import STANCE_EMOJI, AmendmentKind, Stance
from bot.inbound.parser import parse
from storage.tables import CandidateRow
from tests.discord.fake_discord import FakeDiscord, Member

STRING, INTEGER, BOOLEAN, NUMBER = 3, 4, 5, 10


def opt(name: str, value: Any) -> dict[str, Any]:
    kind = INTEGER if isinstance(value, int) else NUMBER if isinstance(value, float) else STRING
    kind = BOOLEAN if isinstance(value, bool) else kind
    return {"name": name, "type": kind, "value": value}


def sub(name: str, *options: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": name, "type": 1, "options": list(options)}]


Slash = tuple[str, list[dict[str, Any]]]


def _some(*pairs: tuple[str, Any]) -> list[dict[str, Any]]:
    """The options that are given (None, "" and False are options left out)."""
    return [opt(name, value) for name, value in pairs if value not in (None, "", False)]


def _open_round(cmd: c.OpenRound) -> Slash:
    d = c.ROUND_DEFAULTS
    options = [opt("policy", cmd.policy), opt("scenarios", ",".join(str(i) for i in cmd.scenario_ids)), opt("k", cmd.k)]
    given = {"review": cmd.review, "amend": cmd.amend, "vote": cmd.vote, "quorum": cmd.quorum, "threshold": cmd.threshold}
    defaults = {"quorum": d.quorum, "threshold": d.threshold}
    options += [opt(name, value) for name, value in given.items() if value and value != defaults.get(name)]
    options += _some(("review_ends", cmd.review_ends), ("amend_ends", cmd.amend_ends), ("vote_ends", cmd.vote_ends))
    return "round", sub("open", *options)


def _amendment(cmd: c.ProposeAmendment) -> Slash:
    options = [opt("round", cmd.round_id)]
    if cmd.kind == AmendmentKind.ADD:
        options += _some(("text", cmd.text), ("after", cmd.clause))
    else:
        options.append(opt("clause", cmd.clause))
        options += _some(("text", cmd.text))
    options += _some(("rationale", cmd.rationale))
    return "amend", sub(cmd.kind.value, *options)


def _reaction(cmd: c.RecordReaction) -> Slash:
    options = [opt("candidate", cmd.candidate_id), opt("stance", cmd.stance.value), *_some(("reason", cmd.reason))]
    return ("unreact" if cmd.removed else "react"), options


def _export_choice(cmd: c.PrivacyExportChoice) -> Slash:
    if cmd.consent is not None:
        return "privacy", sub("consent", opt("answer", "yes" if cmd.consent else "no"))
    return "privacy", sub("optout" if cmd.opt_out else "optin")


def _stress(cmd: c.ProposeStressCases) -> Slash:
    kinds = ",".join(cmd.kinds) if cmd.kinds != c.ProposeStressCases(cmd.actor, 0).kinds else None
    more = _some(("clause", cmd.clause), ("kinds", kinds), ("n", cmd.per_kind if cmd.per_kind != 1 else None))
    return "stress", sub("propose", opt("round", cmd.round_id), *more)


def _try(cmd: c.TryPrompt) -> list[dict[str, Any]]:
    prompt = " || ".join(f"{t.role}: {t.content}" for t in cmd.turns) if len(cmd.turns) > 1 else cmd.turns[0].content
    return [opt("prompt", prompt), *_some(("policy", cmd.policy), ("version", cmd.version), ("amendment", cmd.amendment_id))]


def _round(name: str, *more: str) -> Any:
    """/round <name> with the command's round, and these fields of the command as options of the same name."""
    return lambda cmd, text: ("round", sub(name, *_some(("round", cmd.round_id), *((f, getattr(cmd, f)) for f in more))))


# the application command Discord would send for each kind of command (the text is the command's text form)
SLASH: dict[type[c.Command], Any] = {
    c.CreatePolicy: lambda cmd, text: ("policy", sub("create", opt("name", cmd.name), opt("text", cmd.text))),
    c.ListPolicies: lambda cmd, text: ("policy", sub("list")),
    c.ShowPolicy: lambda cmd, text: ("policy", sub("show", opt("name", cmd.name), *_some(("version", cmd.version)))),
    c.PolicyHistory: lambda cmd, text: ("policy", sub("history", opt("name", cmd.name))),
    c.DiffPolicy: lambda cmd, text: (
        "policy",
        sub("diff", opt("name", cmd.name), opt("from_version", cmd.from_version), opt("to_version", cmd.to_version)),
    ),
    c.AddScenario: lambda cmd, text: ("scenario", sub("add", opt("prompt", text.split(None, 2)[2]))),
    c.ListScenarios: lambda cmd, text: ("scenario", sub("list")),
    c.RemoveScenario: lambda cmd, text: ("scenario", sub("remove", opt("scenario", cmd.scenario_id))),
    c.OpenRound: lambda cmd, text: _open_round(cmd),
    c.RoundStatus: _round("status"),
    c.RoundResults: _round("results"),
    c.AdvanceRound: _round("advance"),
    c.CancelRound: _round("cancel"),
    c.PausePhase: _round("pause"),
    c.ResumePhase: _round("resume"),
    c.ExtendPhase: _round("extend", "by"),
    c.ShortenPhase: _round("shorten", "by"),
    c.SetPhaseEnd: lambda cmd, text: ("round", sub("ends", opt("round", cmd.round_id), opt("when", cmd.ends))),
    c.ContributeResponse: lambda cmd, text: (
        "round",
        sub("respond", opt("round", cmd.round_id), opt("scenario", cmd.scenario_id), opt("text", cmd.text)),
    ),
    c.RecordReaction: lambda cmd, text: _reaction(cmd),
    c.ProposeAmendment: lambda cmd, text: _amendment(cmd),
    c.ListAmendments: lambda cmd, text: ("amend", sub("list", opt("round", cmd.round_id))),
    c.WithdrawAmendment: lambda cmd, text: ("amend", sub("withdraw", opt("amendment", cmd.amendment_id))),
    c.CastBallot: lambda cmd, text: ("vote", [opt("amendment", cmd.amendment_id), opt("choice", cmd.choice.value)]),
    c.SetReminderMessages: lambda cmd, text: ("reminders", [opt("setting", "on" if cmd.enabled else "off")]),
    c.ExportData: lambda cmd, text: ("export", sub("round", opt("round", cmd.round_id))),
    c.PrivacyShow: lambda cmd, text: ("privacy", sub("show")),
    c.PrivacyExportChoice: lambda cmd, text: _export_choice(cmd),
    c.PrivacyErase: lambda cmd, text: ("privacy", sub("erase", *_some(("confirm", cmd.confirm)))),
    c.PrivacyName: lambda cmd, text: ("privacy", sub("name", opt("setting", "on" if cmd.named else "off"))),
    c.PrivacyAttributes: lambda cmd, text: (
        "privacy",
        sub("attributes", *_some(("agree", cmd.agree), ("clear", cmd.clear), *cmd.attributes)),
    ),
    c.Help: lambda cmd, text: ("help", _some(("topic", cmd.topic))),
    c.ProposeStressCases: lambda cmd, text: _stress(cmd),
    c.AcceptStressCase: lambda cmd, text: ("stress", sub("accept", opt("case", cmd.case_id))),
    # precedents and /try
    c.TryPrompt: lambda cmd, text: ("try", _try(cmd)),
    c.KeepTry: lambda cmd, text: ("try", [opt("keep", cmd.try_id)]),
    c.ListPrecedents: lambda cmd, text: ("precedent", sub("list", *_some(("policy", cmd.policy)))),
    c.ShowPrecedent: lambda cmd, text: ("precedent", sub("show", opt("precedent", cmd.precedent_id))),
    c.RetirePrecedent: lambda cmd, text: (
        "precedent",
        sub("retire", opt("precedent", cmd.precedent_id), *_some(("reason", cmd.reason))),
    ),
    c.PrecedentChecks: lambda cmd, text: (
        "precedent",
        sub("checks", *_some(("amendment", cmd.amendment_id), ("policy", cmd.policy), ("version", cmd.version))),
    ),
}


def slash_for(cmd: c.Command, text: str) -> Slash:
    """The application command Discord would send for the command this text stands for."""
    to_slash = SLASH.get(type(cmd))
    if to_slash is None or (isinstance(cmd, c.ExportData) and cmd.round_id is None):
        raise AssertionError(f"the driver does not map {type(cmd).__name__}")
    name, options = to_slash(cmd, text)
    return str(name), list(options)


def reply_text(messages: list[dict[str, Any]]) -> str:
    return "\n".join(t for m in messages for t in FakeDiscord.texts_of(m))


class DiscordDriver:
    """A ConformanceDriver for Discord."""

    def __init__(self, fake: FakeDiscord, client: PolicyBot, app: App) -> None:
        self.fake = fake
        self.client = client
        self.app = app
        self.expected = client.adapter.handled

    async def deliver(self, event: str, payload: dict[str, Any]) -> int:
        self.expected += 1
        return await self.fake.gateway.dispatch(event, payload)

    async def handled(self) -> None:
        # bounded, so a lost event fails the test instead of hanging it
        await asyncio.wait_for(self.client.adapter.wait_handled(self.expected), 30)

    async def slash(self, member: Member, name: str, options: list[dict[str, Any]], **kw: Any) -> str:
        payload = self.fake.slash(member, name, options, **kw)
        await self.deliver("INTERACTION_CREATE", payload)
        await self.handled()
        return reply_text(self.fake.followups.get(payload["token"], []))

    async def command(self, member: str, text: str, *, moderator: bool = False) -> str:
        who = self.fake.member(member, moderator=moderator)
        cmd = parse(text, Actor("discord", "g", member), "channel")
        name, options = slash_for(cmd, text)
        return await self.slash(who, name, options)

    async def candidate_message(self, candidate_id: int) -> dict[str, Any]:
        async with self.app.engine.services.uow() as uow:
            row = (await uow.session.exec(select(CandidateRow).where(CandidateRow.id == candidate_id))).one()
        assert row.message_key is not None
        channel, _, message = row.message_key.partition(":")
        found = self.fake.messages[int(message)]
        assert found["channel_id"] == channel
        return found

    async def react(
        self, member: str, candidate_id: int, stance: Stance, *, remove: bool = False, duplicate: bool = False
    ) -> None:
        who = self.fake.member(member)
        message = await self.candidate_message(candidate_id)
        event = "MESSAGE_REACTION_REMOVE" if remove else "MESSAGE_REACTION_ADD"
        seq = await self.deliver(event, self.fake.reaction(who, message, STANCE_EMOJI[stance], remove=remove))
        if duplicate:
            self.expected += 1
            await self.fake.gateway.redeliver(seq)
        await self.handled()

    async def press(self, member: str, custom_id: str) -> str:
        payload = self.fake.press(self.fake.member(member), custom_id)
        await self.deliver("INTERACTION_CREATE", payload)
        await self.handled()
        return reply_text(self.fake.followups.get(payload["token"], []))

    async def settle(self) -> None:
        await self.app.engine.drain()

    def posted_texts(self) -> list[str]:
        return [t for m in self.fake.posted_messages() for t in FakeDiscord.texts_of(m)]

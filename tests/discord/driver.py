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

STRING, INTEGER, NUMBER = 3, 4, 10


def opt(name: str, value: Any) -> dict[str, Any]:
    kind = INTEGER if isinstance(value, int) else NUMBER if isinstance(value, float) else STRING
    return {"name": name, "type": kind, "value": value}


def sub(name: str, *options: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"name": name, "type": 1, "options": list(options)}]


def slash_for(cmd: c.Command, text: str) -> tuple[str, list[dict[str, Any]]]:
    """The application command Discord would send for the command this text stands for."""
    if isinstance(cmd, c.CreatePolicy):
        return "policy", sub("create", opt("name", cmd.name), opt("text", cmd.text))
    if isinstance(cmd, c.ListPolicies):
        return "policy", sub("list")
    if isinstance(cmd, c.ShowPolicy):
        return "policy", sub("show", opt("name", cmd.name), *([opt("version", cmd.version)] if cmd.version else []))
    if isinstance(cmd, c.PolicyHistory):
        return "policy", sub("history", opt("name", cmd.name))
    if isinstance(cmd, c.DiffPolicy):
        versions = opt("from_version", cmd.from_version), opt("to_version", cmd.to_version)
        return "policy", sub("diff", opt("name", cmd.name), *versions)
    if isinstance(cmd, c.RemoveScenario):
        return "scenario", sub("remove", opt("scenario", cmd.scenario_id))
    if isinstance(cmd, c.ContributeResponse):
        return "round", sub("respond", opt("round", cmd.round_id), opt("scenario", cmd.scenario_id), opt("text", cmd.text))
    if isinstance(cmd, c.RecordReaction):
        options = [opt("candidate", cmd.candidate_id), opt("stance", cmd.stance.value)]
        if cmd.reason:
            options.append(opt("reason", cmd.reason))
        return ("unreact" if cmd.removed else "react"), options
    if isinstance(cmd, c.AddScenario):
        return "scenario", sub("add", opt("prompt", text.split(None, 2)[2]))
    if isinstance(cmd, c.ListScenarios):
        return "scenario", sub("list")
    if isinstance(cmd, c.OpenRound):
        options = [opt("policy", cmd.policy), opt("scenarios", ",".join(str(i) for i in cmd.scenario_ids)), opt("k", cmd.k)]
        for name, value, default in (
            ("review", cmd.review, "48h"),
            ("amend", cmd.amend, "24h"),
            ("vote", cmd.vote, "24h"),
            ("quorum", cmd.quorum, 1),
            ("threshold", cmd.threshold, ">1/2"),
        ):
            if value != default:
                options.append(opt(name, value))
        return "round", sub("open", *options)
    if isinstance(cmd, c.RoundStatus):
        return "round", sub("status", *([opt("round", cmd.round_id)] if cmd.round_id else []))
    if isinstance(cmd, c.AdvanceRound):
        return "round", sub("advance", opt("round", cmd.round_id))
    if isinstance(cmd, c.CancelRound):
        return "round", sub("cancel", opt("round", cmd.round_id))
    if isinstance(cmd, c.ProposeAmendment):
        options = [opt("round", cmd.round_id)]
        if cmd.kind == AmendmentKind.ADD:
            options.append(opt("text", cmd.text))
            if cmd.clause is not None:
                options.append(opt("after", cmd.clause))
        else:
            options.append(opt("clause", cmd.clause))
            if cmd.kind == AmendmentKind.REPLACE:
                options.append(opt("text", cmd.text))
        if cmd.rationale:
            options.append(opt("rationale", cmd.rationale))
        return "amend", sub(cmd.kind.value, *options)
    if isinstance(cmd, c.ListAmendments):
        return "amend", sub("list", opt("round", cmd.round_id))
    if isinstance(cmd, c.WithdrawAmendment):
        return "amend", sub("withdraw", opt("amendment", cmd.amendment_id))
    if isinstance(cmd, c.CastBallot):
        return "vote", [opt("amendment", cmd.amendment_id), opt("choice", cmd.choice.value)]
    if isinstance(cmd, c.RoundResults):
        return "round", sub("results", *([opt("round", cmd.round_id)] if cmd.round_id else []))
    if isinstance(cmd, c.ExtendPhase | c.ShortenPhase):
        return "round", sub(
            "extend" if isinstance(cmd, c.ExtendPhase) else "shorten", opt("round", cmd.round_id), opt("by", cmd.by)
        )
    if isinstance(cmd, c.SetPhaseEnd):
        return "round", sub("ends", opt("round", cmd.round_id), opt("when", cmd.ends))
    if isinstance(cmd, c.PausePhase | c.ResumePhase):
        return "round", sub("pause" if isinstance(cmd, c.PausePhase) else "resume", opt("round", cmd.round_id))
    if isinstance(cmd, c.SetReminderMessages):
        return "reminders", [opt("setting", "on" if cmd.enabled else "off")]
    if isinstance(cmd, c.ExportData) and cmd.round_id is not None:
        return "export", sub("round", opt("round", cmd.round_id))
    if isinstance(cmd, c.PrivacyShow):
        return "privacy", sub("show")
    if isinstance(cmd, c.PrivacyExportChoice) and cmd.opt_out is not None:
        return "privacy", sub("optout" if cmd.opt_out else "optin")
    if isinstance(cmd, c.Help):
        return "help", [opt("topic", cmd.topic)] if cmd.topic else []
    raise AssertionError(f"the driver does not map {type(cmd).__name__}")


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

"""The Discord adapter end to end: discord.py's own client, HTTP and gateway code against the local
fake Discord; the core and the database for real; only the model is our fake Generator."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import col, func, select

from bot.domain.model import STANCE_EMOJI, Stance
from bot.ports import Completion, Prompt
from storage.tables import BallotEventRow, CandidateRow, ReactionEventRow, RoundRow
from tests.conformance.scenario import POLICY_TEXT
from tests.discord.conftest import RunningBot, StartBot
from tests.discord.driver import DiscordDriver, opt, sub
from tests.discord.fake_discord import FakeDiscord

EPHEMERAL = 64
DEFERRED_CHANNEL_MESSAGE = 5


@dataclass
class ScriptedGenerator:
    """Answers with the given texts in turn (our Generator port, not a library)."""

    texts: list[str]
    model_name: str = "fake/scripted"
    _n: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def model(self) -> str:
        return self.model_name

    async def complete(self, prompt: Prompt) -> Completion:
        return Completion(text=self.texts[next(self._n) % len(self.texts)], model=self.model_name)


def driver(fake: FakeDiscord, bot: RunningBot) -> DiscordDriver:
    return DiscordDriver(fake, bot.client, bot.app)


async def open_round(d: DiscordDriver, *, scenarios: int = 2, k: int = 2) -> None:
    assert "Created policy" in await d.command("mod", "/policy create kind " + POLICY_TEXT, moderator=True)
    for i in range(1, scenarios + 1):
        assert f"Added scenario #{i}" in await d.command("mod", f"/scenario add Question number {i}?", moderator=True)
    ids = ",".join(str(i) for i in range(1, scenarios + 1))
    assert "Opening round #1" in await d.command("mod", f"/round open kind scenarios={ids} k={k}", moderator=True)
    await d.settle()


async def count(bot: RunningBot, stmt: Any) -> int:
    async with bot.app.engine.services.uow() as uow:
        return int((await uow.session.exec(stmt)).one())


# ---------------------------------------------------------------- the command tree


def _command(payload: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(c for c in payload if c["name"] == name)


def _option(parent: dict[str, Any], name: str) -> dict[str, Any]:
    return next(o for o in parent.get("options", []) if o["name"] == name)


async def test_command_tree_sync_payload(fake: FakeDiscord, start_bot: StartBot) -> None:
    await start_bot()
    payload = fake.synced["global"]
    names = {c["name"] for c in payload}
    assert names == {
        *("policy", "scenario", "round", "amend", "vote", "react", "unreact", "stress", "reminders", "export", "privacy"),
        *("settings", "help"),
        *("try", "precedent"),  # precedents and /try
    }
    for c in payload:
        assert c["type"] == 1 and c["description"]
        assert c["contexts"] == [0] and c["integration_types"] == [0], c["name"]  # in servers only, installed to servers

    policy = _command(payload, "policy")
    assert {o["name"] for o in policy["options"]} == {"create", "show", "history", "diff", "list"}
    create = _option(policy, "create")
    assert create["type"] == 1
    name = _option(create, "name")
    assert (name["type"], name["required"], name["max_length"]) == (3, True, 64)
    assert _option(create, "file")["type"] == 11  # an attachment
    assert _option(_option(policy, "show"), "name")["autocomplete"] is True

    round_ = _command(payload, "round")
    assert {o["name"] for o in round_["options"]} == {
        *("open", "status", "results", "advance", "cancel", "respond", "retry"),
        *("extend", "shorten", "ends", "pause", "resume"),
    }
    opened = _option(round_, "open")
    k = _option(opened, "k")
    assert (k["type"], k["min_value"], k["max_value"], k.get("required", False)) == (4, 2, 8, False)
    assert _option(opened, "quorum_share")["type"] == 10
    assert _option(opened, "scenarios")["autocomplete"] is True
    assert _option(_option(round_, "advance"), "round")["autocomplete"] is True

    amend = _command(payload, "amend")
    assert {o["name"] for o in amend["options"]} == {"add", "replace", "remove", "withdraw", "list"}
    assert _option(_option(amend, "replace"), "clause")["autocomplete"] is True

    vote = _command(payload, "vote")
    assert [c["value"] for c in _option(vote, "choice")["choices"]] == ["yes", "no", "abstain"]
    assert _option(vote, "amendment")["autocomplete"] is True
    react = _command(payload, "react")
    assert [c["value"] for c in _option(react, "stance")["choices"]] == ["endorse", "object", "pass", "best"]
    topics = [c["value"] for c in _option(_command(payload, "help"), "topic")["choices"]]
    assert {"policy", "round", "amend", "vote", "stress", "export", "privacy", "reminders"} <= set(topics)
    settings = _command(payload, "settings")
    assert settings["default_member_permissions"] is None  # shown to moderators by role too
    assert _option(_option(settings, "moderator-role"), "role")["type"] == 8
    export = _command(payload, "export")
    assert export["default_member_permissions"] is None
    assert {o["name"] for o in export["options"]} == {"round", "policy", "community", "settings"}
    privacy = _command(payload, "privacy")
    assert {o["name"] for o in privacy["options"]} == {"show", "optout", "optin", "consent", "attributes", "name", "erase"}
    assert {o["name"] for o in _command(payload, "stress")["options"]} == {"propose", "accept"}


async def test_guild_sync_for_development(fake: FakeDiscord, start_bot: StartBot) -> None:
    await start_bot(guild_id=fake.guild_id)
    assert fake.synced["global"] == []  # the scope not synced is cleared: no command shows twice
    assert {c["name"] for c in fake.synced[str(fake.guild_id)]} >= {"policy", "round", "vote"}


# ---------------------------------------------------------------- every command: defer at once, then follow up


COMMANDS: list[tuple[str, str, bool, str]] = [
    # (member, text, moderator, what the private answer says)
    ("mod", "/policy create kind " + POLICY_TEXT, True, "Created policy 'kind' v1"),
    ("mod", "/policy show kind", True, "Be kind to every member"),
    ("mod", "/policy history kind", True, "v1"),
    ("mod", "/policy list", True, "kind"),
    ("mod", "/scenario add How do I treat a small kitchen burn?", True, "Added scenario #1"),
    ("mod", "/scenario add Is it safe to skip breakfast?", True, "Added scenario #2"),
    ("mod", "/scenario list", True, "#2"),
    ("mod", "/round open kind scenarios=1,2 k=2", True, "Opening round #1"),
    ("alice", "/round status", False, "Round #1"),
    ("mod", "/round extend 1 12h", True, "REVIEW now ends <t:"),
    ("mod", "/round pause 1", True, "paused"),
    ("mod", "/round resume 1", True, "running again"),
    ("alice", "/reminders off", False, "reminders"),
    ("alice", "/round results 1", False, "Round #1"),
    ("alice", "/react 1 endorse too wordy but right", False, "recorded"),
    ("alice", "/unreact 1 endorse", False, "removed"),
    ("bob", "/round respond 1 1 Run it under cool water for twenty minutes.", False, "Your response is candidate #5"),
    ("mod", "/scenario remove 2", True, "#2"),
    ("alice", "/amend add 1 Always answer in plain words. -- clarity", False, "Proposed amendment #1"),
    ("bob", "/amend remove 1 2 -- too strict", False, "Proposed amendment #2"),
    ("bob", "/amend withdraw 2", False, "Withdrew amendment #2"),
    ("alice", "/amend list 1", False, "#1"),
    ("mod", "/round advance 1", True, "AMEND"),
    ("mod", "/round advance 1", True, "VOTE"),
    ("alice", "/vote 1 yes", False, "recorded: yes"),
    ("mod", "/round advance 1", True, "v2"),
    ("mod", "/policy diff kind 1 2", True, "plain words"),
    ("mod", "/export round 1", True, "Export of round #1"),
    ("alice", "/privacy show", False, "What policybot holds about you"),
    ("alice", "/privacy optout", False, "export"),
    ("mod", "/round cancel 1", True, "CLOSED"),
    ("alice", "/help round", False, "/round open"),
]


async def test_every_command_is_deferred_then_answered_privately(fake: FakeDiscord, start_bot: StartBot) -> None:
    bot = await start_bot()
    d = driver(fake, bot)
    for member, text, moderator, expected in COMMANDS:
        before = len(fake.calls)
        answer = await d.command(member, text, moderator=moderator)
        if text == "/round open kind scenarios=1,2 k=2":
            await d.settle()
        assert expected in answer, (text, answer)
        calls = fake.calls[before:]
        callbacks = [i for i, c in enumerate(calls) if c.path.endswith("/callback")]
        followups = [i for i, c in enumerate(calls) if c.path.startswith("/webhooks/") and c.method == "POST"]
        assert len(callbacks) == 1, text
        callback = calls[callbacks[0]]
        assert callback.query.get("with_response") in ("1", "true", "True"), callback.query
        assert callback.body == {"type": DEFERRED_CHANNEL_MESSAGE, "data": {"flags": EPHEMERAL}}, text
        assert followups and callbacks[0] < followups[0], f"{text}: answered before deferring"
        for i in followups:
            assert calls[i].body["flags"] & EPHEMERAL, text
            assert calls[i].body["allowed_mentions"] == {"parse": []}, text
        files = [name for i in followups for name in calls[i].files]
        if text.startswith(("/export", "/privacy show")):  # files come as attachments of the private answer
            assert files and files[0].endswith((".zip", ".json")), (text, files, answer)
    # files too: a policy and scenarios read from attachments members upload
    fake.files["p.md"] = b"# Kind\n1. Be kind.\n2. Be brief.\n"
    fake.files["s.jsonl"] = b'{"prompt": "What is a fair refund?"}\n{"prompt": "Can I swear here?"}\n'

    def attachment(name: str) -> dict[str, Any]:
        url = f"{fake.base}/files/{name}"
        return {"id": "9" + str(len(name)), "filename": name, "size": len(fake.files[name]), "url": url, "proxy_url": url}

    mod = fake.member("mod", moderator=True)
    p = attachment("p.md")
    answer = await d.slash(
        mod,
        "policy",
        sub("create", opt("name", "brief"), {"name": "file", "type": 11, "value": p["id"]}),
        resolved={"attachments": {p["id"]: p}},
    )
    assert "Created policy 'brief' v1 with 2 clause(s)" in answer, answer
    s = attachment("s.jsonl")
    answer = await d.slash(
        mod, "scenario", sub("import", {"name": "file", "type": 11, "value": s["id"]}), resolved={"attachments": {s["id"]: s}}
    )
    assert "2" in answer and "mport" in answer, answer
    neither = await d.slash(mod, "policy", sub("create", opt("name", "empty")))
    assert "either as text or as a file" in neither


async def test_opener_hears_privately_when_the_round_is_posted(fake: FakeDiscord, start_bot: StartBot) -> None:
    bot = await start_bot()
    d = driver(fake, bot)
    await open_round(d)
    token = next(t for t, msgs in fake.followups.items() if any("Opening round #1" in (m["content"] or "") for m in msgs))
    texts = [m["content"] for m in fake.followups[token]]
    assert any("is open for review with 4 candidates" in t for t in texts), texts
    assert all(m["flags"] & EPHEMERAL for m in fake.followups[token])


async def test_autocomplete_offers_this_servers_policies_and_clauses(fake: FakeDiscord, start_bot: StartBot) -> None:
    bot = await start_bot()
    d = driver(fake, bot)
    await open_round(d)
    await d.command("mod", "/policy create kinder 1. Be kinder.", moderator=True)
    member = fake.member("alice")
    payload = fake.autocomplete(member, "policy", sub("show", {"name": "name", "type": 3, "value": "kin", "focused": True}))
    await fake.gateway.dispatch("INTERACTION_CREATE", payload)
    await fake.wait_for(lambda: payload["token"] in fake.callbacks)
    answer = fake.callbacks[payload["token"]][0]
    assert answer["type"] == 8
    assert [c["value"] for c in answer["data"]["choices"]] == ["kind", "kinder"]

    payload = fake.autocomplete(
        member, "amend", sub("replace", opt("round", 1), {"name": "clause", "type": 4, "value": "med", "focused": True})
    )
    await fake.gateway.dispatch("INTERACTION_CREATE", payload)
    await fake.wait_for(lambda: payload["token"] in fake.callbacks)
    choices = fake.callbacks[payload["token"]][0]["data"]["choices"]
    assert choices == [{"name": "3. Never give medical advice.", "value": 3}]


# ---------------------------------------------------------------- posting a round


async def test_round_is_posted_as_threads_with_seeded_reactions_and_buttons(fake: FakeDiscord, start_bot: StartBot) -> None:
    bot = await start_bot()
    d = driver(fake, bot)
    await open_round(d, scenarios=2, k=2)
    in_channel = fake.channel_messages(fake.channel_id)
    titles = [m["embeds"][0]["title"] for m in in_channel]
    assert titles[0].startswith("Policy round #1: kind v1")
    assert [t for t in titles if "scenario" in t] == [
        "Round #1 · scenario 1 (#1): Question number 1?",
        "Round #1 · scenario 2 (#2): Question number 2?",
    ]
    assert len(fake.threads) == 2
    for scenario_message in in_channel[1:]:
        thread = fake.threads[int(scenario_message["id"])]  # the thread hangs off the scenario's message
        assert thread["parent_id"] == str(fake.channel_id)
        assert thread["thread_metadata"]["auto_archive_duration"] == 10080
        candidates = fake.channel_messages(int(thread["id"]))
        assert [m["embeds"][0]["title"].split(" (")[0] for m in candidates] == ["Candidate A", "Candidate B"]
        for m in candidates:
            seeded = [e for (ch, mid, e) in fake.reactions if mid == int(m["id"])]
            assert seeded == ["👍", "👎", "🤷"]
            buttons = [c for row in m["components"] for c in row["components"]]
            assert len(buttons) == 1 and buttons[0]["custom_id"].startswith("policybot:best:")
    async with bot.app.engine.services.uow() as uow:
        keys = (await uow.session.exec(select(CandidateRow.message_key).order_by(col(CandidateRow.id)))).all()
    for key in keys:
        assert key is not None
        channel, _, message = key.partition(":")
        assert int(channel) in fake.threads and fake.messages[int(message)]["channel_id"] == channel
    assert fake.rate_limited == 0


async def test_ten_scenarios_of_four_candidates_post_without_a_429(fake: FakeDiscord, start_bot: StartBot) -> None:
    # Two messages a second per channel: each thread's four candidates empty its bucket twice however
    # slowly a loaded machine posts them (a shorter window can refill between two slow posts).
    fake.limits["message"] = (2, 1.0)
    bot = await start_bot()
    d = driver(fake, bot)
    await open_round(d, scenarios=10, k=4)
    assert len(fake.threads) == 10
    assert len(fake.posted_messages()) == 1 + 10 + 40
    assert len(fake.reactions) == 40 * 3
    assert fake.rate_limited == 0
    # the buckets were really in force: discord.py emptied them and waited (so no 429 is not luck)
    assert fake.exhausted.get("message", 0) >= 20 and fake.exhausted.get("reaction", 0) >= 100, fake.exhausted
    posted = select(func.count()).select_from(CandidateRow).where(col(CandidateRow.message_key).is_not(None))
    assert await count(bot, posted) == 40


async def test_a_429_is_honoured_and_the_post_goes_through_once(fake: FakeDiscord, start_bot: StartBot) -> None:
    bot = await start_bot()
    d = driver(fake, bot)
    fake.force_429["message"] = 1  # the next channel message is refused once, with Discord's headers
    await open_round(d, scenarios=1, k=2)
    assert fake.rate_limited == 1
    refused = [i for i, c in enumerate(fake.calls) if c.status == 429]
    assert len(refused) == 1
    retried = fake.calls[refused[0] + 1 :]
    assert any(c.path == fake.calls[refused[0]].path and c.status == 200 for c in retried)
    titles = [m["embeds"][0]["title"] for m in fake.posted_messages()]
    assert len(titles) == len(set(titles)) == 1 + 1 + 2  # nothing posted twice, nothing lost


async def test_mentions_in_model_text_are_inert(fake: FakeDiscord, start_bot: StartBot) -> None:
    ping = "@everyone look! <@&123> and @here"
    bot = await start_bot(generator=ScriptedGenerator([ping]))
    d = driver(fake, bot)
    await open_round(d, scenarios=1, k=2)
    candidates = [m for m in fake.posted_messages() if m["embeds"][0]["title"].startswith("Candidate")]
    assert candidates and all(ping in m["embeds"][0]["description"] for m in candidates)
    for m in fake.posted_messages():
        assert m["allowed_mentions"] == {"parse": []}, m["embeds"][0]["title"]
    for messages in fake.followups.values():
        assert all(m["allowed_mentions"] == {"parse": []} for m in messages)
    answer = await d.command("alice", "/amend add 1 @everyone must obey -- @here")
    assert "@everyone must obey" in answer
    proposal = fake.message_titled("Amendment #1 proposed")
    assert proposal["allowed_mentions"] == {"parse": []} and "@everyone" in proposal["embeds"][0]["description"]


async def test_an_over_long_candidate_is_split_and_reactions_go_on_its_first_part(fake: FakeDiscord, start_bot: StartBot) -> None:
    long_text = "\n\n".join(f"Step {i}: " + "keep the burn under cool running water " * 12 for i in range(20))
    assert len(long_text) > 9000
    bot = await start_bot(generator=ScriptedGenerator([long_text, "Short answer."]))
    d = driver(fake, bot)
    await open_round(d, scenarios=1, k=2)
    thread = next(iter(fake.threads))
    parts = [m for m in fake.channel_messages(thread) if "Candidate A" in m["embeds"][0]["title"]]
    assert len(parts) == 3
    assert all(len(m["embeds"][0]["description"]) <= 4096 for m in parts)
    assert " ".join(m["embeds"][0]["description"] for m in parts).split() == long_text.split()
    assert "continued, part 2/3" in parts[1]["embeds"][0]["title"]
    first = parts[0]
    assert [e for (_, mid, e) in fake.reactions if mid == int(first["id"])] == ["👍", "👎", "🤷"]
    assert all(not [e for (_, mid, e) in fake.reactions if mid == int(m["id"])] for m in parts[1:])
    await d.react("alice", 1, Stance.ENDORSE)
    assert await count(bot, select(func.count()).select_from(ReactionEventRow)) == 1


# ---------------------------------------------------------------- reactions in and out


async def test_reactions_in_and_out(fake: FakeDiscord, start_bot: StartBot) -> None:
    bot = await start_bot()
    d = driver(fake, bot)
    await open_round(d, scenarios=1, k=2)
    first = await d.candidate_message(1)
    alice, bob = fake.member("alice"), fake.member("bob")

    async def events() -> list[tuple[str, str, str]]:
        async with bot.app.engine.services.uow() as uow:
            rows = (await uow.session.exec(select(ReactionEventRow).order_by(col(ReactionEventRow.id)))).all()
        return [(r.member, r.stance, r.action) for r in rows]

    # the bot's own seeded reactions arrive as events too, and never count
    bot_member = fake.member("policybot")
    bot_member.id = fake.app_id
    await d.deliver("MESSAGE_REACTION_ADD", fake.reaction(bot_member, first, "👍"))
    # other emoji are ignored; a skin tone still endorses
    await d.deliver("MESSAGE_REACTION_ADD", fake.reaction(alice, first, "🎉"))
    await d.deliver("MESSAGE_REACTION_ADD", fake.reaction(alice, first, "👍🏽"))
    await d.handled()
    assert await events() == [(str(alice.id), "endorse", "add")]

    # out, then in again: a genuine re-add is a new event (new sequence number)
    await d.deliver("MESSAGE_REACTION_REMOVE", fake.reaction(alice, first, "👍🏽", remove=True))
    seq = await d.deliver("MESSAGE_REACTION_ADD", fake.reaction(alice, first, "👍🏽"))
    await d.handled()
    assert [e[2] for e in await events()] == ["add", "remove", "add"]

    # delivered twice on the same connection: counted once
    d.expected += 1
    await fake.gateway.redeliver(seq)
    await d.handled()
    assert len(await events()) == 3

    # a dropped connection: discord.py RESUMEs, and the gateway replays from before the last event
    last = await d.deliver("MESSAGE_REACTION_ADD", fake.reaction(bob, first, "⭐"))
    await d.handled()
    identifies = fake.gateway.identifies
    d.expected += 1  # the replayed event (and the RESUMED dispatch, which is not a reaction)
    await fake.gateway.drop(replay_from=last)
    await fake.gateway.wait_connected()
    await d.handled()
    assert fake.gateway.resumes == 1 and fake.gateway.identifies == identifies  # resumed, not a new session
    assert await events() == [
        (str(alice.id), "endorse", "add"),
        (str(alice.id), "endorse", "remove"),
        (str(alice.id), "endorse", "add"),
        (str(bob.id), "best", "add"),
    ]
    # and after the resume, new events still arrive and count
    await d.deliver("MESSAGE_REACTION_ADD", fake.reaction(bob, first, STANCE_EMOJI[Stance.OBJECT]))
    await d.handled()
    assert len(await events()) == 5


async def test_best_button_records_a_best_reaction(fake: FakeDiscord, start_bot: StartBot) -> None:
    bot = await start_bot()
    d = driver(fake, bot)
    await open_round(d, scenarios=1, k=2)
    answer = await d.press("alice", "policybot:best:2")
    assert "best on candidate #2 is recorded" in answer, answer
    assert await count(bot, select(func.count()).select_from(ReactionEventRow).where(ReactionEventRow.stance == "best")) == 1


# ---------------------------------------------------------------- ballots, moderators


async def test_ballot_button_works_on_a_fresh_bot_process(fake: FakeDiscord, start_bot: StartBot) -> None:
    first = await start_bot()
    d = driver(fake, first)
    await open_round(d, scenarios=1, k=2)
    await d.command("mod", "/round advance 1", moderator=True)
    await d.command("alice", "/amend replace 1 3 Give first-aid basics and suggest a doctor. -- too strict")
    assert "VOTE" in await d.command("mod", "/round advance 1", moderator=True)
    await d.settle()
    ballot = fake.message_with_custom_id("policybot:ballot:1:yes")
    assert [c["custom_id"] for row in ballot["components"] for c in row["components"]] == [
        "policybot:ballot:1:yes",
        "policybot:ballot:1:no",
        "policybot:ballot:1:abstain",
    ]
    await first.stop()

    second = await start_bot()  # a new client and app on the same database; nothing in memory
    assert fake.gateway.identifies == 2
    d2 = driver(fake, second)
    answer = await d2.press("bob", "policybot:ballot:1:no")
    assert "Your ballot on amendment #1 is recorded: no" in answer, answer
    async with second.app.engine.services.uow() as uow:
        ballots = (await uow.session.exec(select(BallotEventRow))).all()
    assert [(b.member, b.choice) for b in ballots] == [(str(fake.members["bob"].id), "no")]
    # the confirmation is private, and the tally stays secret
    payload_token = list(fake.followups)[-1]
    assert all(m["flags"] & EPHEMERAL for m in fake.followups[payload_token])
    assert not re.search(r"\d+ (yes|no)", answer), answer


async def test_moderators_manage_server_or_the_owners_role(fake: FakeDiscord, start_bot: StartBot) -> None:
    bot = await start_bot()
    d = driver(fake, bot)
    assert "Created policy" in await d.command("mod", "/policy create kind " + POLICY_TEXT, moderator=True)
    await d.command("mod", "/scenario add Question?", moderator=True)
    refused = await d.command("carol", "/round open kind scenarios=1 k=2")
    assert "Only moderators can open a round" in refused
    assert await count(bot, select(func.count()).select_from(RoundRow)) == 0

    role = {"id": str(fake.mod_role_id), "name": "stewards", "color": 0, "hoist": False, "position": 1,
            "permissions": "0", "managed": False, "mentionable": False, "flags": 0}  # fmt: skip
    set_role = sub("moderator-role", {"name": "role", "type": 8, "value": str(fake.mod_role_id)})
    resolved = {"roles": {str(fake.mod_role_id): role}}
    # someone with Manage Server but not the owner cannot choose the role
    answer = await d.slash(fake.member("mod", moderator=True), "settings", set_role, resolved=resolved)
    assert "Only the server owner" in answer
    owner = fake.member("owner")
    owner.id = fake.owner_id
    answer = await d.slash(owner, "settings", set_role, resolved=resolved)
    assert "role stewards are now policybot moderators" in answer, answer
    assert f"<@&{fake.mod_role_id}>" in await d.slash(fake.member("carol"), "settings", sub("show"))

    steward = fake.member("carol", roles=(fake.mod_role_id,))
    assert steward.roles == [fake.mod_role_id]
    opened = await d.slash(steward, "round", sub("open", opt("policy", "kind"), opt("scenarios", "1"), opt("k", 2)))
    assert "Opening round #1" in opened, opened
    await d.settle()
    # and the setting survives a restart (it is in the database)
    await bot.stop()
    again = await start_bot()
    d2 = driver(fake, again)
    assert "Round #1" in await d2.slash(steward, "round", sub("advance", opt("round", 1)))
    assert "Only moderators" in await d2.slash(fake.member("dave"), "round", sub("cancel", opt("round", 1)))
    # every moderator command, /export and its settings included, works for a moderator by role
    exported = await d2.slash(steward, "export", sub("round", opt("round", 1)))
    assert "Export of round #1" in exported, exported
    licence = await d2.slash(steward, "export", sub("settings", opt("licence", "CC-BY-4.0")))
    assert "CC-BY-4.0" in licence, licence
    assert "Only moderators" in await d2.slash(fake.member("dave"), "export", sub("round", opt("round", 1)))


# ---------------------------------------------------------------- the ChatPort's other ways out


async def test_chat_port_files_edits_and_direct_messages(fake: FakeDiscord, start_bot: StartBot) -> None:
    from bot.domain.commands import Actor
    from bot.domain.outputs import Attachment, Button, Post, Reply

    bot = await start_bot()
    chat = bot.app.engine.services.chat
    channel = str(fake.channel_id)
    chart = Attachment("results.png", b"\x89PNG fake image bytes", "image/png")
    key = await chat.post(Post(channel, "Round #1: results", "Adopted.", attachment=chart))
    channel_id, message_id = (int(x) for x in key.split(":"))
    posted = fake.messages[message_id]
    assert channel_id == fake.channel_id
    assert posted["attachments"][0]["filename"] == "results.png"
    assert fake.files[f"{message_id}-results.png"] == chart.data
    assert posted["embeds"][0]["image"]["url"] == "attachment://results.png"

    # an edit replaces the embed (and the buttons) of the same message
    best = (Button("policybot:best:9", "⭐"),)
    await chat.edit(key, Post(channel, "Round #1: results (final)", "Adopted, 3 yes.", buttons=best))
    assert fake.messages[message_id]["embeds"][0]["title"] == "Round #1: results (final)"
    assert fake.messages[message_id]["components"][0]["components"][0]["custom_id"] == "policybot:best:9"
    assert fake.messages[message_id]["allowed_mentions"] == {"parse": []}

    upload_key = await chat.upload(channel, Attachment("data.csv", b"a,b\n1,2\n", "text/csv"), "@everyone the data")
    uploaded = fake.messages[int(upload_key.split(":")[1])]
    assert uploaded["content"] == "@everyone the data" and uploaded["allowed_mentions"] == {"parse": []}
    assert fake.files[f"{uploaded['id']}-data.csv"] == b"a,b\n1,2\n"

    # no recent interaction with this member: a direct message
    member = fake.member("erin")
    await chat.reply_privately(Actor("discord", str(fake.guild_id), str(member.id), "erin"), Reply("The vote closes in 1 hour."))
    dm_calls = [c for c in fake.calls if c.path == "/users/@me/channels"]
    assert [str(c.body["recipient_id"]) for c in dm_calls] == [str(member.id)]
    assert fake.posted_messages()[-1]["content"] == "The vote closes in 1 hour."


# ---------------------------------------------------------------- /round open: the core's defaults and rules


async def test_a_phase_given_a_length_and_an_end_time_is_refused_and_nothing_opens(
    fake: FakeDiscord, start_bot: StartBot
) -> None:
    bot = await start_bot()
    d = driver(fake, bot)
    assert "Created policy" in await d.command("mod", "/policy create kind " + POLICY_TEXT, moderator=True)
    await d.command("mod", "/scenario add Question?", moderator=True)
    mod = fake.member("mod", moderator=True)
    both = sub("open", opt("policy", "kind"), opt("scenarios", "1"), opt("review", "2h"), opt("review_ends", "2030-01-01T00:00Z"))
    answer = await d.slash(mod, "round", both)
    assert "not both" in answer and answer.startswith("⚠️"), answer  # a refusal, said privately
    assert await count(bot, select(func.count()).select_from(RoundRow)) == 0
    # an end time alone is fine: the other phases take the core's default lengths
    in_three_days = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%MZ")
    ends = sub("open", opt("policy", "kind"), opt("scenarios", "1"), opt("k", 2), opt("review_ends", in_three_days))
    assert "Opening round #1" in await d.slash(mod, "round", ends)
    await d.settle()
    async with bot.app.engine.services.uow() as uow:
        r = (await uow.session.exec(select(RoundRow))).one()
    assert (r.amend_seconds, r.vote_seconds) == (24 * 3600, 24 * 3600)

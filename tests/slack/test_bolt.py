"""The Slack adapter end to end: the real Bolt AsyncApp served on loopback, signed requests from the
test, the Web API and every response_url pointed at the local fake Slack."""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

from sqlmodel import col, func, select

from bot.domain.model import Stance
from bot.ports import Completion, Prompt
from storage.tables import BallotEventRow, CandidateRow, ReactionEventRow, RoundRow
from tests.slack.conftest import RunningSlack, StartSlack
from tests.slack.driver import CHANNEL, SIGNING_SECRET
from tests.slack.fake_slack import BOT_USER, FakeSlack
from tests.support.fakes import FakeGenerator

POLICY = "/policy create kind 1. Be kind to every member. 2. Cite a source for factual claims. 3. Never give medical advice."
PINGS = "<!channel> <!here> <!everyone> <@U0ADMIN> <!subteam^S0MODS|mods> @channel"


async def count(slack: RunningSlack, model: type[Any]) -> int:
    async with slack.bot.app.engine.services.uow() as uow:
        return int((await uow.session.exec(select(func.count()).select_from(model))).one())


async def open_round(slack: RunningSlack, *, scenarios: tuple[str, ...] = ("How do I treat a small burn?",), k: int = 2) -> None:
    d = slack.driver
    assert "Created policy" in await d.command("mod", POLICY, moderator=True)
    for s in scenarios:
        assert "Added scenario" in await d.command("mod", f"/scenario add {s}", moderator=True)
    ids = ",".join(str(i + 1) for i in range(len(scenarios)))
    assert "Opening round #1" in await d.command("mod", f"/round open kind scenarios={ids} k={k}", moderator=True)
    await d.settle()


async def candidates(slack: RunningSlack) -> list[CandidateRow]:
    async with slack.bot.app.engine.services.uow() as uow:
        return list((await uow.session.exec(select(CandidateRow).order_by(col(CandidateRow.id)))).all())


# ---------------------------------------------------------------- acknowledgement


async def test_every_command_is_acked_before_its_slow_work(fake: FakeSlack, start_slack: StartSlack) -> None:
    slack = await start_slack()
    await open_round(slack)
    lines = [
        "/policy list",
        "/policy show kind",
        "/policy history kind",
        "/policy diff kind 1 1",
        "/scenario list",
        "/round status",
        "/round status 1",
        "/amend list 1",
        "/vote 1 yes",
        "/stress 1",
        "/reminders off",
        "/policybot",
        "/policybot round",
        "/round advance 1",
        "/round cancel 1",
    ]
    fake.user("UMOD", admin=True)
    acks: list[tuple[str, float]] = []
    answers: dict[str, str] = {}
    for line in lines:
        # Hold users.info (the first thing the slow work does) until the ack has arrived: the ack
        # cannot depend on the Web API, the database or the model.
        fake.gates["users.info"] = asyncio.Event()
        slack.driver.bot.adapter.moderators._admins.clear()
        before = slack.bot.adapter.handled
        d = await slack.sender.command("UMOD", line)
        assert d.status == 200 and d.body == "", (line, d.status, d.body)
        assert slack.bot.adapter.handled == before and fake.responses.get(d.token) is None, line
        fake.gates.pop("users.info").set()
        await slack.bot.adapter.wait_handled(before + 1)
        answers[line] = fake.response_texts(d.token)
        assert answers[line].strip(), line
        acks.append((line, d.ack_ms))
    assert "Commands:" in answers["/policybot"] and "/round open" in answers["/policybot round"]
    assert "Cancelled" in answers["/round cancel 1"] or "cancel" in answers["/round cancel 1"].lower()
    print("ack times (ms):", ", ".join(f"{line.split()[0]} {ms:.1f}" for line, ms in acks))


async def test_slash_command_answers_privately_with_usage_on_bad_input(fake: FakeSlack, start_slack: StartSlack) -> None:
    slack = await start_slack()
    answer = await slack.driver.command("mod", "/round open", moderator=False)  # a modal, not an answer
    assert answer == ""
    bad = await slack.driver.command("mod", "/round open kind scenarios=x", moderator=True)
    assert (
        "not a valid scenario number" in bad and "Usage:" in bad and "/round open &lt;policy&gt;" in bad
    )  # escaped: Slack shows it as typed
    unknown = await slack.driver.command("mod", "/policy frobnicate", moderator=True)
    assert "Unknown /policy subcommand" in unknown
    body = fake.responses[next(reversed(fake.responses))][0]
    assert body["response_type"] == "ephemeral" and body["replace_original"] is False
    help_text = await slack.driver.command("alice", "/policybot")
    assert "/round open" in help_text and "/amend replace" in help_text


# ---------------------------------------------------------------- request verification


async def test_wrong_signature_and_stale_timestamp_are_refused_with_401(fake: FakeSlack, start_slack: StartSlack) -> None:
    slack = await start_slack()
    fake.user("UMOD", admin=True)
    body, _ = slack.sender.command_body("UMOD", "/policy", "list")
    form = "application/x-www-form-urlencoded"
    wrong = await slack.sender.post(body, form, secret="not-the-secret")
    stale = await slack.sender.post(body, form, timestamp=int(time.time()) - 6 * 60)
    tampered = await slack.sender.post(body.replace("list", "show+kind"), form, headers=dict(fake_headers(body)))
    assert (wrong.status, stale.status, tampered.status) == (401, 401, 401)
    fresh = await slack.sender.post(body, form, timestamp=int(time.time()) - 4 * 60)  # within Slack's 5 minutes
    assert fresh.status == 200
    await slack.bot.adapter.wait_handled(1)
    assert slack.bot.adapter.handled == 1  # only the valid request reached the bot
    assert not fake.calls_to("users.info")[1:]


def fake_headers(body: str) -> dict[str, str]:
    from tests.slack.driver import signed_headers

    return signed_headers(body, "application/x-www-form-urlencoded", secret=SIGNING_SECRET)


# ---------------------------------------------------------------- posts, threads, escaping, limits


class PingingGenerator:
    """A Generator (our port) whose answers try to ping everyone and run past Slack's limits."""

    model = "fake/pinging"

    async def complete(self, prompt: Prompt) -> Completion:
        long = " ".join(f"Sentence {i} of a very long answer with <b>angle</b> & ampersands." for i in range(900))
        return Completion(text=f"{PINGS} {long}", model=self.model)


async def test_round_posts_threads_reactions_buttons_and_no_pings(fake: FakeSlack, start_slack: StartSlack) -> None:
    slack = await start_slack(generator=PingingGenerator())
    await open_round(slack, scenarios=(f"{PINGS} how do I treat a burn?",), k=2)
    posted = fake.posted()
    announcement = next(m for m in posted if "Policy round #1" in m["text"])
    assert announcement["channel"] == CHANNEL and announcement["thread_ts"] is None
    assert "<!date^" in json.dumps(announcement["blocks"])  # the phase deadline in each reader's time zone
    scenario = next(m for m in posted if "scenario 1" in m["text"])
    assert scenario["thread_ts"] is None
    rows = await candidates(slack)
    assert len(rows) == 2
    for row in rows:
        assert row.message_key is not None
        message = fake.messages[row.message_key]
        assert message["thread_ts"] == scenario["ts"]  # candidates are in the scenario's thread
        assert message["reactions"] == ["+1", "-1", "shrug"]  # seeded stances
        buttons = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
        assert [b["action_id"] for b in buttons] == [f"policybot:best:{row.id}"]
        assert len(message["blocks"]) <= 50
        for b in message["blocks"]:
            if b["type"] == "section":
                assert len(b["text"]["text"]) <= 3000
    # the generation progress message is edited in place (chat.update), within the same limits
    updates = fake.calls_to("chat.update")
    assert updates and all(f"{u.args['channel']}:{u.args['ts']}" in fake.messages for u in updates)
    assert all(len(u.args["blocks"]) <= 50 and u.args["parse"] == "none" for u in updates)
    # the ~60,000-character candidates continue in the thread, in order, nothing lost
    first = fake.messages[rows[0].message_key or ""]
    continued = [m for m in posted if m["thread_ts"] == scenario["ts"] and "(continued)" in m["text"]]
    assert continued and "Continued in the thread below." in json.dumps(first["blocks"])
    shown = " ".join(t for m in posted for t in FakeSlack.texts_of(m))
    assert "Sentence 899 of a very long answer" in shown
    # nothing anywhere can ping: every mention arrives escaped, and mentions are not linked
    for call in fake.calls_to("chat.postMessage"):
        raw = json.dumps(call.args)
        assert not re.search(r"<(!channel|!here|!everyone|@U|!subteam)", raw), raw[:300]
        assert call.args["link_names"] is False and call.args["parse"] == "none"
    assert "&lt;!channel&gt;" in shown and "&lt;@U0ADMIN&gt;" in shown and "&lt;b&gt;angle&lt;/b&gt; &amp; ampersands" in shown


# ---------------------------------------------------------------- reactions


async def test_reactions_in_and_out_a_retry_counted_once_and_the_bots_own_ignored(
    fake: FakeSlack, start_slack: StartSlack
) -> None:
    slack = await start_slack()
    await open_round(slack)
    first = (await candidates(slack))[0]
    channel, ts = await slack.driver.candidate_message(first.id or 0)
    sender = slack.sender
    # the bot's own seeded reaction: Bolt drops it before any listener (no slow work starts)
    own = await sender.reaction(BOT_USER, channel, ts, "+1")
    assert own.status == 200 and slack.bot.adapter.in_flight == 0
    # an emoji that is not a stance, and a message that is not a candidate, change nothing
    await slack.driver._delivered(await sender.reaction("UALICE", channel, ts, "tada"))
    await slack.driver._delivered(await sender.reaction("UALICE", CHANNEL, "1.000001", "+1"))
    assert await count(slack, ReactionEventRow) == 0
    # a reaction, and Slack's retry of the very same event, counted once
    await slack.driver._delivered(await sender.reaction("UALICE", channel, ts, "+1::skin-tone-3", event_id="EvSAME"))
    await slack.driver._delivered(await sender.reaction("UALICE", channel, ts, "+1::skin-tone-3", event_id="EvSAME", retry=1))
    await slack.driver._delivered(await sender.reaction("UALICE", channel, ts, "+1::skin-tone-3", event_id="EvSAME", retry=2))
    assert await count(slack, ReactionEventRow) == 1
    await slack.driver.react("bob", first.id or 0, Stance.OBJECT)
    await slack.driver.react("bob", first.id or 0, Stance.OBJECT, remove=True)
    await slack.driver.react("carol", first.id or 0, Stance.BEST)
    async with slack.bot.app.engine.services.uow() as uow:
        events = (await uow.session.exec(select(ReactionEventRow).order_by(col(ReactionEventRow.id)))).all()
    assert [(e.member, e.stance, e.action) for e in events] == [
        ("UALICE", "endorse", "add"),
        ("UBOB", "object", "add"),
        ("UBOB", "object", "remove"),
        ("UCAROL", "best", "add"),
    ]
    assert all(e.event_key.startswith("slack:Ev") for e in events)


async def test_best_button_and_a_closed_round_is_said_privately(fake: FakeSlack, start_slack: StartSlack) -> None:
    slack = await start_slack()
    await open_round(slack)
    first = (await candidates(slack))[0]
    answer = await slack.driver.press("alice", f"policybot:best:{first.id}")
    assert "best" in answer and "recorded" in answer
    assert await slack.driver.command("mod", "/round cancel 1", moderator=True)
    channel, ts = await slack.driver.candidate_message(first.id or 0)
    await slack.driver._delivered(await slack.sender.reaction("UBOB", channel, ts, "-1"))
    ephemeral = fake.calls_to("chat.postEphemeral")
    assert ephemeral and ephemeral[-1].args["user"] == "UBOB" and "no longer recorded" in ephemeral[-1].args["text"]


# ---------------------------------------------------------------- ballots


async def test_ballot_buttons_confirm_privately_and_hide_results(fake: FakeSlack, start_slack: StartSlack) -> None:
    slack = await start_slack()
    await open_round(slack)
    d = slack.driver
    assert "AMEND" in await d.command("mod", "/round advance 1", moderator=True)
    assert "Proposed amendment #1" in await d.command("alice", "/amend replace 1 3 Give first-aid information. -- too strict")
    assert "VOTE" in await d.command("mod", "/round advance 1", moderator=True)
    await d.settle()
    ballot = fake.message_with_action("policybot:ballot:1:yes")
    ids = [e["action_id"] for b in ballot["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert ids == ["policybot:ballot:1:yes", "policybot:ballot:1:no", "policybot:ballot:1:abstain"]
    confirmation = await d.press("alice", "policybot:ballot:1:yes")
    assert "recorded" in confirmation and "yes" in confirmation
    token = next(reversed(fake.responses))
    assert fake.responses[token][0]["response_type"] == "ephemeral"
    changed = await d.press("alice", "policybot:ballot:1:no")
    assert "no" in changed
    assert await count(slack, BallotEventRow) == 2
    # the ballot message shows no running count: it is never edited while the vote is open
    assert not ballot.get("edited")
    await d.command("mod", "/round advance 1", moderator=True)
    await d.settle()
    async with slack.bot.app.engine.services.uow() as uow:
        assert (await uow.session.exec(select(RoundRow.phase))).one() == "closed"
    assert any("results" in t.lower() for t in d.posted_texts())


# ---------------------------------------------------------------- modals


async def test_open_round_modal_and_its_submission(fake: FakeSlack, start_slack: StartSlack) -> None:
    slack = await start_slack()
    d = slack.driver
    assert "Created policy" in await d.command("mod", POLICY, moderator=True)
    assert "Added scenario #1" in await d.command("mod", "/scenario add Is it safe to skip breakfast?", moderator=True)
    await d.command("mod", "/round open", moderator=True)
    opened = fake.calls_to("views.open")[-1]
    assert opened.args["trigger_id"].startswith("trig.")
    view = opened.args["view"]
    assert view["callback_id"] == "policybot:open-round" and json.loads(view["private_metadata"]) == {"channel": CHANNEL}
    # a form that cannot be read is answered in the modal, and nothing changes
    refused = await slack.sender.submit("UMOD", view, {"policy": "kind", "scenarios": "one,two", "k": "2", "quorum": "1"})
    assert refused.status == 200 and refused.json()["response_action"] == "errors"
    assert "scenarios" in refused.json()["errors"]
    await d.wait_one()
    assert await count(slack, RoundRow) == 0
    # a good one opens the round in the channel the command came from
    values: dict[str, str | tuple[str, str]] = {
        "policy": "kind",
        "scenarios": "1",
        "k": "2",
        "review": "2h",
        "amend": "1h",
        "vote": "1h",
        "quorum": "1",
        "threshold": ("select", ">=2/3"),
    }
    ok = await slack.sender.submit("UMOD", view, values)
    assert ok.status == 200 and ok.body == ""
    await d.wait_one()
    await d.settle()
    async with slack.bot.app.engine.services.uow() as uow:
        r = (await uow.session.exec(select(RoundRow))).one()
    assert r.channel == CHANNEL and "2/3" in r.threshold and r.k == 2
    token = [t for t in fake.responses if t.startswith("cmd")][-1]
    assert "Opening round #1" in fake.response_texts(token)  # the answer reached the member privately


async def test_amend_modal_and_a_non_moderator_refused(fake: FakeSlack, start_slack: StartSlack) -> None:
    slack = await start_slack()
    await open_round(slack)
    d = slack.driver
    refused = await d.command("alice", "/round advance 1")
    assert "Only moderators" in refused
    assert "AMEND" in await d.command("mod", "/round advance 1", moderator=True)
    await d.command("alice", "/amend propose 1")
    view = fake.calls_to("views.open")[-1].args["view"]
    assert view["callback_id"] == "policybot:amend"
    initial = next(b for b in view["blocks"] if b["block_id"] == "round")["element"]["initial_value"]
    assert initial == "1"
    missing = await slack.sender.submit("UALICE", view, {"round": "1", "kind": ("select", "replace"), "clause": "", "text": "x"})
    assert missing.json()["errors"] == {"clause": "Give the number of the clause to replace."}
    await d.wait_one()
    values: dict[str, str | tuple[str, str]] = {
        "round": "1",
        "kind": ("select", "replace"),
        "clause": "3",
        "text": "Give general first-aid information <!channel>.",
        "rationale": "too strict",
    }
    await slack.sender.submit("UALICE", view, values)
    await d.wait_one()
    await d.settle()
    token = [t for t in fake.responses if t.startswith("cmd")][-1]
    assert "Proposed amendment #1" in fake.response_texts(token)


# ---------------------------------------------------------------- moderators


async def test_moderators_are_admins_owners_or_members_of_the_user_group(fake: FakeSlack, start_slack: StartSlack) -> None:
    fake.usergroups["S0MODS"] = ["UGROUPIE"]
    slack = await start_slack(moderator_group="S0MODS")
    fake.user("UOWNER", owner=True)
    fake.user("UGROUPIE")
    fake.user("UPLAIN")
    d = slack.driver
    for user, allowed in (("UOWNER", True), ("UGROUPIE", True), ("UPLAIN", False)):
        sent = await slack.sender.command(user, f"/policy create p{user.lower()} 1. Be kind.")
        await d._delivered(sent)
        answer = fake.response_texts(sent.token)
        assert ("Created policy" in answer) is allowed, (user, answer)
    assert fake.calls_to("usergroups.users.list")[0].args["usergroup"] == "S0MODS"
    assert len(fake.calls_to("usergroups.users.list")) == 1  # cached


# ---------------------------------------------------------------- rate limits and files


async def test_a_429_is_waited_out_and_the_message_still_posted(fake: FakeSlack, start_slack: StartSlack) -> None:
    slack = await start_slack()
    fake.rate_limit["chat.postMessage"] = 1
    fake.rate_limit["reactions.add"] = 1
    await open_round(slack)
    posts = fake.calls_to("chat.postMessage")
    assert posts[0].status == 429 and posts[1].status == 200
    assert posts[0].args["blocks"] == posts[1].args["blocks"]  # the same message, retried
    assert [c.status for c in fake.calls_to("reactions.add")][:2] == [429, 200]
    rows = await candidates(slack)
    assert all(r.message_key in fake.messages for r in rows)
    assert all(fake.messages[r.message_key or ""]["reactions"] == ["+1", "-1", "shrug"] for r in rows)


async def test_files_go_up_with_files_upload_v2(fake: FakeSlack, start_slack: StartSlack) -> None:
    from bot.domain.commands import Actor
    from bot.domain.outputs import Attachment, Reply

    slack = await start_slack(generator=FakeGenerator())
    chat = slack.bot.chat
    data = b"member,candidate,stance\nU1,1,endorse\n"
    key = await chat.upload(CHANNEL, Attachment("export.csv", data, "text/csv"), "Export of round 1 <!channel>")
    steps = [c.method for c in fake.calls if c.method.startswith("files.")]
    assert steps[:2] == ["files.getUploadURLExternal", "files.completeUploadExternal"]
    complete = fake.calls_to("files.completeUploadExternal")[0]
    assert complete.args["channel_id"] == CHANNEL and "&lt;!channel&gt;" in complete.args["initial_comment"]
    file_id = complete.args["files"][0]["id"]
    assert fake.uploads[file_id] == data and key == f"{CHANNEL}:{file_id}"
    # a private file goes to the member's direct messages, never to the channel
    await chat.reply_privately(Actor("slack", "T", "UALICE"), Reply("Your export", attachment=Attachment("mine.csv", b"x")))
    assert fake.calls_to("conversations.open")[0].args["users"] == "UALICE"
    assert fake.calls_to("files.completeUploadExternal")[1].args["channel_id"] == "DALICE"


async def test_a_private_file_answer_goes_to_the_members_direct_messages(fake: FakeSlack, start_slack: StartSlack) -> None:
    slack = await start_slack()
    await open_round(slack)
    first = (await candidates(slack))[0]
    await slack.driver.react("alice", first.id or 0, Stance.ENDORSE)
    answer = await slack.driver.command("alice", "/privacy show")
    assert answer.strip()
    opened = fake.calls_to("conversations.open")
    assert [c.args["users"] for c in opened] == ["UALICE"]
    complete = fake.calls_to("files.completeUploadExternal")
    assert len(complete) == 1 and complete[0].args["channel_id"] == "DALICE"  # never the channel
    data = fake.uploads[complete[0].args["files"][0]["id"]]
    assert b"UALICE" in data or b"alice" in data.lower()


async def test_command_text_is_unescaped_and_may_span_lines(fake: FakeSlack, start_slack: StartSlack) -> None:
    slack = await start_slack()
    d = slack.driver
    # Slack escapes &, < and > in a command's text; a policy may be typed over several lines
    created = await d.command("mod", "/policy create kind\n1. Be kind & fair.\n2. Never write <!channel>.", moderator=True)
    assert "Created policy 'kind' v1 with 2 clause(s)" in created
    shown = await d.command("mod", "/policy show kind", moderator=True)
    assert "Be kind &amp; fair." in shown and "&lt;!channel&gt;" in shown  # stored as typed, escaped again when shown
    assert "Added scenario #1" in await d.command("mod", "/scenario add Is it safe to skip breakfast?", moderator=True)
    opened = await d.command("mod", "/round open kind scenarios=1 k=2 threshold=>=2/3", moderator=True)
    assert "Opening round #1" in opened, opened
    async with slack.bot.app.engine.services.uow() as uow:
        assert "2/3" in (await uow.session.exec(select(RoundRow.threshold))).one()


async def test_a_phase_given_a_length_and_an_end_time_is_refused_and_nothing_opens(
    fake: FakeSlack, start_slack: StartSlack
) -> None:
    slack = await start_slack()
    d = slack.driver
    assert "Created policy" in await d.command("mod", POLICY, moderator=True)
    assert "Added scenario #1" in await d.command("mod", "/scenario add Is it safe to skip breakfast?", moderator=True)
    answer = await d.command("mod", "/round open kind scenarios=1 amend=1h amend-ends=2030-01-01T00:00Z", moderator=True)
    assert "not both" in answer, answer
    assert await count(slack, RoundRow) == 0

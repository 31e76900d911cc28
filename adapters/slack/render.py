"""Post and Reply → Slack Block Kit, within Slack's limits, never pinging anyone.

Limits (https://docs.slack.dev/reference/block-kit/blocks): 3,000 characters of text in a section
block, 50 blocks in a message, 25 elements in an actions block, 75 characters of button text,
255 of an action_id, 2,000 of a button value, 150 of a header; a message's `text` is cut at 40,000.

Everything the core gives is escaped the way Slack asks (& < > → &amp; &lt; &gt;), so `<!channel>`,
`<!here>`, `<!everyone>`, `<@U…>` and `<!subteam^…>` show as text and ping no one; messages are also
sent with link_names off and parse none, so a bare `@channel` stays text too."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from bot.domain.outputs import Button, Field, Post, Reply, cut, render_times, split_text, strip_time_tokens, utc_text

SECTION_LIMIT = 3000
BLOCKS_PER_MESSAGE = 50
ACTIONS_PER_BLOCK = 25
BUTTON_TEXT_LIMIT = 75
ACTION_ID_LIMIT = 255
FALLBACK_LIMIT = 3000  # the notification text beside the blocks: short is kind to phones
MESSAGE_CHARS_BUDGET = 12000  # keep each message readable: long candidates continue in the thread
REPLY_CHARS_LIMIT = 40000  # a reply is packed up to Slack's size of a message: each response_url use counts

Block = dict[str, Any]

_STYLES = {"primary": "primary", "danger": "danger", "success": "primary"}  # Slack has primary/danger/default only


def escape(text: str) -> str:
    """Slack's own escaping: the three characters that start control sequences."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_date(epoch: int) -> str:
    """A time shown in each reader's own time zone, with a UTC fallback for old clients."""
    return f"<!date^{epoch}^{{date_short_pretty}} {{time}}|{utc_text(epoch)}>"


def mrkdwn(text: str) -> str:
    """Untrusted (or core) text as safe mrkdwn: escaped, Markdown bold as Slack bold, times as dates."""
    return render_times(escape(text).replace("**", "*"), slack_date)


def plain(text: str) -> str:
    """Text for the notification fallback and plain_text fields: escaped, times in UTC."""
    return render_times(escape(text).replace("**", ""), utc_text)


def mrkdwn_chunks(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """The text rendered as mrkdwn in pieces that are each at most `limit` characters *after*
    escaping and date rendering (both make text longer), so no entity or date is ever cut."""
    size = limit
    while True:
        rendered = [mrkdwn(piece) for piece in split_text(text, size)]
        if all(len(r) <= limit for r in rendered) or size <= 100:
            return [cut(r, limit) for r in rendered]
        size = int(size * 0.8)  # escaping grew some piece: split smaller


def section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}


def context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": cut(text, SECTION_LIMIT), "verbatim": True}]}


def button(b: Button) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "action_id": b.custom_id[:ACTION_ID_LIMIT],
        "value": b.custom_id[:2000],
        "text": {"type": "plain_text", "text": cut(b.label, BUTTON_TEXT_LIMIT), "emoji": True},
    }
    style = _STYLES.get(b.style)
    if style:
        element["style"] = style
    return element


def actions(buttons: tuple[Button, ...]) -> list[Block]:
    return [
        {
            "type": "actions",
            "block_id": f"policybot-actions-{i}",
            "elements": [button(b) for b in buttons[i : i + ACTIONS_PER_BLOCK]],
        }
        for i in range(0, len(buttons), ACTIONS_PER_BLOCK)
    ]


def field_blocks(fields: tuple[Field, ...]) -> list[Block]:
    blocks: list[Block] = []
    for f in fields:
        name = mrkdwn(f.name.strip())
        chunks = mrkdwn_chunks(f.value.strip() or "—", SECTION_LIMIT - len(name) - 10)
        blocks.append(section(f"*{name}*\n{chunks[0]}"))
        blocks.extend(section(c) for c in chunks[1:])
    return blocks


@dataclass
class OutMessage:
    """One Slack message: its blocks and its notification text."""

    text: str
    blocks: list[Block] = field(default_factory=list)


def _length(blocks: list[Block]) -> int:
    return sum(len(b.get("text", {}).get("text", "")) for b in blocks)


def pack(
    title_block: Block, body: list[Block], tail: list[Block], fallback: str, continued: str, budget: int = MESSAGE_CHARS_BUDGET
) -> list[OutMessage]:
    """Blocks into messages of at most 50 blocks and `budget` characters: the first message has the
    title and the tail (buttons); the rest continue the body, each marked as a continuation."""
    first: list[Block] = [title_block]
    room = BLOCKS_PER_MESSAGE - len(tail) - 2  # the title and a "continued" note
    i = 0
    while i < len(body) and len(first) - 1 < room and _length(first) + _length(body[i : i + 1]) <= budget:
        first.append(body[i])
        i += 1
    rest = body[i:]
    messages: list[OutMessage] = []
    if rest:
        first.append(context("Continued in the thread below."))
    first.extend(tail)
    messages.append(OutMessage(cut(fallback, FALLBACK_LIMIT), first))
    while rest:
        chunk: list[Block] = []
        while rest and len(chunk) < BLOCKS_PER_MESSAGE - 1 and (not chunk or _length(chunk) + _length(rest[:1]) <= budget):
            chunk.append(rest.pop(0))
        messages.append(OutMessage(cut(plain(continued), FALLBACK_LIMIT), [context(mrkdwn(continued)), *chunk]))
    return messages


def untrusted_text(post: Post) -> Post:
    """A post of member or model text with every time token taken out (only the core writes those)."""
    if not post.untrusted:
        return post
    fields = tuple(Field(strip_time_tokens(f.name), strip_time_tokens(f.value), f.inline) for f in post.fields)
    return replace(post, title=strip_time_tokens(post.title), text=strip_time_tokens(post.text), fields=fields)


def messages_for_post(post: Post) -> list[OutMessage]:
    """The messages a Post becomes; the first is the post's message (its key, reactions, buttons)."""
    post = untrusted_text(post)
    title = mrkdwn(post.title.strip()) or "policybot"
    title_block = section(f"*{cut(title, SECTION_LIMIT - 2)}*")
    body = [section(c) for c in mrkdwn_chunks(post.text)] if post.text.strip() else []
    body += field_blocks(post.fields)
    fallback = plain(post.title)
    return pack(title_block, body, actions(post.buttons), fallback, f"{post.title.strip()} (continued)")


def messages_for_reply(reply: Reply) -> list[OutMessage]:
    """A command's answer: its text in sections (a ⚠️ when it is an error), then its fields."""
    mark = "" if reply.ok else "⚠️ "
    text = (mark + reply.text.strip()) or "Done."
    chunks = mrkdwn_chunks(text)
    body = [section(c) for c in chunks[1:]] + field_blocks(reply.fields)
    return pack(section(chunks[0]), body, [], plain(text), "(continued)", REPLY_CHARS_LIMIT)


def texts_of_blocks(blocks: list[Block]) -> list[str]:
    """Every text a list of blocks shows (used for logs and by tests)."""
    out: list[str] = []
    for b in blocks:
        if "text" in b and isinstance(b["text"], dict):
            out.append(str(b["text"].get("text", "")))
        for e in b.get("elements", []) or []:
            if isinstance(e.get("text"), dict):
                out.append(str(e["text"].get("text", "")))
            elif isinstance(e.get("text"), str):
                out.append(str(e["text"]))
        for f in b.get("fields", []) or []:
            out.append(str(f.get("text", "")))
    return out

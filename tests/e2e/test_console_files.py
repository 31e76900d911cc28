"""Files the bot sends (a results chart) reach a console user as files on disk."""

from __future__ import annotations

import io
from pathlib import Path

from adapters.console.chat import ConsoleChat
from adapters.console.repl import ConsoleSession
from bot.bootstrap import bootstrap
from bot.domain.outputs import Attachment, Post, Reply
from bot.settings import Settings
from storage.database import Database
from tests.support.fakes import FakeGenerator


async def test_attachments_are_saved_inside_the_files_directory(tmp_path: Path) -> None:
    out = io.StringIO()
    chat = ConsoleChat(out, files_dir=tmp_path / "files")
    await chat.post(Post("general", "Chart", attachment=Attachment("map.png", b"\x89PNG-1", "image/png")))
    await chat.reply_privately(
        __import__("bot.domain.commands", fromlist=["Actor"]).Actor("console", "c", "a"),
        Reply("export ready", attachment=Attachment("../../escape.zip", b"PK", "application/zip")),
    )
    saved = sorted(p.name for p in (tmp_path / "files").iterdir())
    assert saved == ["001-map.png", "002-escape.zip"]
    assert (tmp_path / "files" / "001-map.png").read_bytes() == b"\x89PNG-1"
    assert not (tmp_path / "escape.zip").exists()
    assert "saved to" in out.getvalue()


async def test_round_results_chart_reaches_the_console(database: Database, tmp_path: Path) -> None:
    out = io.StringIO()
    chat = ConsoleChat(out, files_dir=tmp_path / "files")
    settings = Settings(database_url=database.url, sampling="independent", max_drafts=0, preview=False)
    app = bootstrap(settings, chat, generator=FakeGenerator(), database=database)
    session = ConsoleSession(app, chat, community="c1")
    try:
        for line in ["/policy create kind 1. Be kind. 2. Cite sources.", "/scenario add Hello?",
                     "/round open kind scenarios=1 k=3"]:  # fmt: skip
            await session.handle_line(line)
        for member in ("alice", "bob", "carol", "dave"):
            for cand, stance in ((1, "endorse"), (2, "object"), (3, "pass")):
                reply = await session.handle_line(f"{member}> /react {cand} {stance}")
                assert reply is not None and "✓" in reply, reply
        reply = await session.handle_line("/round results 1")
    finally:
        await app.engine.close()
    assert reply is not None and "✓" in reply and "saved to" in reply, reply
    pngs = list((tmp_path / "files").glob("*.png"))
    assert pngs and pngs[0].read_bytes().startswith(b"\x89PNG")

"""The Discord adapter: slash commands, buttons and reactions in; embeds, threads and reactions out.

Only translation lives here (see DESIGN.md): interaction → core command, raw reaction event →
RecordReaction, Post → embeds/messages/threads. Business rules stay in `bot/`."""

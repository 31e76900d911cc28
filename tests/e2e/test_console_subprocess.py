"""A full round scripted through `policybot console` as a subprocess, with the real litellm
generator calling a local OpenAI-compatible server over HTTP."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.support.openai_server import FakeOpenAIServer

SCRIPT = """\
# a moderator writes the policy and scenarios
/policy create kind --file policy.md
/scenario import scenarios.jsonl
/scenario list
/round open kind scenarios=1,2 k=3
alice> /react 1 endorse clear and kind
bob> /react 1 endorse
carol> /react 1 object
carol> /react 4 best
dave> /round advance 1
/round advance 1
alice> /amend replace 1 3 Give general first-aid information and suggest seeing a doctor. -- too strict
bob> /amend add 1 after=1 Answer in plain language.
/round advance 1
alice> /vote 1 yes
bob> /vote 1 yes
carol> /vote 1 no
alice> /vote 2 no
/round advance 1
/policy show kind
/policy diff kind 1 2
"""


@pytest.mark.slow
async def test_scripted_round_through_console(tmp_path: Path, openai_server: FakeOpenAIServer) -> None:
    (tmp_path / "policy.md").write_text("# Kind policy\n\n1. Be kind.\n2. Cite sources.\n3. Never give medical advice.\n")
    (tmp_path / "scenarios.jsonl").write_text('{"prompt": "How do I treat a small burn?"}\n{"prompt": "Is coffee bad for me?"}\n')
    db = tmp_path / "bot.db"
    env = {
        **os.environ,
        "POLICYBOT_DATABASE_URL": f"sqlite:///{db}",
        "POLICYBOT_MODEL": "openai/test-model",
        "POLICYBOT_LLM_API_BASE": openai_server.api_base,
        "OPENAI_API_KEY": "sk-test",
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        # one HTTP call per candidate, counted below; no bot-drafted amendments or previews, which
        # would add calls and ballots (they have their own tests in tests/generation)
        "POLICYBOT_SAMPLING": "independent",
        "POLICYBOT_MAX_DRAFTS": "0",
        "POLICYBOT_PREVIEW": "false",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "adapters.cli", "console", cwd=tmp_path, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(SCRIPT.encode()), timeout=120)
    output = out.decode()
    assert proc.returncode == 0, err.decode()[-3000:]
    assert "Imported 2 scenario(s)" in output
    assert "Candidate A (#1)" in output and "Candidate C (#6)" in output
    assert "[dave] ✗ Only moderators can advance a round." in output
    assert "moved to AMEND" in output and "moved to VOTE" in output
    assert "kind v2 is published" in output, output[-3000:]
    shown = output.split("# kind v2")[-1]
    assert "3. Give general first-aid information and suggest seeing a doctor." in shown
    assert "Answer in plain language" not in shown  # amendment 2 had no yes
    assert len(openai_server.requests) == 6  # 2 scenarios × 3 candidates, each a real HTTP call
    system = openai_server.requests[0]["messages"][0]
    assert system["role"] == "system" and "Never give medical advice." in system["content"]

    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        versions = conn.execute(text("select version from policy_version order by version")).scalars().all()
        clauses = conn.execute(
            text(
                "select c.position, c.clause_key, c.text from clause c join policy_version v on v.id = c.policy_version_id "
                "where v.version = 2 order by c.position"
            )
        ).all()
        reactions = conn.execute(text("select count(*) from reaction_event")).scalar_one()
        phase = conn.execute(text("select phase from round")).scalar_one()
    engine.dispose()
    assert versions == [1, 2]
    assert [tuple(r) for r in clauses] == [
        (1, "c1", "Be kind."),
        (2, "c2", "Cite sources."),
        (3, "c3", "Give general first-aid information and suggest seeing a doctor."),
    ]
    assert reactions == 4 and phase == "closed"

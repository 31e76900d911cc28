"""Prompt layout. Member-written text (scenarios, amendments, reasons) only ever travels as chat
turns or inside clearly delimited data blocks, never spliced into our instructions."""

from __future__ import annotations

import hashlib
import json

from bot.model import ClauseText, Turn
from bot.ports import Message, Prompt

CANDIDATE_PROMPT_VERSION = "candidate-v1"


def policy_block(clauses: list[ClauseText]) -> str:
    return "\n".join(f"{c.number}. {c.text}" for c in clauses)


def candidate_system_prompt(policy_name: str, clauses: list[ClauseText]) -> str:
    return (
        f"You are an AI assistant deployed in an online community. The community's policy "
        f"'{policy_name}' below governs how you respond; follow it.\n"
        "<policy>\n" + policy_block(clauses) + "\n</policy>\n"
        "Answer the conversation that follows as the assistant would under this policy."
    )


def candidate_prompt(policy_name: str, clauses: list[ClauseText], turns: tuple[Turn, ...], temperature: float) -> Prompt:
    messages = [Message("system", candidate_system_prompt(policy_name, clauses))]
    messages += [Message(t.role, t.content) for t in turns]
    return Prompt(tuple(messages), temperature=temperature, purpose="candidate")


def prompt_hash(prompt: Prompt, model: str) -> str:
    """A stable key of the exact request: same hash, same question to the same model."""
    payload = {
        "model": model,
        "temperature": prompt.temperature,
        "max_tokens": prompt.max_tokens,
        "messages": [[m.role, m.content] for m in prompt.messages],
    }
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()).hexdigest()

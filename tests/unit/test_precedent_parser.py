"""/try and /precedent read from text (console and Slack), with their usage on every mistake."""

from __future__ import annotations

import pytest

from bot.domain import commands as c
from bot.domain.model import Turn
from bot.errors import CommandError
from bot.inbound.parser import parse
from tests.conftest import actor

A = actor("alice")


def test_try_reads_the_prompt_and_its_options_before_or_after_it() -> None:
    assert parse("/try How do I treat a burn? policy=kind version=v2", A, "general") == c.TryPrompt(
        A, (Turn("user", "How do I treat a burn?"),), policy="kind", version=2
    )
    assert parse("/try amendment=#3 How do I treat a burn?", A, "general") == c.TryPrompt(
        A, (Turn("user", "How do I treat a burn?"),), amendment_id=3
    )
    conversation = parse("/try user: hi || assistant: hello || user: and now?", A, "general")
    assert isinstance(conversation, c.TryPrompt)
    assert conversation.turns == (Turn("user", "hi"), Turn("assistant", "hello"), Turn("user", "and now?"))
    inside = parse("/try What does version=2 of the law say?", A, "general")  # an option only at either end
    assert isinstance(inside, c.TryPrompt) and inside.version is None and "version=2" in inside.turns[0].content
    assert parse("/try keep 4", A, "general") == c.KeepTry(A, 4)


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("/try", "Missing the prompt"),
        ("/try policy=kind", "Missing the prompt"),
        ("/try Why? version=two", "not a valid version number"),
        ("/try Why? amendment=x", "not a valid amendment number"),
        ("/try Why? policy=a policy=b", "given twice"),
        ("/try keep x", "not a valid try number"),
        ("/precedent", "Unknown /precedent subcommand"),
        ("/precedent show", "Missing arguments"),
        ("/precedent show x", "not a valid precedent number"),
        ("/precedent list a b", "at most one policy"),
        ("/precedent checks", "Name an amendment"),
        ("/precedent recheck kind v2 extra", "Name an amendment"),
    ],
)
def test_bad_lines_are_refused_with_the_usage(line: str, said: str) -> None:
    with pytest.raises(CommandError) as e:
        parse(line, A, "general")
    assert said in e.value.message and "Usage:" in e.value.message, e.value.message


def test_precedent_subcommands() -> None:
    assert parse("/precedent list", A, "g") == c.ListPrecedents(A)
    assert parse("/precedent list kind", A, "g") == c.ListPrecedents(A, "kind")
    assert parse("/precedent show #7", A, "g") == c.ShowPrecedent(A, 7)
    assert parse("/precedent retire 7 we meant to change it", A, "g") == c.RetirePrecedent(A, 7, "we meant to change it")
    assert parse("/precedent retire 7", A, "g") == c.RetirePrecedent(A, 7)
    assert parse("/precedent checks 5", A, "g") == c.PrecedentChecks(A, amendment_id=5)
    assert parse("/precedent checks kind v2", A, "g") == c.PrecedentChecks(A, policy="kind", version=2)
    assert parse("/precedent recheck 5", A, "g") == c.RecheckPrecedents(A, amendment_id=5)

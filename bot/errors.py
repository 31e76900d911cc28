"""Errors the core raises. A CommandError is the user's mistake: its text is shown privately to
the member and nothing is changed. Anything else is our fault and is logged."""

from __future__ import annotations


class CommandError(Exception):
    """Bad input or a rule broken: a clear message for the member, nothing stored."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class GeneratorUnavailable(Exception):
    """The model cannot be reached (connection refused, bad key, unknown model)."""

    def __init__(self, model: str, detail: str) -> None:
        super().__init__(f"{model}: {detail}")
        self.model = model
        self.detail = detail


class GeneratorFailed(Exception):
    """The model answered, but not usefully (timeout after retries, malformed or empty text)."""

    def __init__(self, model: str, detail: str) -> None:
        super().__init__(f"{model}: {detail}")
        self.model = model
        self.detail = detail


class PhaseChanged(Exception):
    """Raised inside a unit of work when the round moved on meanwhile; caught once the unit of work
    has closed, so the member is told without a transaction held open across a platform call."""

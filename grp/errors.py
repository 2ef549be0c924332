"""Errors services raise for bad input: a message per field, shown by forms and the API (422)."""

from __future__ import annotations


class ValidationError(ValueError):
    """Bad input; `errors` maps field names to messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))

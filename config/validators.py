"""Checks on client text that the database would otherwise turn into a 500."""

import unicodedata


def reject_nul_and_surrogates(value: str) -> str:
    """Return `value`, or raise ValueError if PostgreSQL could not store it.

    PostgreSQL text cannot hold NUL, and a lone surrogate (valid in JSON as
    "\\ud800", invalid in UTF-8) cannot be encoded for the wire.
    """
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    if any(unicodedata.category(ch) == "Cs" for ch in value):
        raise ValueError("must not contain unpaired surrogate characters")
    return value

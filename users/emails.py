"""Email addresses: one spelling per address, and no lookalikes.

Two spellings of one address would be two accounts: `ａｎｎ＠ｅｘａｍｐｌｅ．ｃｏｍ`
(fullwidth) is `ann@example.com`. NFKC folds such compatibility forms to
their plain letters, so they collide with the original (409), as case does
through the unique index. A label that mixes scripts (`exаmple.com` with a
Cyrillic `а`) is refused: it only ever imitates another address. Django's
validator already refuses non-ASCII local parts.
"""

import unicodedata

# Scripts written together in one word.
_SAME_SCRIPT = {"HIRAGANA": "CJK", "KATAKANA": "CJK", "HANGUL": "CJK"}


def canonical(email: str) -> str:
    """Return the address in NFKC form, its domain lowercased."""
    email = unicodedata.normalize("NFKC", email.strip())
    local, at, domain = email.rpartition("@")
    return f"{local}@{domain.lower()}" if at else email


def _script(char: str) -> str | None:
    if not char.isalpha():
        return None
    first = unicodedata.name(char, "UNKNOWN").split(" ")[0]
    return _SAME_SCRIPT.get(first, first)


def mixed_script_part(email: str) -> str | None:
    """Return the local part or domain label that mixes scripts, or None."""
    local, _, domain = email.rpartition("@")
    for part in [local, *domain.split(".")]:
        if len({_script(c) for c in part} - {None}) > 1:
            return part
    return None

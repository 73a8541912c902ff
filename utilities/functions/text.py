"""Text helpers: URL slugs and word frequencies."""

import functools
import heapq
import re
import sys
import unicodedata
from collections import Counter
from typing import Annotated

from pydantic import BaseModel, Field

SLUG_TEXT_MAX = 100_000
SLUG_LENGTH_MAX = 200
WORDS_TEXT_MAX = 1_000_000
WORDS_TOP_MAX = 1000

_NON_ALNUM = re.compile(r"[^a-z0-9]+")


@functools.cache
def _word_pattern() -> re.Pattern[str]:
    """Compile the word regex (built once, on first use: scanning Unicode takes ~0.1 s).

    A word starts with a letter or digit (\\w without the underscore) and goes on
    with letters, digits and combining marks (needed for scripts such as
    Devanagari, whose vowel signs are marks); an apostrophe between two such
    runs stays inside the word.
    """
    ranges: list[tuple[int, int]] = []
    for code in range(sys.maxunicode + 1):
        if unicodedata.category(chr(code)).startswith("M"):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1] = (ranges[-1][0], code)
            else:
                ranges.append((code, code))
    marks = "".join(f"\\U{low:08x}-\\U{high:08x}" for low, high in ranges)
    part = rf"[^\W_](?:[^\W_]|[{marks}])*"
    return re.compile(rf"{part}(?:'{part})*")


class WordCount(BaseModel):
    """How often one word occurs."""

    word: str
    count: int


def _check_length(text: str, name: str, maximum: int) -> None:
    if len(text) > maximum:
        raise ValueError(
            f"{name} must be at most {maximum} characters long, got {len(text)}"
        )


def _check_range(value: int, name: str, minimum: int, maximum: int) -> None:
    if not minimum <= value <= maximum:
        raise ValueError(f"{name} must be between {minimum} and {maximum}, got {value}")


def slugify(
    text: Annotated[str, Field(max_length=SLUG_TEXT_MAX)],
    max_length: Annotated[int, Field(ge=1, le=SLUG_LENGTH_MAX)] = 50,
) -> str:
    """Turn text into a lowercase ASCII slug for use in URLs.

    Accents are removed (Unicode NFKD folding; characters with no ASCII form,
    such as CJK or emoji, are dropped), letters are lowercased and every run of
    other characters becomes a single hyphen, e.g. "Héllo, Wörld!" gives
    "hello-world". The slug never starts or ends with a hyphen and is cut to at
    most `max_length` characters. It is empty when the text has no ASCII letters
    or digits.
    """
    _check_length(text, "text", SLUG_TEXT_MAX)
    _check_range(max_length, "max_length", 1, SLUG_LENGTH_MAX)
    folded = (
        unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    )
    slug = _NON_ALNUM.sub("-", folded.lower()).strip("-")
    return slug[:max_length].rstrip("-")


def word_frequencies(
    text: Annotated[str, Field(max_length=WORDS_TEXT_MAX)],
    top: Annotated[int, Field(ge=1, le=WORDS_TOP_MAX)] = 10,
) -> list[WordCount]:
    """Count the most frequent words in a text.

    Words are runs of letters and digits in any script (with their combining
    accents and vowel signs); punctuation, symbols and underscores separate
    them, except that an apostrophe between letters stays part of the word
    ("don't"; a typographic ’ is counted as '). Matching ignores
    case (Unicode case folding, so "Straße" and "STRASSE" are the same word).
    The result has at most `top` entries, ordered by count (highest first) and
    then alphabetically; it is empty when the text contains no words.
    """
    _check_length(text, "text", WORDS_TEXT_MAX)
    _check_range(top, "top", 1, WORDS_TOP_MAX)
    normalised = unicodedata.normalize("NFC", text).casefold().replace("\u2019", "'")
    counts = Counter(_word_pattern().findall(normalised))
    best = heapq.nsmallest(top, counts.items(), key=lambda item: (-item[1], item[0]))
    return [WordCount(word=word, count=count) for word, count in best]

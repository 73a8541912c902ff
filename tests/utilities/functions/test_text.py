"""Tests for slugify and word_frequencies."""

import pytest

from utilities.functions.text import WordCount, slugify, word_frequencies


def test_slugify_folds_accents_and_punctuation() -> None:
    """Accents are folded to ASCII and punctuation becomes single hyphens."""
    assert slugify("Héllo, Wörld!") == "hello-world"


def test_slugify_collapses_runs_and_trims_hyphens() -> None:
    """Runs of separators collapse and leading/trailing hyphens are removed."""
    assert slugify("  --Foo___Bar  &&  baz-- ") == "foo-bar-baz"


def test_slugify_drops_non_ascii_characters() -> None:
    """Characters with no ASCII form are dropped entirely."""
    assert slugify("日本 Tokyo 🎉 2024") == "tokyo-2024"


def test_slugify_compatibility_forms_are_folded() -> None:
    """NFKD compatibility forms such as ligatures and full-width letters fold."""
    assert slugify("ﬁne Ｆｕｌｌ") == "fine-full"


def test_slugify_empty_result_allowed() -> None:
    """Text without ASCII letters or digits gives an empty slug."""
    assert slugify("") == ""
    assert slugify("!!! ???") == ""
    assert slugify("日本語") == ""


def test_slugify_truncates_without_trailing_hyphen() -> None:
    """Truncation to max_length never leaves a trailing hyphen."""
    assert slugify("hello world", max_length=6) == "hello"
    assert slugify("hello world", max_length=7) == "hello-w"
    assert slugify("abc", max_length=1) == "a"


def test_slugify_default_max_length_is_50() -> None:
    """The default maximum slug length is 50 characters."""
    assert slugify("a" * 80) == "a" * 50


@pytest.mark.parametrize("max_length", [0, -1, 201])
def test_slugify_bad_max_length_is_value_error(max_length: int) -> None:
    """A max_length outside 1..200 raises ValueError."""
    with pytest.raises(ValueError, match="max_length"):
        slugify("abc", max_length=max_length)


def test_slugify_too_long_text_is_value_error() -> None:
    """Text longer than 100,000 characters raises ValueError."""
    with pytest.raises(ValueError, match="text"):
        slugify("a" * 100_001)


def test_word_frequencies_counts_and_orders() -> None:
    """Words are counted case-insensitively, ordered by count then alphabetically."""
    result = word_frequencies("The cat and the hat. THE END, and fin!")
    assert result[:3] == [
        WordCount(word="the", count=3),
        WordCount(word="and", count=2),
        WordCount(word="cat", count=1),
    ]
    assert [w.word for w in result] == ["the", "and", "cat", "end", "fin", "hat"]


def test_word_frequencies_keeps_inner_apostrophes() -> None:
    """Apostrophes inside words are kept; leading/trailing ones and ’ are normalised."""
    result = word_frequencies("Don't stop, don’t 'quote' it's")
    assert {w.word: w.count for w in result} == {
        "don't": 2,
        "stop": 1,
        "quote": 1,
        "it's": 1,
    }


def test_word_frequencies_underscore_and_digits() -> None:
    """Underscores separate words and digits count as word characters."""
    result = word_frequencies("snake_case 42 r2d2")
    assert sorted(w.word for w in result) == ["42", "case", "r2d2", "snake"]


def test_word_frequencies_unicode_words() -> None:
    """Accented and combining-mark words stay whole and case folding is Unicode-aware."""
    result = word_frequencies("Straße STRASSE café cafe\u0301 हिन्दी")
    assert {w.word: w.count for w in result} == {"strasse": 2, "café": 2, "हिन्दी": 1}


def test_word_frequencies_top_limits_entries() -> None:
    """At most `top` entries are returned, with ties broken alphabetically."""
    result = word_frequencies("d c b a a", top=2)
    assert result == [WordCount(word="a", count=2), WordCount(word="b", count=1)]


def test_word_frequencies_no_words_is_empty() -> None:
    """Text without words gives an empty list."""
    assert word_frequencies("") == []
    assert word_frequencies("... --- !!!") == []


@pytest.mark.parametrize("top", [0, 1001])
def test_word_frequencies_bad_top_is_value_error(top: int) -> None:
    """A top outside 1..1000 raises ValueError."""
    with pytest.raises(ValueError, match="top"):
        word_frequencies("a b", top=top)


def test_word_frequencies_too_long_text_is_value_error() -> None:
    """Text longer than 1,000,000 characters raises ValueError."""
    with pytest.raises(ValueError, match="text"):
        word_frequencies("a" * 1_000_001)

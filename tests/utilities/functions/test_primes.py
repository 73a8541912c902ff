"""Tests for prime_factors and count_primes."""

import math

import pytest

import utilities.functions.primes as primes_module
from utilities.functions.primes import count_primes, prime_factors
from utilities.functions.progress import reporting_to


class _Cancelled(Exception):
    """Raised by a test progress callback to cancel work."""


def _brute_factors(n: int) -> list[int]:
    factors = []
    d = 2
    while d * d <= n:
        while n % d == 0:
            factors.append(d)
            n //= d
        d += 1
    if n > 1:
        factors.append(n)
    return factors


def _simple_pi(limit: int) -> list[int]:
    """Return pi(k) for every k in 0..limit."""
    is_prime = [k >= 2 for k in range(limit + 1)]
    for p in range(2, math.isqrt(limit) + 1):
        if is_prime[p]:
            for multiple in range(p * p, limit + 1, p):
                is_prime[multiple] = False
    counts, running = [], 0
    for flag in is_prime:
        running += flag
        counts.append(running)
    return counts


def test_prime_factors_examples() -> None:
    """Small numbers factor as expected, with multiplicity and ascending order."""
    assert prime_factors(2) == [2]
    assert prime_factors(12) == [2, 2, 3]
    assert prime_factors(97) == [97]
    assert prime_factors(1024) == [2] * 10


def test_prime_factors_match_brute_force() -> None:
    """prime_factors agrees with trial division for every n in 2..4999."""
    for n in range(2, 5000):
        assert prime_factors(n) == _brute_factors(n), n


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (999_999_999_999_999_989, [999_999_999_999_999_989]),
        (10**18, [2] * 18 + [5] * 18),
        (999_999_937 * 999_999_929, [999_999_929, 999_999_937]),
        (999_999_937**2, [999_999_937, 999_999_937]),
        (1_000_003 * 999_983 * 999_979, [999_979, 999_983, 1_000_003]),
        (2**31 - 1, [2**31 - 1]),
        (999_999_999_999_999_877, [999_999_999_999_999_877]),
        (2**59 - 1, [179_951, 3_203_431_780_337]),
        (997 * 999_983 * 1_000_000_007, [997, 999_983, 1_000_000_007]),
        (3_215_031_751, [151, 751, 28_351]),  # strong pseudoprime to bases 2, 3, 5, 7
    ],
)
def test_prime_factors_large_hard_cases(n: int, expected: list[int]) -> None:
    """Large primes, semiprimes, squares and pseudoprimes factor correctly."""
    result = prime_factors(n)
    assert result == expected
    assert math.prod(result) == n


@pytest.mark.parametrize("n", [-5, 0, 1, 10**18 + 1])
def test_prime_factors_out_of_range_is_value_error(n: int) -> None:
    """n outside 2..10^18 raises ValueError."""
    with pytest.raises(ValueError, match="between 2 and"):
        prime_factors(n)


def test_count_primes_known_values() -> None:
    """count_primes matches known values of pi."""
    assert count_primes(0) == 0
    assert count_primes(1) == 0
    assert count_primes(2) == 1
    assert count_primes(3) == 2
    assert count_primes(10) == 4
    assert count_primes(100) == 25
    assert count_primes(10**6) == 78_498


def test_count_primes_ten_million() -> None:
    """pi(10^7) is 664579 (several segments)."""
    assert count_primes(10**7) == 664_579


def test_count_primes_match_simple_sieve() -> None:
    """count_primes agrees with a simple sieve for every limit up to 2000."""
    expected = _simple_pi(2000)
    for limit in range(2001):
        assert count_primes(limit) == expected[limit], limit


def test_count_primes_small_segments_match_simple_sieve(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With tiny segments, segment boundaries do not change the count."""
    monkeypatch.setattr(primes_module, "_SEGMENT_ODDS", 7)
    expected = _simple_pi(3000)
    for limit in [*range(200), 997, 1000, 2048, 2999, 3000]:
        assert count_primes(limit) == expected[limit], limit


@pytest.mark.parametrize("limit", [-1, 10**9 + 1])
def test_count_primes_out_of_range_is_value_error(limit: int) -> None:
    """limit outside 0..10^9 raises ValueError."""
    with pytest.raises(ValueError, match="between 0 and"):
        count_primes(limit)


def test_count_primes_reports_increasing_progress(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """count_primes reports strictly increasing fractions ending at exactly 1.0."""
    monkeypatch.setattr(primes_module, "_SEGMENT_ODDS", 1000)
    seen: list[float] = []
    with reporting_to(seen.append):
        assert count_primes(100_000) == 9592
    assert len(seen) == 50
    assert all(a < b for a, b in zip(seen, seen[1:], strict=False))
    assert 0.0 < seen[0]
    assert seen[-1] == 1.0


def test_count_primes_tiny_limit_reports_completion() -> None:
    """A limit below 2 still reports completion once."""
    seen: list[float] = []
    with reporting_to(seen.append):
        assert count_primes(1) == 0
    assert seen == [1.0]


def test_count_primes_cancelled_by_callback(monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception raised by the progress callback stops count_primes and propagates."""
    monkeypatch.setattr(primes_module, "_SEGMENT_ODDS", 1000)
    seen: list[float] = []

    def cancel_after_three(fraction: float) -> None:
        seen.append(fraction)
        if len(seen) == 3:
            raise _Cancelled

    with reporting_to(cancel_after_three), pytest.raises(_Cancelled):
        count_primes(100_000)
    assert len(seen) == 3

"""Prime numbers: factorisation and counting."""

from math import gcd, isqrt
from typing import Annotated

from pydantic import Field

from utilities.functions.progress import report_progress

FACTOR_MAX = 10**18
COUNT_MAX = 10**9

_TRIAL_LIMIT = 1000
_MILLER_RABIN_BASES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)
# Odd numbers per count_primes segment (one bytearray of this many bytes, 4 MiB).
_SEGMENT_ODDS = 1 << 22


def _small_primes(limit: int) -> list[int]:
    """Return the primes <= limit (simple sieve of Eratosthenes)."""
    if limit < 2:
        return []
    sieve = bytearray([1]) * (limit + 1)
    sieve[0] = sieve[1] = 0
    for p in range(2, isqrt(limit) + 1):
        if sieve[p]:
            sieve[p * p :: p] = bytes(len(range(p * p, limit + 1, p)))
    return [i for i, flag in enumerate(sieve) if flag]


_TRIAL_PRIMES = _small_primes(_TRIAL_LIMIT)


def _is_prime(n: int) -> bool:
    """Deterministic Miller-Rabin test, exact for n < 3.3 * 10**24."""
    if n < 2:
        return False
    for p in _MILLER_RABIN_BASES:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for a in _MILLER_RABIN_BASES:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def _find_divisor(n: int) -> int:
    """Return a non-trivial divisor of an odd composite n (Pollard's rho, Brent's variant)."""
    batch = 128
    for c in range(1, n):
        y, r, q, g = 2, 1, 1, 1
        x = ys = y
        while g == 1:
            x = y
            for _ in range(r):
                y = (y * y + c) % n
            k = 0
            while k < r and g == 1:
                ys = y
                for _ in range(min(batch, r - k)):
                    y = (y * y + c) % n
                    q = q * abs(x - y) % n
                g = gcd(q, n)
                k += batch
            r *= 2
        if g == n:
            # The batch overshot: redo it one step at a time.
            g = 1
            while g == 1:
                ys = (ys * ys + c) % n
                g = gcd(abs(x - ys), n)
        if g != n:
            return g
    raise AssertionError(f"no divisor found for {n}")  # unreachable for odd composites


def _factor_large(n: int, out: list[int]) -> None:
    """Append the prime factors of n, which has no prime factor below _TRIAL_LIMIT."""
    if n == 1:
        return
    if n < _TRIAL_LIMIT * _TRIAL_LIMIT or _is_prime(n):
        out.append(n)
        return
    d = _find_divisor(n)
    _factor_large(d, out)
    _factor_large(n // d, out)


def prime_factors(n: Annotated[int, Field(ge=2, le=FACTOR_MAX)]) -> list[int]:
    """Factorise an integer into primes.

    Returns the prime factors of `n` in ascending order, each repeated as often
    as it divides `n` (12 gives [2, 2, 3]; a prime gives [n]). `n` must be
    between 2 and 10^18; any such number is factorised in well under a second.
    """
    if not 2 <= n <= FACTOR_MAX:
        raise ValueError(f"n must be between 2 and {FACTOR_MAX}, got {n}")
    factors: list[int] = []
    for p in _TRIAL_PRIMES:
        if p * p > n:
            break
        while n % p == 0:
            factors.append(p)
            n //= p
    if n > 1 and n < _TRIAL_LIMIT * _TRIAL_LIMIT:
        factors.append(n)  # no factor below _TRIAL_LIMIT, so n is prime
    elif n > 1:
        large: list[int] = []
        _factor_large(n, large)
        factors.extend(sorted(large))
    return factors


def count_primes(limit: Annotated[int, Field(ge=0, le=COUNT_MAX)]) -> int:
    """Count the prime numbers less than or equal to a limit.

    Returns pi(limit), e.g. 4 for 10 and 25 for 100; 0 when `limit` is below 2.
    `limit` may be up to 10^9. Uses a segmented sieve of Eratosthenes over odd
    numbers and reports progress after each segment of about 8 million
    numbers; the largest limits take a second or two.
    """
    if not 0 <= limit <= COUNT_MAX:
        raise ValueError(f"limit must be between 0 and {COUNT_MAX}, got {limit}")
    if limit < 2:
        report_progress(1.0)
        return 0
    # Sieve odd numbers only: index i stands for 2 * i + 1, for i in [0, odds).
    odds = (limit + 1) // 2
    base = _small_primes(isqrt(limit))[1:]  # odd sieving primes
    segment_size = min(_SEGMENT_ODDS, odds)
    zeros = memoryview(bytes(segment_size))
    ones = b"\x01" * segment_size
    count = 1  # the prime 2
    for low in range(0, odds, segment_size):
        size = min(segment_size, odds - low)
        segment = bytearray(ones[:size])
        if low == 0:
            segment[0] = 0  # 1 is not prime
        top = 2 * (low + size) - 1  # largest number in this segment
        for p in base:
            first = (
                (p * p) // 2
            )  # index of p * p; earlier multiples are crossed off by smaller primes
            if p * p > top:
                break
            # Odd multiples of p have indices congruent to first (mod p).
            start = first - low if first >= low else (first - low) % p
            if start < size:
                segment[start::p] = zeros[: (size - 1 - start) // p + 1]
        count += segment.count(1)
        report_progress((low + size) / odds)
    return count

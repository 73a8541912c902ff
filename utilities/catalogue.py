"""The served functions: one line each. Adding a line is all it takes."""

from utilities.functions import numbers, primes, text, timezones
from utilities.registry import Registry

registry = Registry()

registry.add(text.slugify, execution="inline")
registry.add(text.word_frequencies, execution="process")
registry.add(numbers.describe, execution="process")
registry.add(timezones.convert_timezone, execution="inline")
registry.add(primes.prime_factors, execution="process", timeout_s=10)
registry.add(primes.count_primes, execution="process", timeout_s=600, job=True)

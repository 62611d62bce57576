"""The benchmarks' one percentile (``bench.stats.percentile``): linear between closest ranks."""

from __future__ import annotations

import re
import statistics
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.stats import percentile

BENCH = Path(__file__).resolve().parents[3] / "bench"
samples = st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=1, max_size=200)


@pytest.mark.parametrize(("values", "q", "expected"), [
    ([1.0, 2.0, 3.0, 4.0], 25, 1.75),  # rank 0.75: between 1 and 2
    ([1.0, 2.0, 3.0, 4.0], 50, 2.5),
    ([4.0, 1.0, 3.0, 2.0], 100, 4.0),  # unsorted input
    ([4.0, 1.0, 3.0, 2.0], 0, 1.0),
    ([float(i) for i in range(1, 101)], 99, 99.01),  # rank 98.01 of 1..100
    ([7.0], 99, 7.0),  # one sample is every percentile of itself
])  # fmt: skip
def test_worked_examples(values: list[float], q: float, expected: float) -> None:
    assert percentile(values, q) == pytest.approx(expected)


@given(samples)
def test_p50_is_the_median(values: list[float]) -> None:
    assert percentile(values, 50) == pytest.approx(statistics.median(values), abs=1e-6)


@given(st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=2, max_size=200), st.integers(1, 99))
def test_same_as_the_standard_librarys_inclusive_quantiles(values: list[float], q: int) -> None:
    expected = statistics.quantiles(values, n=100, method="inclusive")[q - 1]
    assert percentile(values, q) == pytest.approx(expected, abs=1e-6)


@given(samples, st.floats(0, 100), st.floats(0, 100))
def test_within_the_samples_and_monotonic_in_q(values: list[float], a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert min(values) <= percentile(values, low) <= percentile(values, high) <= max(values)


@pytest.mark.parametrize("q", [-1, 100.5, float("nan")])
def test_q_outside_0_to_100_is_refused_with_its_value(q: float) -> None:
    with pytest.raises(ValueError, match=r"q=.*between 0 and 100"):
        percentile([1.0, 2.0], q)


def test_no_values_is_refused() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_every_benchmark_uses_it_and_none_defines_its_own() -> None:
    """Medians and percentiles of bench/ come from bench.stats only, so their p99s compare."""
    own = re.compile(r"statistics\.(median|quantiles)|numpy\.percentile|\bdef _?pct\b|\) \* 0\.9\d\)")
    offenders = [p.name for p in BENCH.glob("*.py") if p.name != "stats.py" and own.search(p.read_text())]
    assert offenders == []
    users = {p.name for p in BENCH.glob("*.py") if "percentile(" in p.read_text()}
    existing = {"collector.py", "command_validation.py", "enforcer.py", "sandbox_lifecycle.py", "sink.py"}
    assert existing <= users

"""probes.histogram: constant memory, three significant digits, exact nearest-rank ranks."""

import math
import random

import pytest

from probes.histogram import HIGHEST_US, LatencyHistogram, SparseHistogram, bucket_of, value_of


def exact_percentile(values_ms: list[float], percent: float) -> float:
    ordered = sorted(values_ms)
    return ordered[max(1, math.ceil(percent / 100 * len(ordered))) - 1]


def test_buckets_are_contiguous_and_at_most_a_thousandth_wide() -> None:
    previous = -1
    for value in [*range(0, 5000), *range(5000, HIGHEST_US, 9973), HIGHEST_US]:
        index = bucket_of(value)
        assert index >= previous
        previous = index
        assert abs(value_of(index) - value) <= max(0.5, value / 1024)


def test_values_beyond_the_range_are_clamped() -> None:
    assert bucket_of(HIGHEST_US * 10) == bucket_of(HIGHEST_US)
    assert bucket_of(-5) == 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_percentiles_are_within_a_twentieth_of_a_percent_of_exact(seed: int) -> None:
    chooser = random.Random(seed)
    values_s = [chooser.lognormvariate(-4, 1.2) for _ in range(20_000)]
    histogram = LatencyHistogram()
    for value in values_s:
        histogram.record(value)
    values_ms = [int(value * 1_000_000) / 1000 for value in values_s]

    found = histogram.percentiles_ms([50, 90, 99, 99.9])

    for percent, value in found.items():
        assert value == pytest.approx(exact_percentile(values_ms, percent), rel=5e-4, abs=1e-3)
    assert histogram.max_ms() == max(values_ms)
    assert histogram.mean_ms() == pytest.approx(sum(values_ms) / len(values_ms), rel=1e-9)
    assert histogram.count == 20_000


def test_a_constant_value_is_reported_exactly() -> None:
    histogram = LatencyHistogram()
    for _ in range(10):
        histogram.record(0.5)

    assert histogram.percentiles_ms([50, 99]) == {50: 500.0, 99: 500.0}


def test_memory_does_not_grow_with_samples() -> None:
    histogram = LatencyHistogram()
    size = len(histogram.state()[0])
    for value in range(100_000):
        histogram.record(value / 1000)

    assert len(histogram.state()[0]) == size == 23_552


def test_merged_histograms_equal_one_histogram_of_all_values() -> None:
    left, right, both = LatencyHistogram(), LatencyHistogram(), LatencyHistogram()
    for value in range(1, 1000):
        (left if value % 2 else right).record(value / 1000)
        both.record(value / 1000)
    merged = LatencyHistogram()
    merged.merge(*left.state())
    merged.merge(*right.state())

    assert merged.state() == both.state()
    assert merged.percentiles_ms([50, 99]) == both.percentiles_ms([50, 99])


def test_the_sparse_histogram_agrees_with_the_full_one() -> None:
    full, sparse = LatencyHistogram(), SparseHistogram()
    for value in range(1, 5000, 7):
        sparse.record_index(full.record(value / 10_000), value / 10_000)

    assert sparse.percentiles_ms([50, 99]) == full.percentiles_ms([50, 99])
    assert sparse.max_ms() == full.max_ms()


def test_an_empty_histogram_reports_zeros() -> None:
    assert LatencyHistogram().percentiles_ms([50]) == {50: 0.0}
    assert SparseHistogram().percentiles_ms([99]) == {99: 0.0}
    assert LatencyHistogram().max_ms() == LatencyHistogram().mean_ms() == 0.0

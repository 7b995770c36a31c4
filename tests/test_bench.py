"""The shared benchmark helpers used by the papers' bench.py scripts."""

from common.bench import median_seconds, roofline_report


def test_median_seconds_skips_warmup_calls():
    calls = []
    t = median_seconds(calls.append, repeats=3, warmup=2)
    assert calls == [0, 1, 2, 3, 4] and t >= 0


def test_roofline_report_names_the_fraction_and_memory():
    text = roofline_report(2e9, 0.1)
    assert "20.0 GFLOP/s" in text and "of roofline" in text and "peak resident memory" in text

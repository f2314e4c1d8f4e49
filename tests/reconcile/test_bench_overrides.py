"""`make bench-overrides` at a small size: the benchmark's own checks run (every held override's
numbers verified, coherent, non-negative) and the table reports what it measured."""

from __future__ import annotations

from bench import overrides


def test_the_overrides_benchmark_holds_what_it_applies(tmp_path):
    result = overrides.run(restaurants=3, n=40)
    assert result.n_nodes > result.n_bottom == 300 and result.overrides == 40
    assert result.held + result.rejected == 40 and result.held > 0
    assert result.max_pin_error <= 1e-6 and result.coherence_error <= 1e-6
    assert result.min_value >= 0
    table = overrides.format_table(result)
    assert "40 overrides applied" in table and f"{result.held} / {result.rejected}" in table
    assert overrides.write(result, tmp_path).exists()

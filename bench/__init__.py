"""Benchmarks: every speed, memory and accuracy figure the README quotes (`frycast bench …`,
`make bench`), each leaving its numbers in bench_results/<name>.json.

Measures the other rooms from outside, so it may import any of them; none imports it. Speed and
memory targets live here, never in timed tests."""

"""Benchmark suite: ``python -m benchmarks [--quick] [NAME ...]``.

Every figure is a ratio against a baseline measured in the same run (the machines are shared
and noisy), the median of >= 5 repeats, written with the machine and versions to
``benchmarks/results/<name>.json`` and printed as a Markdown table.
"""

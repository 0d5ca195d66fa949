"""pgqueue's benchmark suite: `python -m benchmarks.run` prints one table of ratios to baselines
measured in the same run (raw SQL loops on the same database). See docs/benchmarks.md."""

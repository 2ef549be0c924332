"""GRP's benchmarks: `python -m bench` (or bench/run) measures the scale targets of issue #6."""

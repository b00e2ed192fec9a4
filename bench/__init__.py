"""e2email's benchmarks against the tools people would otherwise use (``python -m bench``).

One script per row of the target table in performance.md; each starts the test stack itself
and can run alone (``.venv/bin/python bench/NAME.py --help``). See docs/performance.md.
"""

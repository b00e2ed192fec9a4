"""Benchmark: a 100 MB attachment, PGP/MIME encrypt + submit, against
``gpg -a -e --compress-algo none`` on the same file (performance.md: >= 0.5x gpg's
throughput; peak RSS <= 1.5x the message + 64 MiB). See bench/large.py for the method.

    .venv/bin/python bench/large_pgp.py [--size 100] [--rounds 3]
"""

from __future__ import annotations

import sys

from large import PGP, main

if __name__ == "__main__":
    sys.exit(main(PGP))

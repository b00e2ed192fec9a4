"""Benchmark: a 100 MB attachment, S/MIME encrypt + submit, against
``openssl cms -encrypt -stream`` on the same file (performance.md: >= 0.3x openssl's
throughput; peak RSS <= 2.5x the message + 64 MiB). See bench/large.py for the method.

    .venv/bin/python bench/large_smime.py [--size 100] [--rounds 3]
"""

from __future__ import annotations

import sys

from large import SMIME_ROW, main

if __name__ == "__main__":
    sys.exit(main(SMIME_ROW))

"""`make demo` keeps working: the demo script runs end to end and proves what it claims."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_demo_runs_end_to_end() -> None:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}"
    p = subprocess.run(
        [sys.executable, str(ROOT / "demo" / "run_demo.py")],
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )
    out = p.stdout.decode()
    assert p.returncode == 0, out + p.stderr.decode()
    assert "demo OK" in out
    assert "-----BEGIN PGP MESSAGE-----" in out  # what went over the wire is shown, encrypted
    wire = out[out.index("what the server received") : out.index("bob decrypts")]
    assert "Subject: [...]" in wire and "Lunch on Friday" not in wire
    assert "Subject: Lunch on Friday?" in out[out.index("bob decrypts") :]
    assert 'Good signature from "Alice <alice@example.test>"' in out

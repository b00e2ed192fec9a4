"""``e2email check`` as a user runs it: JSON per contract.md, one line per MX, colour on a TTY."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.services.transport_scenarios import ZONE, Scenarios, scenarios_fixture  # noqa: F401
from tests.support import cli_env

MX_KEYS = {
    "host",
    "preference",
    "addresses",
    "starttls",
    "tls_version",
    "certificate_valid",
    "certificate_error",
    "dane",
}


def run(sc: Scenarios, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cfg = sc.config(tmp_path)
    cmd = [sys.executable, "-m", "e2email.cli.main", "--config", str(cfg), "check", *args]
    return subprocess.run(
        cmd, capture_output=True, text=True, env=cli_env(tmp_path), timeout=60, check=False
    )


def test_json_shape(scenarios: Scenarios, tmp_path: Path) -> None:
    p = run(scenarios, tmp_path, "--json", f"bob@backup.{ZONE}", f"sts.{ZONE}", f"dane.{ZONE}")
    assert p.returncode == 0, p.stderr
    reports: list[dict[str, Any]] = json.loads(p.stdout)
    assert [r["domain"] for r in reports] == [f"backup.{ZONE}", f"sts.{ZONE}", f"dane.{ZONE}"]
    backup, sts, dane = reports
    for r in reports:
        assert {"domain", "verdict", "mx", "mta_sts", "dnssec", "tls_rpt"} <= set(r)
        assert {"mode", "max_age", "mx", "error"} <= set(r["mta_sts"])
        for mx in r["mx"]:
            assert set(mx) >= MX_KEYS
    assert backup["verdict"] == "plaintext"
    assert [m["starttls"] for m in backup["mx"]] == [True, False]
    assert backup["mx"][0]["certificate_valid"] is True
    assert sts["verdict"] == "mta-sts"
    assert sts["mta_sts"] == {
        "mode": "enforce",
        "max_age": 86400,
        "mx": [f"*.{ZONE}"],
        "error": None,
        "cached": False,
    }
    assert sts["tls_rpt"] == [f"mailto:tlsrpt@sts.{ZONE}"]
    assert (dane["verdict"], dane["dnssec"], dane["mx"][0]["dane"]) == ("dane", "secure", "match")


def test_human_output_one_line_per_mx_without_colour_in_a_pipe(
    scenarios: Scenarios, tmp_path: Path
) -> None:
    p = run(scenarios, tmp_path, f"backup.{ZONE}")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith(f"backup.{ZONE}: plaintext - weakest of 2 MX is mxplain")
    mx_lines = [line for line in lines if line.startswith("  MX ")]
    assert len(mx_lines) == 2
    assert f"MX 10 mxv.{ZONE}" in mx_lines[0] and "verified-tls" in mx_lines[0]
    assert f"MX 20 mxplain.{ZONE}" in mx_lines[1] and "does not offer STARTTLS" in mx_lines[1]
    assert "\x1b[" not in p.stdout


def test_colour_on_a_terminal(scenarios: Scenarios, tmp_path: Path) -> None:
    cfg = scenarios.config(tmp_path)
    leader, follower = pty.openpty()
    cmd = [sys.executable, "-m", "e2email.cli.main", "--config", str(cfg), "check", f"plain.{ZONE}"]
    proc = subprocess.Popen(cmd, stdout=follower, stderr=subprocess.DEVNULL, env=cli_env(tmp_path))
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    assert proc.wait(timeout=60) == 0
    assert b"\x1b[31m" in out and b"plaintext" in out  # red


def test_closed_port_says_so_plainly(scenarios: Scenarios, tmp_path: Path) -> None:
    p = run(scenarios, tmp_path, f"closed.{ZONE}")
    assert p.returncode == 0
    assert f"closed.{ZONE}: unknown" in p.stdout and "port 25 closed" in p.stdout
    assert "DNSSEC: secure" in p.stdout


def test_json_says_bogus_for_a_zone_that_fails_validation(
    scenarios: Scenarios, tmp_path: Path
) -> None:
    p = run(scenarios, tmp_path, "--json", "bogus.test", "insecure.test")
    assert p.returncode == 0, p.stderr
    bogus, insecure = json.loads(p.stdout)
    assert (bogus["dnssec"], bogus["verdict"], bogus["mx"]) == ("bogus", "unknown", [])
    assert insecure["dnssec"] == "insecure"
    assert all(mx["dane"] != "match" for mx in insecure["mx"])


@pytest.mark.parametrize("arg", ["not a domain", "-x", "bob@", "a..b"])
def test_bad_arguments_are_usage_errors(scenarios: Scenarios, tmp_path: Path, arg: str) -> None:
    p = run(scenarios, tmp_path, "--", arg)
    assert p.returncode == 64
    assert p.stderr.startswith("e2email: ") and p.stderr.count("\n") == 1


def test_help_teaches_the_ladder(tmp_path: Path) -> None:
    p = subprocess.run(
        [sys.executable, "-m", "e2email.cli.main", "check", "--help"],
        capture_output=True,
        text=True,
        env=cli_env(tmp_path),
        check=False,
    )
    assert p.returncode == 0
    assert "dane > mta-sts > verified-tls" in p.stdout and "port 25" in p.stdout

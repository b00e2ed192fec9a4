"""Oracle: Postfix's posttls-finger judges the same MX listeners as ``check`` does.

posttls-finger (-l secure, the MX name as the match) says "Verified TLS connection" only
when the chain verifies under the CA file and the certificate matches the name; we compare
that, and whether TLS was offered at all, with our per-MX verdicts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from e2email import config
from e2email.services.runtime import Runtime
from e2email.services.transport.check import check

from .transport_scenarios import ZONE, Scenarios, scenarios_fixture  # noqa: F401

CASES = {  # domain label -> MX host label
    "valid": "mxv",
    "selfsigned": "mxss",
    "wronghost": "mxwh",
    "expired": "mxexp",
    "plain": "mxplain",
    "daneta": "mxta",
}


def posttls_finger(sc: Scenarios, tmp_path: Path, mx: str) -> str:
    binary = shutil.which("posttls-finger") or "/usr/sbin/posttls-finger"
    conf = tmp_path / "ptf"
    conf.mkdir(exist_ok=True)
    main_cf = conf / "main.cf"
    main_cf.write_text("compatibility_level = 3.6\nsmtp_dns_support_level = disabled\n")
    past = time.time() - 60  # Postfix waits while a config file is younger than a second
    os.utime(main_cf, (past, past))
    env = {**os.environ, "MAIL_CONFIG": str(conf)}
    cmd = [binary, "-c", "-l", "secure", "-F", str(sc.stack.ca_pem)]
    cmd += [f"[{sc.ips[mx]}]:25", f"{mx}.{ZONE}"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=30, check=False)
    return p.stdout + p.stderr


@pytest.mark.parametrize("label", sorted(CASES))
def test_certificate_verdicts_agree_with_posttls_finger(
    scenarios: Scenarios, tmp_path: Path, label: str
) -> None:
    mx_label = CASES[label]
    oracle = posttls_finger(scenarios, tmp_path, mx_label)
    rt = Runtime(config.load(str(scenarios.config(tmp_path))))
    [report] = check(rt, [f"{label}.{ZONE}"])
    [mx] = report.judged.mx
    tls_seen = "TLS connection established" in oracle
    assert (mx.probe is not None and mx.probe.tls) is tls_seen, oracle
    verified = "Verified TLS connection established" in oracle
    ours = mx.certificate.valid if mx.certificate else False
    assert ours is verified, f"posttls-finger said:\n{oracle}\nwe said: {mx.reason}"
    if tls_seen:
        version = oracle.split("connection established to ")[1].split(": ")[1].split(" ")[0]
        assert mx.probe is not None and mx.probe.tls_version == version

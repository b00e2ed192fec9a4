"""Credentials from the system keyring, through keyring's own backend selection.

``PYTHON_KEYRING_BACKEND`` picks a real backend class for each case: a file-backed test backend
(tests/fakes/keyring_backend.py) that e2email must accept, and keyring's fail backend and
keyrings.alt's PlaintextKeyring that it must refuse unless the user opts in. The password goes
in on stdin and comes back out only on the TLS connection to the stack's Postfix.
"""

from __future__ import annotations

import hashlib
import json
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import ROOT, cli_env, secret_forms

FILE_BACKEND = "fakes.keyring_backend.FileKeyring"
FAIL_BACKEND = "keyring.backends.fail.Keyring"
PLAINTEXT_BACKEND = "keyrings.alt.file.PlaintextKeyring"


def config(tmp: Path, stack: Any, extra: str = "") -> Path:
    ep = stack.submission
    cfg = tmp / "config.toml"
    cfg.write_text(f"""\
[accounts.work]
from = ["alice@example.test"]
smtp_host = "{ep.host}"
smtp_port = {ep.port}
username = "alice@example.test"

[network]
nameservers = ["{stack.nameserver}"]
ca_file = "{stack.ca_pem}"
timeout = 10
{extra}
""")
    return cfg


def run(
    tmp: Path, cfg: Path, backend: str, *args: str, stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    env = cli_env(tmp)
    paths = [env.get("PYTHONPATH", ""), str(ROOT / "tests")]
    env.update(
        PYTHON_KEYRING_BACKEND=backend,
        E2EMAIL_TEST_KEYRING=str(tmp / "keyring.json"),
        PYTHONPATH=":".join(p for p in paths if p),
    )
    return subprocess.run(
        [sys.executable, "-m", "e2email.cli.main", "--config", str(cfg), *args],
        input=stdin,
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_set_password_then_check_authenticates(stack: Any, tmp_path: Path) -> None:
    cfg = config(tmp_path, stack)
    password = stack.users["alice@example.test"]
    p = run(
        tmp_path,
        cfg,
        FILE_BACKEND,
        "account",
        "set-password",
        "work",
        stdin=b"%s\n" % password.encode(),
    )
    assert p.returncode == 0, p.stderr.decode()
    assert FILE_BACKEND in p.stdout.decode()
    stored = json.loads((tmp_path / "keyring.json").read_text())
    assert stored == {"e2email\0work": password}
    p = run(tmp_path, cfg, FILE_BACKEND, "-vv", "account", "check", "work")
    assert p.returncode == 0, p.stderr.decode()
    out = p.stdout.decode()
    assert "authenticated with PLAIN" in out and "REQUIRETLS not offered" in out
    der = ssl.PEM_cert_to_DER_cert(stack.certs["smtp"][0].read_text())
    assert f"sha256:{hashlib.sha256(der).hexdigest()}" in out
    for form in secret_forms(password, "alice@example.test"):
        assert form not in p.stdout and form not in p.stderr


def test_wrong_password_in_the_keyring_is_77(stack: Any, tmp_path: Path) -> None:
    cfg = config(tmp_path, stack)
    run(tmp_path, cfg, FILE_BACKEND, "account", "set-password", "work", stdin=b"nope\n")
    p = run(tmp_path, cfg, FILE_BACKEND, "account", "check", "work")
    assert p.returncode == 77, p.stderr.decode()
    assert b"authentication failed" in p.stderr and b"nope" not in p.stderr


def test_no_password_stored_is_78_with_the_fix(stack: Any, tmp_path: Path) -> None:
    p = run(tmp_path, config(tmp_path, stack), FILE_BACKEND, "account", "check", "work")
    assert p.returncode == 78
    assert b"e2email account set-password work" in p.stderr


@pytest.mark.parametrize("backend", [FAIL_BACKEND, PLAINTEXT_BACKEND])
def test_insecure_backends_are_refused(stack: Any, tmp_path: Path, backend: str) -> None:
    cfg = config(tmp_path, stack)
    p = run(tmp_path, cfg, backend, "account", "set-password", "work", stdin=b"secret-pw\n")
    assert p.returncode == 78, p.stderr.decode()
    err = p.stderr.decode()
    assert "cannot store secrets safely" in err and "allow_insecure_keyring" in err
    assert "Traceback" not in err
    leaked = [f for f in tmp_path.rglob("*") if f.is_file() and b"secret-pw" in f.read_bytes()]
    assert leaked == []
    p = run(tmp_path, cfg, backend, "account", "check", "work")
    assert p.returncode == 78


def test_plaintext_backend_when_the_user_opts_in(stack: Any, tmp_path: Path) -> None:
    cfg = config(tmp_path, stack, "\n[secrets]\nallow_insecure_keyring = true\n")
    password = stack.users["alice@example.test"].encode()
    p = run(
        tmp_path, cfg, PLAINTEXT_BACKEND, "account", "set-password", "work", stdin=password + b"\n"
    )
    assert p.returncode == 0, p.stderr.decode()
    assert PLAINTEXT_BACKEND in p.stdout.decode()
    p = run(tmp_path, cfg, PLAINTEXT_BACKEND, "account", "check", "work")
    assert p.returncode == 0, p.stderr.decode()


def test_set_password_for_an_unknown_account_is_78(stack: Any, tmp_path: Path) -> None:
    p = run(
        tmp_path,
        config(tmp_path, stack),
        FILE_BACKEND,
        "account",
        "set-password",
        "home",
        stdin=b"x\n",
    )
    assert p.returncode == 78 and b"no account named 'home'" in p.stderr
    assert not (tmp_path / "keyring.json").exists()

"""A passphrase-protected S/MIME key: the passphrase from the keyring or a command, never argv.

alice's S/MIME key is re-encrypted here (PKCS#8, AES-256) and configured as ``[smime]
private_key``. ``e2email smime set-passphrase`` checks the passphrase against that key before
storing it in a real keyring backend (the file-backed test backend, selected through keyring's
own PYTHON_KEYRING_BACKEND); a signed and encrypted message then travels through the stack's
Postfix and openssl, as bob, verifies alice's signature.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from tests.services.protect_helpers import Workdir, openssl_decrypt, openssl_verify, parse
from tests.support import (
    ROOT,
    SMIME,
    Cli,
    GpgHome,
    account_toml,
    assert_nothing_delivered,
    cli_env,
    write_config,
)

PASSPHRASE = "correct horse battery staple"
FILE_BACKEND = "fakes.keyring_backend.FileKeyring"


def encrypted_key(tmp: Path) -> Path:
    """alice's S/MIME private key, encrypted with PASSPHRASE."""
    key = serialization.load_pem_private_key((SMIME / "alice.key").read_bytes(), None)
    path = tmp / "alice-encrypted.key"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASSPHRASE.encode()),
        )
    )
    return path


def make(
    tmp: Path,
    stack: Any,
    gnupghome: Path,
    extra: str = "",
    key: Path | None = None,
    cert: str = "alice",
) -> Cli:
    """alice's account; her S/MIME identity with the encrypted key; bob's certificate."""
    certs = tmp / "certs"
    certs.mkdir(exist_ok=True)
    shutil.copy(SMIME / "bob.pem", certs)
    body = (
        account_toml(stack)
        + textwrap.dedent(f"""
        [discovery]
        methods = ["local"]

        [smime]
        certificate = "{SMIME}/{cert}.pem"
        private_key = "{key or encrypted_key(tmp)}"
        trust_anchors = "{SMIME}/ca.pem"
        certificates_dir = "{certs}"
        """)
        + textwrap.dedent(extra)
    )
    env = cli_env(tmp) | {
        "PYTHON_KEYRING_BACKEND": FILE_BACKEND,
        "E2EMAIL_TEST_KEYRING": str(tmp / "keyring.json"),
        "PYTHONPATH": str(ROOT / "tests"),
    }
    return Cli(write_config(tmp, stack, gnupghome, body), env)


def stored(tmp: Path) -> dict[str, str]:
    path = tmp / "keyring.json"
    return dict(json.loads(path.read_text())) if path.exists() else {}


def send(cli: Cli) -> Any:
    return cli(
        "send", "--from", "alice@example.test", "--to", "bob@example.test",
        "--subject", "locked key", stdin=b"Signed with a key that has a passphrase.\n",
    )  # fmt: skip


@pytest.fixture
def alice(gpg_home: Callable[..., GpgHome]) -> GpgHome:
    return gpg_home(secret=["alice"])  # no OpenPGP key for bob: his copy is S/MIME


def test_wrong_passphrase_is_refused_and_nothing_is_stored(
    stack: Any, tmp_path: Path, alice: GpgHome
) -> None:
    cli = make(tmp_path, stack, alice.path)
    p = cli("smime", "set-passphrase", stdin=b"correct horse battery stapler\n")
    assert p.returncode == 78, p.stderr.decode()
    assert p.stderr.decode().startswith("e2email: the passphrase does not open ")
    assert len(p.stderr.decode().splitlines()) == 1
    assert stored(tmp_path) == {}


def test_stored_passphrase_signs_a_message_through_the_stack(
    stack: Any, tmp_path: Path, alice: GpgHome, work: Workdir
) -> None:
    cli = make(tmp_path, stack, alice.path)
    p = cli("smime", "set-passphrase", stdin=PASSPHRASE.encode() + b"\n")
    assert p.returncode == 0, p.stderr.decode()
    assert FILE_BACKEND.rsplit(".", 1)[1] in p.stdout.decode()
    assert stored(tmp_path) == {"e2email\0smime": PASSPHRASE}
    assert PASSPHRASE not in p.stdout.decode() + p.stderr.decode()
    before = stack.sink.snapshot()
    s = send(cli)
    assert s.returncode == 0, s.stderr.decode()
    [raw] = stack.sink.wait_new(before, 1)
    assert parse(raw).get_content_type() == "application/pkcs7-mime"
    d = openssl_decrypt(raw, "bob", work)
    assert d.returncode == 0, d.stderr.decode()
    v = openssl_verify(d.stdout, work)
    assert v.returncode == 0 and b"Verification successful" in v.stderr, v.stderr.decode()


def test_no_passphrase_anywhere_sends_nothing_and_says_how(
    stack: Any, tmp_path: Path, alice: GpgHome
) -> None:
    cli = make(tmp_path, stack, alice.path)
    before = stack.sink.snapshot()
    p = send(cli)
    assert p.returncode == 78, p.stderr.decode()
    assert "e2email smime set-passphrase" in p.stderr.decode()
    assert_nothing_delivered(stack, before)


def test_passphrase_command_opens_the_key(stack: Any, tmp_path: Path, alice: GpgHome) -> None:
    cli = make(tmp_path, stack, alice.path, f"passphrase_command = \"printf '{PASSPHRASE}'\"\n")
    before = stack.sink.snapshot()
    p = send(cli)
    assert p.returncode == 0, p.stderr.decode()
    [raw] = stack.sink.wait_new(before, 1)
    assert parse(raw).get_param("smime-type") == "enveloped-data"


def test_a_wrong_passphrase_command_sends_nothing_and_says_so(
    stack: Any, tmp_path: Path, alice: GpgHome
) -> None:
    cli = make(tmp_path, stack, alice.path, "passphrase_command = \"printf 'not it'\"\n")
    before = stack.sink.snapshot()
    p = send(cli)
    assert p.returncode == 78, p.stderr.decode()
    assert p.stderr.decode().startswith("e2email: the passphrase does not open ")
    assert_nothing_delivered(stack, before)


def test_a_key_without_passphrase_needs_none(stack: Any, tmp_path: Path, alice: GpgHome) -> None:
    cli = make(tmp_path, stack, alice.path, key=SMIME / "alice.key")
    p = cli("smime", "set-passphrase", stdin=b"anything\n")
    assert p.returncode == 64, p.stderr.decode()
    assert "is not encrypted" in p.stderr.decode()
    assert stored(tmp_path) == {}


def doctor(cli: Cli) -> tuple[int, dict[str, dict[str, str]]]:
    p = cli("doctor", "--json")
    return p.returncode, {c["name"]: c for c in json.loads(p.stdout)}


def test_doctor_says_the_key_cannot_be_opened_until_the_passphrase_is_stored(
    stack: Any, tmp_path: Path, alice: GpgHome
) -> None:
    cli = make(tmp_path, stack, alice.path)
    code, checks = doctor(cli)
    assert code == 78 and checks["smime"]["status"] == "fail"
    assert "e2email smime set-passphrase" in checks["smime"]["detail"]
    assert cli("smime", "set-passphrase", stdin=PASSPHRASE.encode() + b"\n").returncode == 0
    code, checks = doctor(cli)
    assert checks["smime"]["status"] == "ok", checks["smime"]
    assert "RSA" in checks["smime"]["detail"] and "private key opened" in checks["smime"]["detail"]
    assert checks["openpgp"]["status"] == "ok"  # alice's OpenPGP key signs her OpenPGP copies
    assert code == 0, checks


def test_doctor_fails_a_certificate_that_cannot_sign(
    stack: Any, tmp_path: Path, alice: GpgHome
) -> None:
    cli = make(tmp_path, stack, alice.path, key=SMIME / "expired.key", cert="expired")
    code, checks = doctor(cli)
    assert code == 78 and checks["smime"]["status"] == "fail"
    assert "cannot sign" in checks["smime"]["detail"] and "expired" in checks["smime"]["detail"]


def test_doctor_only_warns_about_openpgp_signing_for_an_smime_user(
    stack: Any, tmp_path: Path, gpg_home: Callable[..., GpgHome]
) -> None:
    smime_only = gpg_home(public=["bob"])  # no OpenPGP secret key of alice's at all
    cli = make(tmp_path, stack, smime_only.path, key=SMIME / "alice.key")
    code, checks = doctor(cli)
    assert checks["openpgp"]["status"] == "warn", checks["openpgp"]
    assert "OpenPGP recipients will be refused" in checks["openpgp"]["detail"]
    assert checks["smime"]["status"] == "ok" and code == 0, checks

"""GpgStream tries a message again when the agent failed for a reason that is not the user's.

The agent's failures are staged by tests/fakes/flaky_gpg.py in front of the real gpg (a
real agent fails like this only under pressure); the decryption itself is real.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from e2email.adapters.openpgp import stream as gpgstream
from e2email.adapters.openpgp.stream import GpgStream
from e2email.errors import CryptoError
from tests.support import ROOT, GpgHome

FLAKY = ROOT / "tests" / "fakes" / "flaky_gpg.py"
ENOMEM_FROM_AGENT = (4 << 24) | 32854  # GPG_ERR_SOURCE_GPGAGENT, "Cannot allocate memory"
CANCELLED = (4 << 24) | 99  # the user closed the pinentry


def attempts(
    home: GpgHome, tmp: Path, monkeypatch: pytest.MonkeyPatch, failures: int, code: int
) -> tuple[bytes | CryptoError, int]:
    """Decrypt one real message through the flaky front; the result and the attempt count."""
    ciphertext = subprocess.run(
        ["gpg", "--homedir", str(home.path), "--batch", "--trust-model", "always", "--armor",
         "--encrypt", "-r", "bob@example.test"],
        input=b"the secret\n", capture_output=True, check=True,
    ).stdout  # fmt: skip
    log = tmp / "attempts"
    monkeypatch.setenv("FLAKY_GPG_FAILURES", str(failures))
    monkeypatch.setenv("FLAKY_GPG_CODE", str(code))
    monkeypatch.setenv("FLAKY_GPG_LOG", str(log))
    monkeypatch.setattr(gpgstream, "RETRY_PAUSES", (0.01, 0.01))
    with GpgStream(home.path, str(FLAKY)) as gpg:
        try:
            result: bytes | CryptoError = gpg.decrypt(ciphertext).data
        except CryptoError as e:
            result = e
    return result, len(log.read_text().splitlines())


Attempts = Callable[[int, int], tuple[bytes | CryptoError, int]]


@pytest.fixture
def staged(
    gpg_home: Callable[..., GpgHome], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Attempts:
    """``staged(failures, code)``: decrypt with that many staged agent failures first."""
    home = gpg_home(secret=["bob"])
    return lambda failures, code: attempts(home, tmp_path, monkeypatch, failures, code)


def test_a_transient_agent_failure_is_tried_again(staged: Attempts) -> None:
    assert staged(1, ENOMEM_FROM_AGENT) == (b"the secret\n", 2)


def test_a_cancelled_pinentry_is_final(staged: Attempts) -> None:
    result, count = staged(1, CANCELLED)
    assert isinstance(result, CryptoError) and count == 1
    assert f"gpg error {CANCELLED}" in str(result)


def test_a_lasting_agent_failure_gives_up_after_three_attempts(staged: Attempts) -> None:
    result, count = staged(5, ENOMEM_FROM_AGENT)
    assert isinstance(result, CryptoError) and count == 3

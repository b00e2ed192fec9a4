"""gpg status lines -> integrity verdicts (security.md item 3), without running gpg."""

from __future__ import annotations

import pytest

from e2email.adapters.openpgp.gpg import check_integrity, signature_from, statuses
from e2email.errors import CryptoError, IntegrityError

GOOD = """[GNUPG:] ENC_TO 1234 18 0
[GNUPG:] DECRYPTION_INFO 2 9 0
[GNUPG:] PLAINTEXT 62 0
[GNUPG:] GOODSIG ABCD Alice <alice@example.test>
[GNUPG:] VALIDSIG FPRFPR 2026-01-01 0 0 4 0 22 8 00 PRIMARYFPR
[GNUPG:] DECRYPTION_OKAY
[GNUPG:] GOODMDC
[GNUPG:] END_DECRYPTION
"""


def test_good_message_passes_with_signature() -> None:
    s = statuses(GOOD)
    check_integrity(s)
    sig = signature_from(s)
    assert (
        sig.good and sig.fingerprint == "PRIMARYFPR" and sig.user_id == "Alice <alice@example.test>"
    )


@pytest.mark.parametrize(
    "text",
    [
        GOOD.replace("[GNUPG:] GOODMDC\n", "[GNUPG:] BADMDC\n"),
        GOOD.replace("[GNUPG:] GOODMDC\n", ""),  # no MDC at all
        GOOD.replace("[GNUPG:] DECRYPTION_OKAY\n", "[GNUPG:] DECRYPTION_FAILED\n"),
        "[GNUPG:] DECRYPTION_FAILED\n[GNUPG:] END_DECRYPTION\n",
    ],
)
def test_integrity_failures_raise(text: str) -> None:
    with pytest.raises(IntegrityError):
        check_integrity(statuses(text))


def test_aead_counts_as_integrity() -> None:
    text = GOOD.replace("[GNUPG:] GOODMDC\n", "").replace(
        "DECRYPTION_INFO 2 9 0", "DECRYPTION_INFO 0 9 2"
    )
    check_integrity(statuses(text))


def test_no_secret_key_is_crypto_error() -> None:
    with pytest.raises(CryptoError):
        check_integrity(statuses("[GNUPG:] NO_SECKEY 1234\n[GNUPG:] DECRYPTION_FAILED\n"))


def test_unknown_signer() -> None:
    sig = signature_from(statuses("[GNUPG:] ERRSIG ABCD 22 8 00 1700000000 9 FPR\n"))
    assert sig.status == "unknown-key" and not sig.good

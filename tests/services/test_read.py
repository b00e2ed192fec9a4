"""services.read.open_protected on messages made by gpg and openssl (no servers needed).

The integrity cases assert more than an exception: the exception text, the result and every
byte the function handed back contain no plaintext marker.
"""

from __future__ import annotations

import base64
import email
import email.policy
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from e2email import config
from e2email.core.reader import Kind
from e2email.errors import E2emailError, IntegrityError, MessageError
from e2email.services.read import Opened, open_protected
from e2email.services.runtime import Runtime
from tests.services import imapcorpus as corpus
from tests.support import SMIME, GpgHome


@pytest.fixture(scope="module")
def homes() -> Iterator[dict[str, GpgHome]]:
    made: dict[str, GpgHome] = {}
    for name, secret, public in (("alice", "alice", "bob"), ("bob", "bob", "alice")):
        path = Path(tempfile.mkdtemp(prefix="e2r-", dir="/tmp"))
        path.chmod(0o700)
        made[name] = GpgHome(path)
        made[name].import_secret(secret)
        made[name].import_public(public)
    yield made
    for h in made.values():
        h.close()
        shutil.rmtree(h.path, ignore_errors=True)


@pytest.fixture(scope="module")
def samples(homes: dict[str, GpgHome]) -> dict[str, corpus.Sample]:
    return {s.name: s for s in corpus.build(corpus.Producer(homes["alice"]), "read")}


@pytest.fixture(scope="module")
def rt(homes: dict[str, GpgHome]) -> Runtime:
    text = f"""
[openpgp]
gnupghome = "{homes["bob"].path}"
[smime]
certificate = "{SMIME / "bob.pem"}"
private_key = "{SMIME / "bob.key"}"
trust_anchors = "{SMIME / "ca.pem"}"
"""
    return Runtime(config.parse(text))


def parsed(o: Opened) -> email.message.EmailMessage:
    msg = email.message_from_bytes(o.message, policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    return msg


GOOD = ["pgpmime", "signed", "attach", "hp", "multisigned", "inline", "smime", "smimesigned"]


@pytest.mark.parametrize("name", GOOD)
def test_good_messages_open_with_marker_message_id_and_verdict(
    rt: Runtime, samples: dict[str, corpus.Sample], name: str
) -> None:
    s = samples[name]
    o = open_protected(rt, s.raw)
    assert s.marker.encode() in o.message or name == "attach"
    assert o.message_id == s.message_id
    msg = parsed(o)
    assert msg["Message-ID"] == s.message_id
    assert msg["E2email-Decrypted"] is not None
    assert f"sha256:{o.original_sha256}" in msg["E2email-Decrypted"]
    verdict = msg["E2email-Signature"]
    assert verdict.startswith("good;" if s.signed else "none;"), verdict
    assert b"-----BEGIN PGP MESSAGE-----" not in o.message


def test_attachment_survives_byte_for_byte(rt: Runtime, samples: dict[str, corpus.Sample]) -> None:
    msg = parsed(open_protected(rt, samples["attach"].raw))
    [pdf] = [p for p in msg.iter_attachments()]
    assert pdf.get_filename() == "report.pdf"
    assert samples["attach"].marker.encode() in pdf.get_content()


def test_protected_subject_restored_and_legacy_display_gone(
    rt: Runtime, samples: dict[str, corpus.Sample]
) -> None:
    o = open_protected(rt, samples["hp"].raw)
    msg = parsed(o)
    assert o.scheme == "rfc9788"
    assert msg["Subject"] == samples["hp"].subject
    assert msg["Keywords"] == "confidential-project"
    assert "HP-Outer" not in msg
    assert msg.get_content().startswith("The hidden-subject message")


def test_signature_layers_are_kept_for_the_mail_client(
    rt: Runtime, samples: dict[str, corpus.Sample]
) -> None:
    for name in ("multisigned", "smimesigned"):
        msg = parsed(open_protected(rt, samples[name].raw))
        assert msg.get_content_type() == "multipart/signed", name


def test_smime_without_signature_says_it_has_no_integrity(
    rt: Runtime, samples: dict[str, corpus.Sample]
) -> None:
    o = open_protected(rt, samples["smime"].raw)
    assert "integrity=none" in parsed(o)["E2email-Signature"]
    gcm = corpus._smime_message(
        "<gcm@x>", corpus.Producer.smime(corpus.text_part("GCM-OK"), gcm=True)
    )
    o = open_protected(rt, gcm)
    assert b"GCM-OK" in o.message and "integrity=none" not in parsed(o)["E2email-Signature"]


def no_plaintext(call: Callable[[], object], marker: str) -> E2emailError:
    with pytest.raises(E2emailError) as info:
        call()
    assert marker not in str(info.value)
    assert marker not in repr(info.value.args)
    return info.value


@pytest.mark.parametrize("name", ["nomdc", "flipped"])
def test_integrity_failures_release_nothing(
    rt: Runtime, samples: dict[str, corpus.Sample], name: str
) -> None:
    s = samples[name]
    err = no_plaintext(lambda: open_protected(rt, s.raw), s.marker)
    assert isinstance(err, IntegrityError)


def test_the_hostile_pair_is_what_security_md_names(
    homes: dict[str, GpgHome], samples: dict[str, corpus.Sample]
) -> None:
    # Guard the guards: "nomdc" must really be a Symmetrically Encrypted Data packet without
    # MDC (tag 9, from --rfc2440 --cipher-algo CAST5) and "flipped" an integrity-protected one
    # (tag 18) with a damaged byte; and no code path may ever ask gpg to ignore the MDC.
    def tags(name: str) -> set[str]:
        raw = samples[name].raw
        block = raw[raw.index(b"-----BEGIN PGP MESSAGE-----") :]
        listing = homes["alice"].run("--list-packets", data=block, check=False).stdout.decode()
        return set(re.findall(r"ctb=\w+ tag=(\d+)", listing))

    assert "9" in tags("nomdc") and "18" not in tags("nomdc")
    assert "18" in tags("flipped") and "9" not in tags("flipped")
    package = Path(__file__).parents[2] / "e2email"
    passed = re.compile(r"[\"']--ignore-mdc")  # as an argument, not in a docstring
    assert not [p for p in package.rglob("*.py") if passed.search(p.read_text())]


@pytest.mark.parametrize("name", ["efail", "efailinline", "efailsmime"])
def test_efail_wrappers_are_never_decrypted(
    rt: Runtime, samples: dict[str, corpus.Sample], name: str
) -> None:
    err = no_plaintext(lambda: open_protected(rt, samples[name].raw), samples[name].marker)
    assert isinstance(err, MessageError) and "EFAIL" in str(err)


def test_smime_cbc_with_a_broken_inner_signature_is_refused(rt: Runtime) -> None:
    signed = corpus._openssl(
        ["smime", "-sign", "-signer", str(SMIME / "alice.pem"), "-inkey", str(SMIME / "alice.key")],
        corpus.text_part("CBC-TAMPERED"),
    )
    tampered = signed.replace(b"the secret is", b"the secret IS")
    entity = corpus._openssl(["smime", "-encrypt", "-aes256", str(SMIME / "bob.pem")], tampered)
    raw = corpus._smime_message("<t@x>", corpus.crlf(entity))
    err = no_plaintext(lambda: open_protected(rt, raw), "CBC-TAMPERED")
    assert isinstance(err, IntegrityError)


def test_smime_gcm_with_a_flipped_byte_is_refused(rt: Runtime) -> None:
    entity = corpus.Producer.smime(corpus.text_part("GCM-FLIP"), gcm=True)
    head, b64 = entity.split(b"\r\n\r\n", 1)
    der = bytearray(base64.b64decode(b64))
    der[-40] ^= 1
    raw = corpus._smime_message("<g@x>", head + b"\r\n\r\n" + base64.encodebytes(bytes(der)))
    assert isinstance(no_plaintext(lambda: open_protected(rt, raw), "GCM-FLIP"), IntegrityError)


def test_a_forged_verdict_from_the_sender_is_replaced(
    rt: Runtime, homes: dict[str, GpgHome]
) -> None:
    producer = corpus.Producer(homes["alice"])
    inner = b"E2email-Signature: good; forged\r\n" + corpus.text_part("FORGED")
    raw = corpus.pgp_mime("<f@x>", "s", producer.encrypt(inner)).replace(
        b"MIME-Version", b"E2email-Signature: good; forged-outside\r\nMIME-Version"
    )
    msg = parsed(open_protected(rt, raw))
    assert msg.get_all("E2email-Signature") == ["none; protocol=openpgp"]


def test_plaintext_is_not_opened(rt: Runtime, samples: dict[str, corpus.Sample]) -> None:
    with pytest.raises(MessageError, match="not decrypted"):
        open_protected(rt, samples["plain"].raw)


def test_kinds_are_reported(rt: Runtime, samples: dict[str, corpus.Sample]) -> None:
    assert open_protected(rt, samples["inline"].raw).kind is Kind.INLINE_PGP
    assert open_protected(rt, samples["smime"].raw).kind is Kind.SMIME
    assert open_protected(rt, samples["pgpmime"].raw).kind is Kind.PGP_MIME


def reader_for(homes: dict[str, GpgHome], cert: str) -> Runtime:
    return Runtime(
        config.parse(
            f'[openpgp]\ngnupghome = "{homes["bob"].path}"\n[smime]\n'
            f'certificate = "{SMIME / cert}.pem"\nprivate_key = "{SMIME / cert}.key"\n'
        )
    )


@pytest.mark.parametrize(
    ("cert", "options"),
    [
        ("ec", ["-aes256"]),
        ("ec", ["-aes-256-gcm"]),
        ("bob", ["-aes256", "-keyopt", "rsa_padding_mode:oaep"]),
        ("bob", ["-aes-128-gcm", "-keyopt", "rsa_padding_mode:oaep"]),
        (  # OAEP with a hash and an MGF1 hash that differ: each read from its own parameter
            "bob",
            [
                "-aes256",
                "-keyopt",
                "rsa_padding_mode:oaep",
                "-keyopt",
                "rsa_oaep_md:sha256",
                "-keyopt",
                "rsa_mgf1_md:sha384",
            ],
        ),
    ],
)
def test_openssl_cms_recipients_rsa_oaep_and_ec_key_agreement(
    homes: dict[str, GpgHome], cert: str, options: list[str]
) -> None:
    marker = f"CMS-{cert}-{options[0]}"
    entity = corpus._openssl(
        ["cms", "-encrypt", *options[:1], "-recip", str(SMIME / f"{cert}.pem"), *options[1:]],
        corpus.text_part(marker),
    )
    raw = corpus._smime_message("<cms@x>", corpus.crlf(entity))
    assert marker.encode() in open_protected(reader_for(homes, cert), raw).message
    other = "bob" if cert == "ec" else "ec"
    err = no_plaintext(lambda: open_protected(reader_for(homes, other), raw), marker)
    assert "not encrypted to" in str(err)


PINENTRY = """#!/bin/sh
echo called >> "{log}"
echo "OK Pleased to meet you"
while read -r cmd rest; do
  case "$cmd" in
    GETPIN) echo "D pin-passphrase"; echo OK;;
    BYE) echo OK; exit 0;;
    *) echo OK;;
  esac
done
"""


def test_a_protected_key_is_unlocked_through_the_users_pinentry(tmp_path: Path) -> None:
    """gpg-agent asks the pinentry the user configured; e2email never handles the passphrase."""
    home = GpgHome(Path(tempfile.mkdtemp(prefix="e2p-", dir="/tmp")))
    home.path.chmod(0o700)
    log = tmp_path / "pinentry.log"
    script = tmp_path / "pinentry.sh"
    script.write_text(PINENTRY.format(log=log))
    script.chmod(0o755)
    (home.path / "gpg-agent.conf").write_text(f"pinentry-program {script}\n")
    try:
        loop = ["--pinentry-mode", "loopback", "--passphrase", "pin-passphrase"]
        home.run(*loop, "--quick-gen-key", "Pin <pin@example.test>", "ed25519", "cert", "never")
        fpr = home.run("--with-colons", "-k", "pin@example.test").stdout.split(b"fpr:::::::::")[1]
        home.run(*loop, "--quick-add-key", fpr[:40].decode(), "cv25519", "encr", "never")
        armored = home.run("-a", "-e", "-r", "pin@example.test", data=b"pin-protected").stdout
        home.run("--list-keys")  # and stop the agent so the key is locked again
        subprocess.run(["gpgconf", "--homedir", str(home.path), "--kill", "gpg-agent"], check=True)
        raw = corpus.pgp_mime("<pin@x>", "s", armored)
        rt = Runtime(config.parse(f'[openpgp]\ngnupghome = "{home.path}"\n'))
        assert b"pin-protected" in open_protected(rt, raw).message
        assert log.read_text().count("called") >= 1
    finally:
        home.close()


def test_opaque_smime_signature_inside_encryption_is_verified_and_unwrapped(rt: Runtime) -> None:
    opaque = corpus._openssl(
        ["smime", "-sign", "-nodetach", "-signer", str(SMIME / "alice.pem"), "-inkey",
         str(SMIME / "alice.key")], corpus.text_part("OPAQUE-SIGNED"))  # fmt: skip
    entity = corpus._openssl(["smime", "-encrypt", "-aes256", str(SMIME / "bob.pem")], opaque)
    o = open_protected(rt, corpus._smime_message("<o@x>", corpus.crlf(entity)))
    msg = parsed(o)
    assert msg["E2email-Signature"].startswith("good; protocol=smime")
    assert msg.get_content_type() == "text/plain" and "OPAQUE-SIGNED" in msg.get_content()


def test_a_bad_inner_pgp_signature_is_reported_not_hidden(
    rt: Runtime, homes: dict[str, GpgHome]
) -> None:
    producer = corpus.Producer(homes["alice"])
    part = corpus.text_part("SIGNED-THEN-CHANGED")
    sig = producer.detach_sign(part)
    changed = part.replace(b"the secret is", b"the secret was")
    inner = corpus.crlf(
        b'Content-Type: multipart/signed; micalg=pgp-sha256; protocol="application/pgp-signature";'
        b' boundary="s"\n\n--s\n' + changed + b"\n--s\nContent-Type: application/pgp-signature\n\n"
        + sig + b"\n--s--\n"
    )  # fmt: skip
    o = open_protected(rt, corpus.pgp_mime("<b@x>", "s", producer.encrypt(inner)))
    assert parsed(o)["E2email-Signature"].startswith("bad; protocol=openpgp")
    assert o.signature.status == "bad"


def test_mail_for_someone_else_says_so(rt: Runtime, homes: dict[str, GpgHome]) -> None:
    homes["alice"].import_public("carol")
    armored = (
        homes["alice"]
        .run("-a", "-e", "-r", "carol@example.test", data=corpus.text_part("FOR-CAROL"))
        .stdout
    )
    err = no_plaintext(
        lambda: open_protected(rt, corpus.pgp_mime("<c@x>", "s", armored)), "FOR-CAROL"
    )
    assert "not encrypted to any secret key" in str(err)

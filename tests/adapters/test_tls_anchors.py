"""System trust anchors from a hashed directory, looked up lazily (performance.md), and the same
verification as the bundle: a server chained to an anchor in the directory is trusted, anything
else is not."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from e2email.adapters import tls
from e2email.adapters.dns import Resolver
from e2email.adapters.smtp import SmtpSession
from e2email.errors import TLSError
from tests.fakes.fixtures import fake_pki_fixture  # noqa: F401
from tests.fakes.pki import FakePki
from tests.fakes.smtp import Script, serve


def anchors_dir(tmp: Path, pki: FakePki, *, hashed: bool) -> Path:
    d = tmp / "certs"
    d.mkdir()
    shutil.copy(pki.ca_pem, d / "fake-ca.pem")
    if hashed:
        subprocess.run(["openssl", "rehash", str(d)], check=True, capture_output=True)
    return d


def handshake(port: int) -> None:
    SmtpSession.open(
        "127.0.0.1",
        port,
        security="starttls",
        context=tls.client_context(),
        resolver=Resolver(),
        timeout=5,
    ).quit()


def test_hashed_directory_anchors_verify_lazily(
    tmp_path: Path, fake_pki: FakePki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv("SSL_CERT_DIR", str(anchors_dir(tmp_path, fake_pki, hashed=True)))
    ctx = tls.client_context()
    assert ctx.get_ca_certs() == []  # nothing parsed up front
    with serve(Script(), (fake_pki.cert, fake_pki.key)) as fake:
        handshake(fake.port)  # the anchor was found in the directory when needed
        fake.close()
    assert fake.sessions[0].tls  # the conversation went on inside TLS


def test_unhashed_directory_falls_back_to_the_bundle(
    tmp_path: Path, fake_pki: FakePki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv("SSL_CERT_DIR", str(anchors_dir(tmp_path, fake_pki, hashed=False)))
    with (
        serve(Script(), (fake_pki.cert, fake_pki.key)) as fake,
        pytest.raises(TLSError, match="not trusted"),
    ):
        handshake(fake.port)  # the fake CA is not in the system bundle


def test_an_explicit_ssl_cert_file_is_loaded_as_given(
    tmp_path: Path, fake_pki: FakePki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(fake_pki.ca_pem))
    monkeypatch.setenv("SSL_CERT_DIR", str(anchors_dir(tmp_path, fake_pki, hashed=True)))
    ctx = tls.client_context()
    subject = ((("organizationName", "e2email tests"),), (("commonName", "e2email fake CA"),))
    assert [c["subject"] for c in ctx.get_ca_certs()] == [subject]

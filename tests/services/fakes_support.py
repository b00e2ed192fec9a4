"""Runtimes and configs pointing at a fake SMTP server (tests/fakes), for services and CLI tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

from e2email import config
from e2email.services.runtime import Runtime
from tests.fakes.pki import FakePki
from tests.fakes.smtp import FakeSmtp

USER, PASSWORD = "alice@example.test", "s3cret"


def config_text(
    tmp: Path,
    fake: FakeSmtp,
    pki: FakePki,
    *,
    outbox: bool = True,
    password: str = PASSWORD,
    extra: str = "",
) -> str:
    """A config with account "work" on the fake (127.0.0.1, trusted via the fake CA)."""
    return textwrap.dedent(f"""\
        [accounts.work]
        from = ["{USER}"]
        smtp_host = "127.0.0.1"
        smtp_port = {fake.port}
        username = "{USER}"
        password_command = "printf '%s\\\\n' '{password}'"
        {extra}

        [network]
        ca_file = "{pki.ca_pem}"
        timeout = 5

        [outbox]
        enabled = {str(outbox).lower()}
        path = "{tmp / "outbox"}"
        """)


def fake_runtime(tmp: Path, fake: FakeSmtp, pki: FakePki, **kw: object) -> Runtime:
    """A Runtime for ``config_text``."""
    return Runtime(config.parse(config_text(tmp, fake, pki, **kw), env={}))  # type: ignore[arg-type]

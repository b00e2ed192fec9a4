"""``imap decrypt`` authentication: the account's certificate pin and OAuth 2.0 tokens.

Both against real Dovecot: the stack's for the pin (``tls_fingerprint`` must match the IMAP
server's certificate too, or nothing, not even LOGIN, is sent), and a second Dovecot that
validates JWT bearer tokens itself (tests/services/imapoauth.py) for OAUTHBEARER and XOAUTH2.
Dovecot's log names every user that tried to authenticate, and the SASL method: that is how
"no LOGIN was sent" and "the token, not a password, logged us in" are observed.
"""

from __future__ import annotations

import hashlib
import imaplib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.services import imapcorpus as corpus
from tests.services import imapoauth
from tests.stack.clients import IMAP4_SSL, Endpoint, tls_context
from tests.support import Cli, GpgHome, cli_env

pytestmark = pytest.mark.stack


def cert_pin(pem: Path) -> str:
    der = x509.load_pem_x509_certificate(pem.read_bytes()).public_bytes(Encoding.DER)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def write_config(tmp: Path, stack: Any, endpoint: Endpoint, security: str, auth: str) -> Path:
    """Account ``box`` on ``endpoint``; ``auth`` holds the credential and pin lines."""
    home = tmp / "gnupg"
    home.mkdir(mode=0o700, exist_ok=True)
    cfg = tmp / "config.toml"
    cfg.write_text(
        f'[accounts.box]\nfrom = ["bob@example.test"]\nsmtp_host = "smtp.example.test"\n'
        f'imap_host = "{endpoint.host}"\nimap_port = {endpoint.port}\n'
        f'imap_security = "{security}"\n{auth}\n'
        f'[openpgp]\ngnupghome = "{home}"\n'
        f'[network]\nnameservers = ["{stack.nameserver}"]\nca_file = "{stack.ca_pem}"\n'
        "timeout = 10\n"
    )
    return cfg


def password_auth(user: str, password: str, pins: str = "") -> str:
    return f"username = \"{user}\"\npassword_command = \"printf '%s\\\\n' '{password}'\"\n{pins}"


def dry_run(cli: Cli, folder: str = "INBOX") -> Any:
    return cli("imap", "decrypt", "--account", "box", "--folder", folder, "--to-folder",
               folder + ".D", "--dry-run", "--json")  # fmt: skip


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


# -- tls_fingerprint pins the IMAP server too ----------------------------------------------------


@pytest.fixture(scope="module")
def pin_users(stack: Any) -> list[tuple[str, str]]:
    """Users of the stack's Dovecot whose names appear in its log only if we authenticate.

    Added in one go: Dovecot re-reads its passwd-file at most once a second, so a canary
    added with them is polled until it can log in.
    """
    users = [(f"pin-{uuid.uuid4().hex[:10]}@example.test", uuid.uuid4().hex) for _ in range(6)]
    canary = (f"canary-{uuid.uuid4().hex[:10]}@example.test", uuid.uuid4().hex)
    for user, password in [*users, canary]:
        stack.dovecot.add_user(user, password)
    wait_for(lambda: _can_log_in(stack, *canary), "Dovecot to know the new users")
    return users


def _can_log_in(stack: Any, user: str, password: str) -> bool:
    conn = IMAP4_SSL(stack.imap_tls, tls_context(stack.ca_pem))
    try:
        conn.login(user, password)
    except imaplib.IMAP4.error:
        return False
    finally:
        conn.logout()
    return True


@pytest.fixture
def pin_user(pin_users: list[tuple[str, str]]) -> tuple[str, str]:
    return pin_users.pop()


def endpoint_for(stack: Any, security: str) -> Endpoint:
    return stack.imap_tls if security == "tls" else stack.imap_starttls


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_matching_pin_logs_in(
    stack: Any, tmp_path: Path, pin_user: tuple[str, str], security: str
) -> None:
    user, password = pin_user
    pin = f'tls_fingerprint = "{cert_pin(stack.certs["imap"][0])}"'
    cfg = write_config(tmp_path, stack, endpoint_for(stack, security), security,
                       password_auth(user, password, pin))  # fmt: skip
    p = dry_run(Cli(cfg, cli_env(tmp_path)))
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["found"] == 0
    log = stack.dovecot.log
    wait_for(lambda: f"Login: user=<{user}>" in log.read_text(), "Dovecot's Login line")


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_mismatching_pin_exits_75_before_login(
    stack: Any, tmp_path: Path, pin_user: tuple[str, str], security: str
) -> None:
    user, password = pin_user
    log = stack.dovecot.log
    closed_before = log.read_text().count("(no auth attempts")
    wrong = "sha256:" + hashlib.sha256(b"not the certificate").hexdigest()
    cfg = write_config(tmp_path, stack, endpoint_for(stack, security), security,
                       password_auth(user, password, f'tls_fingerprint = "{wrong}"'))  # fmt: skip
    p = dry_run(Cli(cfg, cli_env(tmp_path)))
    assert p.returncode == 75, p.stderr
    assert b"does not match the pinned" in p.stderr and p.stderr.count(b"\n") == 1
    assert password.encode() not in p.stderr + p.stdout
    # Dovecot logs the connection's end after anything it was sent; by then, no user name
    wait_for(lambda: log.read_text().count("(no auth attempts") > closed_before,
             "Dovecot to log the closed connection")  # fmt: skip
    assert user not in log.read_text(), "credentials reached the server despite the pin"


def test_imap_tls_fingerprint_overrides_the_account_pin(
    stack: Any, tmp_path: Path, pin_user: tuple[str, str]
) -> None:
    # the SMTP server has a certificate of its own: its pin must not lock IMAP out
    user, password = pin_user
    pins = (
        f'tls_fingerprint = "{cert_pin(stack.certs["smtp"][0])}"\n'
        f'imap_tls_fingerprint = "{cert_pin(stack.certs["imap"][0])}"'
    )
    cfg = write_config(tmp_path, stack, stack.imap_tls, "tls", password_auth(user, password, pins))
    p = dry_run(Cli(cfg, cli_env(tmp_path)))
    assert p.returncode == 0, p.stderr
    cfg.write_text(cfg.read_text().replace("imap_tls_fingerprint", "# imap_tls_fingerprint"))
    p = dry_run(Cli(cfg, cli_env(tmp_path)))
    assert p.returncode == 75 and b"pinned" in p.stderr, p.stderr


# -- OAuth 2.0 bearer tokens (oauth_token_command) ----------------------------------------------

BOB = "bob@example.test"
BOB_PASSWORD = "bob-oauth-password"


@pytest.fixture(scope="module")
def oauth(stack: Any) -> Iterator[tuple[imapoauth.OAuthDovecot, Endpoint, Endpoint]]:
    started = imapoauth.start(stack, {BOB: BOB_PASSWORD})
    yield started
    imapoauth.stop(stack, started[0])


@pytest.fixture(scope="module")
def bob_home() -> Iterator[GpgHome]:
    home = corpus.make_home("bob", "alice")
    yield home
    home.close()


def token_auth(token: str, mechanism: str | None = None) -> str:
    line = f'auth_mechanism = "{mechanism}"\n' if mechanism else ""
    return f"username = \"{BOB}\"\noauth_token_command = \"printf '%s\\\\n' '{token}'\"\n{line}"


def seed(endpoint: Endpoint, ca: Path, folder: str, raw: bytes) -> None:
    """Put one message in with a password LOGIN (independent of e2email)."""
    conn = IMAP4_SSL(endpoint, tls_context(ca))
    try:
        conn.login(BOB, BOB_PASSWORD)
        conn.create(folder)
        typ, data = conn.append(folder, None, None, raw)
        assert typ == "OK", data
    finally:
        conn.logout()


def logins(server: imapoauth.OAuthDovecot, method: str) -> int:
    return server.log_text().count(f"Login: user=<{BOB}>, method={method},")


def test_oauthbearer_token_decrypts_a_folder(
    stack: Any, tmp_path: Path, oauth: Any, bob_home: GpgHome, gpg_home: Any
) -> None:
    server, implicit, _ = oauth
    alice = gpg_home(secret=["alice"], public=["bob"])
    marker = uuid.uuid4().hex
    armored = corpus.Producer(alice).encrypt(corpus.text_part(marker))
    folder = "OAuth-" + uuid.uuid4().hex[:8]
    seed(implicit, stack.ca_pem, folder, corpus.pgp_mime(f"<{marker}@x>", "s", armored))
    token = server.token(BOB)
    before, plain = logins(server, "OAUTHBEARER"), logins(server, "PLAIN")
    cfg = write_config(tmp_path, stack, implicit, "tls", token_auth(token))
    cfg.write_text(cfg.read_text().replace(str(tmp_path / "gnupg"), str(bob_home.path)))
    p = Cli(cfg, cli_env(tmp_path))("-vv", "imap", "decrypt", "--account", "box", "--folder",
                                    folder, "--to-maildir", str(tmp_path / "md"), "--json")  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["decrypted"] == 1
    [copy] = list((tmp_path / "md" / "cur").iterdir())
    assert marker.encode() in copy.read_bytes()
    assert token.encode() not in p.stderr + p.stdout
    # one connection (the folder is only read; a Maildir needs no second), with the token only
    wait_for(lambda: logins(server, "OAUTHBEARER") == before + 1, "the OAUTHBEARER login")
    assert logins(server, "PLAIN") == plain


def test_xoauth2_over_starttls(stack: Any, tmp_path: Path, oauth: Any) -> None:
    server, _, starttls = oauth
    before = logins(server, "XOAUTH2")
    cfg = write_config(tmp_path, stack, starttls, "starttls",
                       token_auth(server.token(BOB), "xoauth2"))  # fmt: skip
    p = dry_run(Cli(cfg, cli_env(tmp_path)))
    assert p.returncode == 0, p.stderr
    wait_for(lambda: logins(server, "XOAUTH2") >= before + 1, "the XOAUTH2 login")


@pytest.mark.parametrize(
    "make", [lambda s: s.token(BOB, key=b"k" * 32), lambda s: s.token(BOB, lifetime=-60)],
    ids=["forged", "expired"],
)  # fmt: skip
def test_a_refused_token_exits_77_without_echoing_it(
    stack: Any, tmp_path: Path, oauth: Any, make: Callable[[Any], str]
) -> None:
    server, implicit, _ = oauth
    token = make(server)
    cfg = write_config(tmp_path, stack, implicit, "tls", token_auth(token))
    p = dry_run(Cli(cfg, cli_env(tmp_path)))
    assert p.returncode == 77, p.stderr
    assert b"OAUTHBEARER" in p.stderr and p.stderr.count(b"\n") == 1
    assert token.encode() not in p.stderr + p.stdout


@pytest.mark.parametrize(
    ("mechanism", "code", "says"),
    [(None, 77, b"no usable AUTH mechanism"), ("oauthbearer", 78, b"but the server offers")],
)
def test_a_server_without_oauth_gets_no_token(
    stack: Any, tmp_path: Path, mechanism: str | None, code: int, says: bytes
) -> None:
    # the stack's own Dovecot offers PLAIN and LOGIN only: "auto" finds nothing to use (77),
    # a forced mechanism it lacks is a configuration error (78); neither is tried
    cfg = write_config(tmp_path, stack, stack.imap_tls, "tls", token_auth("tok-123456", mechanism))
    p = dry_run(Cli(cfg, cli_env(tmp_path)))
    assert p.returncode == code and says in p.stderr, p.stderr
    assert b"tok-123456" not in p.stderr

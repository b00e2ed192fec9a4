"""contract.md's surface, as a user runs it: options and behaviours no other test covered.

Each test runs the real ``e2email`` command in a subprocess; the ones that send talk to the
stack's Postfix and read what its sink received.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.services.test_send_stack import assert_nothing_delivered, make_cli, send_as_alice
from tests.services.transport_scenarios import ZONE, Scenarios, scenarios_fixture  # noqa: F401
from tests.support import Cli, GpgHome, account_toml, cli_env

CLI = [sys.executable, "-m", "e2email.cli.main"]
REQUIRED = '\n[policy]\nencrypt = "required"\n'


@pytest.fixture
def alice(gpg_home: Callable[..., GpgHome]) -> GpgHome:
    return gpg_home(secret=["alice"], public=["bob", "carol"])


def run(tmp: Path, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*CLI, *args], input=stdin, capture_output=True, env=cli_env(tmp), timeout=60, check=False
    )


# -- every command has --help (contract.md: "every subcommand has --help") ---------------------

COMMANDS = [
    [], ["send"], ["sendmail"], ["keys"], ["keys", "locate"], ["keys", "list"],
    ["keys", "accept"], ["keys", "forget"], ["check"], ["imap"], ["imap", "decrypt"],
    ["queue"], ["queue", "list"], ["queue", "flush"], ["queue", "drop"], ["doctor"],
    ["account"], ["account", "set-password"], ["account", "check"], ["trace"],
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "e2email")
def test_every_command_has_help(tmp_path: Path, command: list[str]) -> None:
    p = run(tmp_path, *command, "--help")
    assert p.returncode == 0, p.stderr.decode()
    assert b"usage:" in p.stdout.lower() and not p.stderr


def test_e2email_sendmail_console_script_is_installed(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("e2email-sendmail")
    p = subprocess.run([str(script), "--help"], capture_output=True, timeout=60, check=False)
    assert p.returncode == 0 and b"usage: e2email-sendmail" in p.stdout


# -- exit 70: a bug is one line, never a traceback (unless -vvv) ------------------------------

BOOM = """
import sys
from e2email.cli import app
app._register()
@app.cli.command("boom")
def boom() -> None:
    raise RuntimeError("kaboom")
app.run(sys.argv[1:])
"""


@pytest.mark.parametrize("verbose", [[], ["-vvv"]])
def test_an_unexpected_exception_is_70_in_one_line(tmp_path: Path, verbose: list[str]) -> None:
    p = subprocess.run(
        [sys.executable, "-c", BOOM, *verbose, "boom"],
        capture_output=True,
        env=cli_env(tmp_path) | {"PYTHONPATH": os.pathsep.join(sys.path)},
        timeout=60,
        check=False,
    )
    assert p.returncode == 70
    err = p.stderr.decode()
    assert "internal error (RuntimeError: kaboom); please report it" in err
    assert ("Traceback" in err) is bool(verbose)
    if not verbose:
        assert len(err.strip().splitlines()) == 1


# -- send: body, --account, --quiet, --partial ---------------------------------------------------


@pytest.mark.stack
def test_body_file_and_stdin(stack: Any, tmp_path: Path, alice: GpgHome) -> None:
    cli = make_cli(tmp_path, stack, alice, account_toml(stack))
    body = tmp_path / "body.txt"
    body.write_text("from the body file\n")
    base = ["send", "--from", "alice@example.test", "--to", "bob@example.test", "--subject", "b"]
    p = cli(*base, "--body-file", str(body), "--dry-run")
    assert p.returncode == 0, p.stderr.decode()
    p = cli(*base, "--body-file", str(tmp_path / "missing.txt"))
    assert p.returncode == 64 and b"--body-file" in p.stderr
    # stdin is a terminal and no --body-file: refuse rather than wait for typing
    leader, follower = pty.openpty()
    try:
        p = subprocess.run(
            [*CLI, "--config", str(cli.config), *base],
            stdin=follower,
            capture_output=True,
            env=cli.env,
            timeout=60,
            check=False,
        )
    finally:
        os.close(leader)
        os.close(follower)
    assert p.returncode == 64 and b"no body" in p.stderr, p.stderr.decode()


@pytest.mark.stack
def test_account_option_picks_the_account(stack: Any, tmp_path: Path, alice: GpgHome) -> None:
    # two accounts send as alice; "first" would be chosen by the sender, and its password is
    # wrong: --account decides which one submits
    accounts = account_toml(stack, name="first", password="wrong") + account_toml(stack)
    cli = make_cli(tmp_path, stack, alice, accounts)
    before = stack.sink.snapshot()
    assert send_as_alice(cli, "--to", "bob@example.test").returncode == 77
    p = send_as_alice(cli, "--to", "bob@example.test", flags=("--account", "work"))
    assert p.returncode == 0, p.stderr.decode()
    assert b"via work" in p.stdout
    stack.sink.wait_new(before, 1)
    p = send_as_alice(cli, "--to", "bob@example.test", flags=("--account", "nosuch"))
    assert p.returncode == 78 and b"no account named 'nosuch'" in p.stderr


@pytest.mark.stack
def test_quiet_prints_only_errors(stack: Any, tmp_path: Path, alice: GpgHome) -> None:
    cli = make_cli(tmp_path, stack, alice, account_toml(stack), REQUIRED)
    p = send_as_alice(cli, "--to", "bob@example.test", verbose="--quiet")
    assert p.returncode == 0 and p.stdout == b"" and p.stderr == b"", p.stderr.decode()
    loud = send_as_alice(cli, "--to", "bob@example.test")
    assert b"sent <" in loud.stdout  # what --quiet removed
    p = send_as_alice(cli, "--to", "nobody@example.test", verbose="-q")
    assert p.returncode == 67 and p.stdout == b""
    assert len(p.stderr.decode().strip().splitlines()) == 1


@pytest.mark.stack
def test_partial_sends_to_the_others_and_still_names_the_refused(
    stack: Any, tmp_path: Path, alice: GpgHome
) -> None:
    # contract.md: "When any recipient is refused, nothing is sent to anyone (unless the user
    # passed --partial)". With it: bob gets his copy, nobody is named, the exit stays 67.
    cli = make_cli(tmp_path, stack, alice, account_toml(stack), REQUIRED)
    recipients = ("--to", "bob@example.test", "--cc", "nobody@example.test")
    before = stack.sink.snapshot()
    p = send_as_alice(cli, *recipients)
    assert p.returncode == 67 and b"nothing sent" in p.stderr
    assert_nothing_delivered(stack, before, wait=0.5)
    p = send_as_alice(cli, *recipients, flags=("--partial", "--json"))
    assert p.returncode == 67, p.stderr.decode()
    err = p.stderr.decode()
    assert len(err.strip().splitlines()) == 1
    assert "nobody@example.test" in err and "--partial" in err and "bob" not in err
    out = json.loads(p.stdout)
    assert out["sent"] is True and out["result"]["accepted"] == ["bob@example.test"]
    actions = {r["address"]: r["action"] for r in out["recipients"]}
    assert actions == {"bob@example.test": "openpgp", "nobody@example.test": "refuse"}
    [raw] = stack.sink.wait_new(before, 1)
    assert b"Delivered-To: bob@example.test" in raw
    assert b"-----BEGIN PGP MESSAGE-----" in raw
    everyone_refused = send_as_alice(cli, "--to", "nobody@example.test", flags=("--partial",))
    assert everyone_refused.returncode == 67 and b"nothing sent" in everyone_refused.stderr
    assert_nothing_delivered(stack, stack.sink.snapshot(), wait=0.5)


@pytest.mark.stack
def test_partial_with_a_ready_message(stack: Any, tmp_path: Path, alice: GpgHome) -> None:
    cli = make_cli(tmp_path, stack, alice, account_toml(stack), REQUIRED)
    raw = b"From: alice@example.test\nTo: bob@example.test, nobody@example.test\nSubject: r\n\nx\n"
    before = stack.sink.snapshot()
    p = cli("send", "--partial", "--message", "-", stdin=raw)
    assert p.returncode == 67 and b"nobody@example.test" in p.stderr, p.stderr.decode()
    [copy] = stack.sink.wait_new(before, 1)
    assert b"Delivered-To: bob@example.test" in copy


# -- keys locate --protocol ------------------------------------------------------------------


@pytest.mark.stack
def test_keys_locate_protocol(stack: Any, tmp_path: Path, alice: GpgHome) -> None:
    cli = make_cli(
        tmp_path, stack, alice, account_toml(stack) + '[discovery]\nmethods = ["local"]\n'
    )
    p = cli("keys", "locate", "--json", "--protocol", "openpgp", "bob@example.test")
    assert p.returncode == 0, p.stderr.decode()
    [bob] = json.loads(p.stdout)
    assert [(k["protocol"], k["source"]) for k in bob["keys"]] == [("openpgp", "local")]
    assert len(bob["keys"][0]["fingerprint"]) == 40
    p = cli("keys", "locate", "--json", "--protocol", "smime", "bob@example.test")
    assert p.returncode == 67  # bob has an OpenPGP key only: none of the asked kind
    assert json.loads(p.stdout)[0]["keys"] == []
    assert cli("keys", "locate", "--protocol", "x509", "bob@example.test").returncode == 64


# -- network.smtp_probe_port ---------------------------------------------------------------


def test_smtp_probe_port_is_the_port_probed(scenarios: Scenarios, tmp_path: Path) -> None:
    def check(port: int) -> dict[str, Any]:
        cfg = tmp_path / f"probe{port}.toml"
        cfg.write_text(
            textwrap.dedent(f"""\
                [network]
                nameservers = ["{scenarios.stack.nameserver}"]
                ca_file = "{scenarios.stack.ca_pem}"
                smtp_probe_port = {port}
                probe_timeout = 2
                transport_cache_dir = "{tmp_path / f"cache{port}"}"
                """)
        )
        p = Cli(cfg, cli_env(tmp_path))("check", "--json", f"valid.{ZONE}")
        [report] = json.loads(p.stdout)
        return dict(report)

    assert check(25)["verdict"] == "verified-tls"
    elsewhere = check(2525)  # nothing listens there: the MX path cannot be observed
    assert elsewhere["verdict"] == "unknown" and "2525" in elsewhere["reason"]

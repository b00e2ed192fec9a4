"""``send`` acts on the transport verdict for recipients without a key (contract.md policy).

Real Postfix submission and MX listeners, real DNSSEC; what reaches the sink is observed.
"""

from __future__ import annotations

import email
import email.policy
import json
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.services.transport_scenarios import ZONE, Scenarios, scenarios_fixture  # noqa: F401
from tests.support import Cli, GpgHome, account_toml, cli_env


@pytest.fixture
def alice(gpg_home: Callable[..., GpgHome]) -> GpgHome:
    return gpg_home(secret=["alice"], public=["bob"])


def make_cli(stack: Any, sc: Scenarios, tmp_path: Path, alice: GpgHome, policy: str = "") -> Cli:
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        account_toml(stack)
        + textwrap.dedent(f"""
            [openpgp]
            gnupghome = "{alice.path}"

            [discovery]
            methods = ["local"]

            [policy]
            {policy}
            """)
        + sc.network_toml(tmp_path)
    )
    return Cli(cfg, cli_env(tmp_path))


def send(cli: Cli, *rcpts: str, extra: tuple[str, ...] = ()) -> Any:
    args = ["send", "--from", "alice@example.test", "--subject", "transport", *extra]
    for r in rcpts:
        args += ["--to", r]
    return cli(*args, stdin=b"meet at ten\n")


def nothing_new(stack: Any, before: set[str], wait: float = 1.0) -> bool:
    time.sleep(wait)  # Postfix delivers in milliseconds; give it ample time to prove a negative
    return stack.sink.snapshot() == before


def test_refused_below_the_floor_names_recipient_mx_and_why(
    stack: Any, scenarios: Scenarios, tmp_path: Path, alice: GpgHome
) -> None:
    cli = make_cli(stack, scenarios, tmp_path, alice)
    before = stack.sink.snapshot()
    rcpt = f"dave-{uuid.uuid4().hex[:6]}@backup.{ZONE}"
    p = send(cli, "bob@example.test", rcpt)  # bob has a key; the whole message is refused
    assert p.returncode == 77, p.stderr
    err = p.stderr.decode()
    assert err.startswith("e2email: ") and err.count("\n") == 1
    assert rcpt in err and f"mxplain.{ZONE}" in err and "does not offer STARTTLS" in err
    assert "plaintext" in err and "verified-tls" in err
    assert nothing_new(stack, before)


def test_sent_in_clear_above_the_floor(
    stack: Any, scenarios: Scenarios, tmp_path: Path, alice: GpgHome
) -> None:
    cli = make_cli(stack, scenarios, tmp_path, alice)
    before = stack.sink.snapshot()
    rcpt = f"dave-{uuid.uuid4().hex[:6]}@valid.{ZONE}"
    p = send(cli, rcpt)
    assert p.returncode == 0, p.stderr
    [raw] = stack.sink.wait_new(before, 1)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Delivered-To"] == rcpt
    assert b"meet at ten" in raw  # cleartext, as the policy allowed


def test_dry_run_plan_shows_the_verdicts(
    stack: Any, scenarios: Scenarios, tmp_path: Path, alice: GpgHome
) -> None:
    cli = make_cli(stack, scenarios, tmp_path, alice)
    p = send(cli, f"a@sts.{ZONE}", f"b@plain.{ZONE}", extra=("--dry-run", "--json"))
    assert p.returncode == 0, p.stderr
    plan = {r["address"]: r for r in json.loads(p.stdout)["recipients"]}
    assert plan[f"a@sts.{ZONE}"]["action"] == "cleartext"
    assert "mta-sts" in plan[f"a@sts.{ZONE}"]["reason"]
    assert plan[f"b@plain.{ZONE}"]["action"] == "refuse"
    assert f"mxplain.{ZONE}" in plan[f"b@plain.{ZONE}"]["reason"]


@pytest.mark.parametrize(
    ("floor", "label", "code"),
    [("mta-sts", "valid", 77), ("mta-sts", "sts", 0), ("dane", "dane", 0), ("dane", "sts", 77)],
)
def test_the_floor_is_honoured(
    stack: Any,
    scenarios: Scenarios,
    tmp_path: Path,
    alice: GpgHome,
    floor: str,
    label: str,
    code: int,
) -> None:
    cli = make_cli(stack, scenarios, tmp_path, alice, policy=f'transport_floor = "{floor}"')
    before = stack.sink.snapshot()
    rcpt = f"erin-{uuid.uuid4().hex[:6]}@{label}.{ZONE}"
    p = send(cli, rcpt)
    assert p.returncode == code, p.stderr
    if code == 0:
        [raw] = stack.sink.wait_new(before, 1)
        assert f"Delivered-To: {rcpt}".encode() in raw
    else:
        assert rcpt in p.stderr.decode() and nothing_new(stack, before, 0.5)


def test_encrypt_required_never_falls_back_to_transport(
    stack: Any, scenarios: Scenarios, tmp_path: Path, alice: GpgHome
) -> None:
    cli = make_cli(stack, scenarios, tmp_path, alice, policy='encrypt = "required"')
    before = stack.sink.snapshot()
    p = send(cli, f"frank@dane.{ZONE}")
    assert p.returncode == 67, p.stderr
    assert nothing_new(stack, before, 0.5)

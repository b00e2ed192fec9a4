"""Discovery through keyservers: VKS (verifying) and HKPS (unverified), security.md item 14.

There is no keyserver in Debian (no Hagrid, Hockeypuck or SKS package), so the keyserver is a
small HTTPS server in the test process that speaks the documented interfaces: VKS API v1
(``/vks/v1/by-email/``) and HKP (``/pks/lookup?op=get&options=mr``), see
tests/fakes/keyserver.py. It serves real keys made by gpg and the hostile answers a real
server would not produce: oversize bodies, foreign user IDs, a key with no user ID, 5xx,
redirects, slow answers, a certificate for another name. DNS (Knot + Unbound), gpg and the
WKD server are the real stack's. The judge of each key is gpg, in a scratch home.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from e2email.cli.keys import keys_group
from e2email.model import Address
from e2email.services.discovery import discover
from tests.fakes.keyserver import Answer
from tests.services import ks_helpers as ks
from tests.services.discover_helpers import publish
from tests.services.ks_helpers import BADCERT_HOST, HKP_HOST, VKS_HOST, KsWorld


@pytest.fixture(scope="module")
def world(stack: Any) -> Iterator[KsWorld]:
    w = ks.build(stack)
    yield w
    w.server.close()
    w.keys.close()


def locate(tmp: Path, w: KsWorld, address: Address, **kw: Any) -> discover.Found:
    return discover.discover(ks.runtime(tmp, w.stack, **kw), [address])[address]


def reasons(found: discover.Found) -> list[tuple[str, str]]:
    return [(r.source, r.reason) for r in found.rejected]


def test_vks_key_found_and_cut_down_to_the_address(world: KsWorld, tmp_path: Path) -> None:
    fpr, key = world.keys.make("Vera <vera@ks.test>", "Mallory <mallory@evil.test>")
    world.server.serve(VKS_HOST, ks.by_email("vera@ks.test"), key)
    found = locate(tmp_path, world, Address("vera", "ks.test"))
    assert found.key is not None, found.rejected
    assert found.key.fingerprint == fpr
    assert found.key.source == "vks"
    assert found.key.user_ids == ("Vera <vera@ks.test>",)
    # what is kept and encrypted to carries no foreign user ID either (gpg is the oracle)
    assert found.key.material and b"mallory@evil.test" not in found.key.material
    [stored] = discover.store_for(ks.runtime(tmp_path, world.stack).settings).stored()
    [seen] = stored.sightings
    assert (seen.source, seen.where) == ("vks", f"https://{VKS_HOST}{ks.by_email('vera@ks.test')}")


def test_vks_only_foreign_user_ids_is_no_key(world: KsWorld, tmp_path: Path) -> None:
    _, key = world.keys.make("Mal <mal@evil.test>")
    world.server.serve(VKS_HOST, ks.by_email("victim@ks.test"), key)
    found = locate(tmp_path, world, Address("victim", "ks.test"))
    assert found.key is None
    assert ("vks", "uid-mismatch") in reasons(found)


def test_vks_key_without_user_id_is_dropped(world: KsWorld, tmp_path: Path) -> None:
    _, key = world.keys.make("Nobody <noid@ks.test>")
    world.server.serve(VKS_HOST, ks.by_email("noid@ks.test"), ks.without_user_ids(key))
    found = locate(tmp_path, world, Address("noid", "ks.test"))
    assert found.key is None
    assert reasons(found) == [("vks", "uid-mismatch")]


def test_vks_not_found_is_cached_as_no_key(world: KsWorld, tmp_path: Path) -> None:
    found = locate(tmp_path, world, Address("absent", "ks.test"))
    assert found.key is None and reasons(found) == [("vks", "not-found")]
    cached = discover.store_for(ks.runtime(tmp_path, world.stack).settings).cached("absent@ks.test")
    assert cached is not None and cached.keys == ()


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (Answer(500, b"oops"), "http-error"),
        (Answer(503, b"later"), "http-error"),
        (Answer(302, b"", {"Location": f"https://{HKP_HOST}/elsewhere"}), "redirect"),
        (Answer(200, b"x" * (256 * 1024 + 1)), "too-large"),
        (Answer(200, b"<html>maintenance</html>"), "malformed"),
    ],
    ids=["500", "503", "redirect", "oversize", "html"],
)
def test_vks_hostile_answers(world: KsWorld, tmp_path: Path, answer: Answer, reason: str) -> None:
    local = f"hostile-{answer.status}-{len(answer.body)}"
    world.server.canned(VKS_HOST, ks.by_email(f"{local}@ks.test"), answer)
    since = len(world.server.requests)
    found = locate(tmp_path, world, Address(local, "ks.test"))
    assert found.key is None
    assert ("vks", reason) in reasons(found)
    assert "/elsewhere" not in world.server.asked(since), "a redirect was followed"
    if reason != "malformed":  # a failure is not an answer: nothing cached
        cache = discover.store_for(ks.runtime(tmp_path, world.stack).settings)
        assert cache.cached(f"{local}@ks.test") is None


def test_vks_slow_answer_times_out_within_the_budget(world: KsWorld, tmp_path: Path) -> None:
    _, key = world.keys.make("Slow <slow@ks.test>")
    world.server.serve(VKS_HOST, ks.by_email("slow@ks.test"), key, delay=4)
    t0 = time.monotonic()
    found = locate(tmp_path, world, Address("slow", "ks.test"), timeout=1.0)
    assert time.monotonic() - t0 < 3
    assert found.key is None and ("vks", "timeout") in reasons(found)


def test_vks_certificate_for_another_name_is_refused(world: KsWorld, tmp_path: Path) -> None:
    _, key = world.keys.make("Cert <cert@ks.test>")
    world.server.serve("*", ks.by_email("cert@ks.test"), key)
    found = locate(
        tmp_path, world, Address("cert", "ks.test"), servers=ks.keyserver_toml(BADCERT_HOST)
    )
    assert found.key is None and ("vks", "tls-error") in reasons(found)


def test_hkps_keys_are_shown_but_not_used(world: KsWorld, tmp_path: Path) -> None:
    fpr, key = world.keys.make("Hank <hank@ks.test>")
    world.server.serve(HKP_HOST, ks.hkp("hank@ks.test"), key)
    servers = ks.keyserver_toml(HKP_HOST, "hkps")
    found = locate(tmp_path, world, Address("hank", "ks.test"), servers=servers)
    assert found.key is None
    assert [(r.source, r.reason, r.fingerprint) for r in found.rejected] == [
        ("hkps", "unverified-keyserver", fpr)
    ]
    cfg = tmp_path / "config.toml"
    cfg.write_text(ks.settings_text(tmp_path, world.stack, servers=servers))
    out = CliRunner().invoke(keys_group, ["locate", "hank@ks.test"], obj=str(cfg))
    assert out.exit_code == 67, out.output
    assert f"rejected {fpr} from hkps: unverified-keyserver" in out.output
    assert 'trust = "unverified"' in out.output  # the reason, and how to opt in


def test_hkps_keys_used_when_the_user_opted_in(world: KsWorld, tmp_path: Path) -> None:
    fpr, key = world.keys.make("Ursula <ursula@ks.test>", "Other <other@evil.test>")
    world.server.serve(HKP_HOST, ks.hkp("ursula@ks.test"), key)
    servers = ks.keyserver_toml(HKP_HOST, "hkps", trust="unverified")
    found = locate(tmp_path, world, Address("ursula", "ks.test"), servers=servers)
    assert found.key is not None and found.key.fingerprint == fpr
    assert found.key.source == "hkps"
    assert found.key.user_ids == ("Ursula <ursula@ks.test>",)


def test_wkd_first_then_vks_in_the_configured_order(world: KsWorld, tmp_path: Path) -> None:
    wkd_fpr, wkd_key = world.keys.make("Olga W <olga@ks.test>")
    vks_fpr, vks_key = world.keys.make("Olga V <olga@ks.test>")
    publish(world.stack, Address("olga", "ks.test"), wkd_key)
    world.server.serve(VKS_HOST, ks.by_email("olga@ks.test"), vks_key)
    found = locate(tmp_path / "a", world, Address("olga", "ks.test"), methods='["wkd", "vks"]')
    assert [k.fingerprint for k in found.keys] == [wkd_fpr, vks_fpr]
    found = locate(tmp_path / "b", world, Address("olga", "ks.test"), methods='["vks", "wkd"]')
    assert [k.fingerprint for k in found.keys] == [vks_fpr, wkd_fpr]


def test_keys_locate_json_source_vks(world: KsWorld, tmp_path: Path) -> None:
    fpr, key = world.keys.make("Jo <jo@ks.test>")
    world.server.serve(VKS_HOST, ks.by_email("jo@ks.test"), key)
    cfg = tmp_path / "config.toml"
    cfg.write_text(ks.settings_text(tmp_path, world.stack))
    out = CliRunner().invoke(keys_group, ["locate", "--json", "jo@ks.test"], obj=str(cfg))
    assert out.exit_code == 0, out.output
    [found] = json.loads(out.output)
    assert [(k["fingerprint"], k["source"]) for k in found["keys"]] == [(fpr, "vks")]

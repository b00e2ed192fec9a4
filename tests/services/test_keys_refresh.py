"""``e2email keys refresh``: stored keys fetched again by fingerprint from where they were found.

The keyserver is the small VKS/HKP server of tests/fakes/keyserver.py (Debian packages no
keyserver: neither Hagrid nor Hockeypuck nor SKS); WKD is the stack's real HTTPS server, DNS
its Knot and Unbound. Keys, revocations, new subkeys and new expiry dates are made by gpg
(the revocation certificate gpg writes at key generation), and gpg, in its own home, is the
oracle for what the store holds afterwards.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from e2email.cli.keys import keys_group
from e2email.model import Address
from e2email.services.discovery import discover, refresh
from tests.fakes.keyserver import Answer
from tests.services import ks_helpers as ks
from tests.services.discover_helpers import KeyMaker, publish
from tests.services.ks_helpers import HKP_HOST, VKS_HOST, KsWorld


class Maker(KeyMaker):
    """KeyMaker that can also revoke a key, add a subkey and change the expiry date."""

    def export(self, fpr: str) -> bytes:
        return self._gpg("--export", fpr)

    def revoke(self, fpr: str) -> bytes:
        """Import the revocation certificate gpg made at generation; the revoked key."""
        cert = (self.home / "openpgp-revocs.d" / f"{fpr}.rev").read_text()
        armored = cert.replace(
            ":-----BEGIN PGP PUBLIC KEY BLOCK", "-----BEGIN PGP PUBLIC KEY BLOCK"
        )
        subprocess.run(
            ["gpg", "--homedir", str(self.home), "--batch", "--import"],
            input=armored.encode(),
            capture_output=True,
            check=True,
        )
        return self.export(fpr)

    def add_subkey(self, fpr: str) -> bytes:
        self._gpg("--quick-add-key", fpr, "cv25519", "encr", "never")
        return self.export(fpr)


@pytest.fixture(scope="module")
def world(stack: Any) -> Iterator[KsWorld]:
    w = ks.build(stack)
    w.keys.close()
    w.keys = Maker()
    yield w
    w.server.close()
    w.keys.close()


def keys(w: KsWorld) -> Maker:
    assert isinstance(w.keys, Maker)
    return w.keys


def rt(tmp: Path, w: KsWorld, **kw: Any) -> Any:
    servers = ks.keyserver_toml(VKS_HOST) + ks.keyserver_toml(HKP_HOST, "hkps", "unverified")
    return ks.runtime(tmp, w.stack, methods='["wkd", "vks"]', servers=servers, **kw)


def locate(tmp: Path, w: KsWorld, address: Address) -> discover.Found:
    return discover.discover(rt(tmp, w), [address])[address]


def gpg_sees(tmp: Path, material: bytes) -> str:
    """The ``pub`` validity field gpg gives the stored material, in a home of its own."""
    home = tmp / "oracle"
    home.mkdir(mode=0o700, exist_ok=True)
    base = ["gpg", "--homedir", str(home), "--batch", "--no-tty"]
    subprocess.run([*base, "--import"], input=material, capture_output=True, check=True)
    out = subprocess.run([*base, "--with-colons", "--list-keys"], capture_output=True, check=True)
    return next(x.split(":")[1] for x in out.stdout.decode().splitlines() if x[:4] == "pub:")


def stored_material(tmp: Path, w: KsWorld, fpr: str) -> bytes:
    from e2email.model import Protocol

    material = discover.store_for(rt(tmp, w).settings).material(Protocol.OPENPGP, fpr)
    assert material is not None
    return material


def test_revocation_from_vks_is_used_at_once_and_sticks(world: KsWorld, tmp_path: Path) -> None:
    m = keys(world)
    fpr, key = m.make("Rita <rita@ks.test>", "Other <other@elsewhere.test>")
    world.server.serve(VKS_HOST, ks.by_email("rita@ks.test"), key)
    assert locate(tmp_path, world, Address("rita", "ks.test")).key is not None
    revoked = m.revoke(fpr)
    world.server.serve(VKS_HOST, ks.by_fingerprint(fpr), revoked)
    since = len(world.server.requests)
    report = refresh.refresh(rt(tmp_path, world))
    [r] = report.results
    assert (r.fingerprint, r.status, r.source) == (fpr, "revoked", "vks")
    assert world.server.asked(since) == [ks.by_fingerprint(fpr)], "asked by fingerprint"
    material = stored_material(tmp_path, world, fpr)
    assert gpg_sees(tmp_path, material) == "r"
    assert b"elsewhere.test" not in material, "cut down to the address it was found for"
    listed = CliRunner().invoke(keys_group, ["list"], obj=_obj(tmp_path, world))
    assert f"openpgp {fpr}  REVOKED (keys refresh)" in listed.output
    # the by-email answer is still the old, unrevoked copy: the revocation sticks
    found = locate(tmp_path, world, Address("rita", "ks.test"))
    assert found.key is None
    assert ("vks", "revoked", fpr) in [(x.source, x.reason, x.fingerprint) for x in found.rejected]


def test_a_different_key_is_never_taken(world: KsWorld, tmp_path: Path) -> None:
    m = keys(world)
    fpr, key = m.make("Dora <dora@ks.test>")
    _, impostor = m.make("Dora Again <dora@ks.test>")
    world.server.serve(VKS_HOST, ks.by_email("dora@ks.test"), key)
    assert locate(tmp_path, world, Address("dora", "ks.test")).key is not None
    before = stored_material(tmp_path, world, fpr)
    world.server.serve(VKS_HOST, ks.by_fingerprint(fpr), impostor)
    [r] = refresh.refresh(rt(tmp_path, world)).results
    assert r.status == "failed" and r.reason and "different key" in r.reason
    assert stored_material(tmp_path, world, fpr) == before
    store = discover.store_for(rt(tmp_path, world).settings)
    assert [k.fingerprint for k in store.stored()] == [fpr]
    assert locate(tmp_path, world, Address("dora", "ks.test")).key is not None


def test_new_subkey_from_hkps_by_fingerprint(world: KsWorld, tmp_path: Path) -> None:
    m = keys(world)
    fpr, key = m.make("Sub <sub@ks.test>")
    world.server.serve(HKP_HOST, ks.hkp("sub@ks.test"), key)
    assert locate(tmp_path, world, Address("sub", "ks.test")).key is not None
    world.server.serve(HKP_HOST, ks.hkp("0x" + fpr), m.add_subkey(fpr))
    [r] = refresh.refresh(rt(tmp_path, world)).results
    assert (r.status, r.source) == ("updated", "hkps")
    home = tmp_path / "oracle"
    gpg_sees(tmp_path, stored_material(tmp_path, world, fpr))
    out = subprocess.run(
        ["gpg", "--homedir", str(home), "--with-colons", "--list-keys", fpr],
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert sum(line.startswith("sub:") for line in out.splitlines()) == 2


def test_revocation_through_wkd_and_failures_keep_the_key(world: KsWorld, tmp_path: Path) -> None:
    m = keys(world)
    fpr, key = m.make("Wanda <wanda@ks.test>")
    keep_fpr, keep = m.make("Kept <kept@ks.test>")
    publish(world.stack, Address("wanda", "ks.test"), key)
    world.server.serve(VKS_HOST, ks.by_email("kept@ks.test"), keep)
    locate(tmp_path, world, Address("wanda", "ks.test"))
    locate(tmp_path, world, Address("kept", "ks.test"))
    publish(world.stack, Address("wanda", "ks.test"), m.revoke(fpr))
    world.server.canned(VKS_HOST, ks.by_fingerprint(keep_fpr), Answer(503, b"later"))
    result = CliRunner().invoke(keys_group, ["refresh", "--json"], obj=_obj(tmp_path, world))
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    status = {k["fingerprint"]: (k["status"], k["source"]) for k in data["keys"]}
    assert status == {fpr: ("revoked", "wkd"), keep_fpr: ("failed", "vks")}
    assert data["counts"] == {"revoked": 1, "failed": 1}
    assert locate(tmp_path, world, Address("kept", "ks.test")).key is not None


def test_spread_interleaves_servers_over_the_span(world: KsWorld, tmp_path: Path) -> None:
    m = keys(world)
    fprs = []
    for i in range(3):
        fpr, key = m.make(f"S{i} <spread{i}@ks.test>")
        world.server.serve(VKS_HOST, ks.by_email(f"spread{i}@ks.test"), key)
        world.server.serve(VKS_HOST, ks.by_fingerprint(fpr), key)
        locate(tmp_path, world, Address(f"spread{i}", "ks.test"))
        fprs.append(fpr)
    since = len(world.server.requests)
    result = CliRunner().invoke(
        keys_group, ["refresh", "--spread", "1.5s"], obj=_obj(tmp_path, world)
    )
    assert result.exit_code == 0, result.output
    times = [t for _, p, t in world.server.requests[since:] if "by-fingerprint" in p]
    assert len(times) == 3
    assert times[-1] - times[0] > 0.05, "the requests came in one burst"
    assert "3 unchanged" in result.output


def _obj(tmp: Path, w: KsWorld) -> Any:
    cfg = tmp / "config.toml"
    servers = ks.keyserver_toml(VKS_HOST) + ks.keyserver_toml(HKP_HOST, "hkps", "unverified")
    cfg.write_text(ks.settings_text(tmp, w.stack, methods='["wkd", "vks"]', servers=servers))
    return str(cfg)


def test_keyring_recipient_keys_refreshed_from_vks(world: KsWorld, tmp_path: Path) -> None:
    """--keyring: gpg's own keyring gets the revocation, not the user ID the server added."""
    m = keys(world)
    fpr, key = m.make("Kay <kay@ks.test>")
    cfg = _obj(tmp_path, world)  # makes the user's GnuPG home, tmp/gnupg
    home = ["gpg", "--homedir", str(tmp_path / "gnupg"), "--batch", "--no-tty"]
    subprocess.run([*home, "--import"], input=key, capture_output=True, check=True)
    m._gpg("--quick-add-uid", fpr, "Kay <kay@added.test>")
    world.server.serve(VKS_HOST, ks.by_fingerprint(fpr), m.revoke(fpr))
    result = CliRunner().invoke(keys_group, ["refresh", "--keyring", "--json"], obj=cfg)
    assert result.exit_code == 0, result.output
    [entry] = json.loads(result.output)["keys"]
    assert (entry["fingerprint"], entry["status"], entry["source"]) == (fpr, "revoked", "keyring")
    out = subprocess.run(
        [*home, "--with-colons", "--list-keys", fpr], capture_output=True, check=True
    )
    lines = out.stdout.decode().splitlines()
    assert next(x for x in lines if x.startswith("pub:")).split(":")[1] == "r"
    assert not any("added.test" in x for x in lines)


def test_progress_line_on_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    from e2email.cli.keys_remote import _Progress

    bar = _Progress()
    bar(1, 2, refresh.Result("A" * 40, "a@b.test", "vks", "u", "unchanged"))
    bar(2, 2, refresh.Result("B" * 40, "c@b.test", "wkd", "u", "revoked"))
    bar.close()
    err = capsys.readouterr().err
    assert "\r[1/2] " + "A" * 16 + " a@b.test: unchanged" in err
    assert "\r[2/2] " + "B" * 16 + " c@b.test: revoked" in err
    assert err.endswith("\r")

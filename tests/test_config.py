"""config.parse: the contract's keys, and a clear error naming key and file for every mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2email import config
from e2email.errors import ConfigError

CONTRACT_EXAMPLE = """
[accounts.work]
from = ["alice@example.test"]
smtp_host = "smtp.example.test"
smtp_port = 587
smtp_security = "starttls"
username = "alice@example.test"
password_command = "pass show mail/work"
tls_fingerprint = "sha256:AB:CD:0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab"
imap_host = "imap.example.test"
imap_port = 993
imap_security = "tls"

[openpgp]
gnupghome = "~/.gnupg"
sign = true
encrypt_to_self = true

[smime]
certificate = "~/.config/e2email/me.pem"
private_key = "keys/me.key"
trust_anchors = "/etc/ssl/certs/ca-certificates.crt"

[discovery]
methods = ["local", "wkd", "ldap"]
[[discovery.ldap]]
url = "ldap://ldap.example.test:389"
base = "dc=example,dc=test"
domains = ["Example.TEST"]

[network]
nameservers = ["127.0.0.1:5354", "[::1]:53"]
trust_ad = "auto"
ca_file = "/path/test-ca.pem"
smtp_probe_port = 25

[policy]
encrypt = "opportunistic"
transport_floor = "verified-tls"
[policy.recipients."bob@example.test"]
encrypt = "required"
"""

SRC = Path("/home/u/.config/e2email/config.toml")
ENV = {"HOME": "/home/u"}


def test_contract_example_parses() -> None:
    s = config.parse(CONTRACT_EXAMPLE, source=SRC, env=ENV)
    work = s.accounts["work"]
    assert work.from_ == ("alice@example.test",)
    assert work.smtp_port == 587
    assert work.tls_fingerprint is not None and work.tls_fingerprint.startswith("sha256:abcd0123")
    assert s.openpgp.gnupghome == Path("/home/u/.gnupg")
    assert s.smime.private_key == Path("/home/u/.config/e2email/keys/me.key")
    assert s.discovery.ldap[0].domains == ("example.test",)
    assert s.network.nameservers == ("127.0.0.1:5354", "[::1]:53")
    assert s.policy.recipients["bob@example.test"].encrypt == "required"


def test_defaults_without_file() -> None:
    s = config.parse("", env={"GNUPGHOME": "/g"})
    assert s.accounts == {}
    assert s.openpgp.gnupghome == Path("/g")
    assert s.policy.encrypt == "opportunistic"
    assert s.network.trust_ad == "auto"


def test_implicit_tls_defaults_to_465() -> None:
    s = config.parse('[accounts.a]\nfrom = "a@x.test"\nsmtp_host = "h"\nsmtp_security = "tls"\n')
    assert s.accounts["a"].smtp_port == 465


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (
            "[accounts.a]\nfrom='a@x'\nsmtp_host='h'\nsmtp_prot=25\n",
            "accounts.a.smtp_prot: unknown key (did you mean 'smtp_port'?)",
        ),
        (
            "[accounts.a]\nfrom='a@x'\nsmtp_host='h'\nsmtp_port='x'\n",
            "accounts.a.smtp_port: expected a port number",
        ),
        (
            "[accounts.a]\nfrom='a@x'\nsmtp_host='h'\nsmtp_security='plain'\n",
            "accounts.a.smtp_security: expected one of starttls, tls",
        ),
        ("[accounts.a]\nfrom='a@x'\n", "accounts.a.smtp_host: is required"),
        ("[policy]\ntransport_floor='good'\n", "policy.transport_floor"),
        ("[network]\nnameservers=['1.2.3.4:99999']\n", "network.nameservers: bad address"),
        ("[network]\ntrust_ad='yes'\n", "network.trust_ad"),
        ("[discovery]\nmethods=['local','carrier-pigeon']\n", "discovery.methods: unknown method"),
        ("[[discovery.ldap]]\nurl='http://x'\nbase='b'\ndomains=['d']\n", "discovery.ldap[0].url"),
        ("[[discovery.keyserver]]\nurl='hkp://k.test'\n", "discovery.keyserver[0].url"),
        ("[[discovery.keyserver]]\nurl='https://k.test/x'\n", "discovery.keyserver[0].url"),
        ("[[discovery.keyserver]]\nurl='https://k_.test'\n", "discovery.keyserver[0].url"),
        ("[[discovery.keyserver]]\nurl='https://k.test'\nkind='sks'\n", "kind: expected one"),
        ("[[discovery.keyserver]]\nurl='https://k.test'\ntrust=1\n", "trust: expected one"),
        ("[discovery]\nkeyserver='https://k.test'\n", "discovery.keyserver: expected an array"),
        ("[openpgp]\nsign='yes'\n", "openpgp.sign: expected true or false"),
        ("[smime]\nrsa_oaep='yes'\n", "smime.rsa_oaep: expected true or false"),
        ("colour = 1\n", "colour: unknown key"),
        ("[accounts.a]\nfrom='a@x'\nsmtp_host='h'\ntls_fingerprint='md5:00'\n", "tls_fingerprint"),
        ("this is = not toml [", "not valid TOML"),
        ("[accounts.smime]\nfrom='a@x'\nsmtp_host='h'\n", "accounts.smime: the account name"),
    ],
)
def test_mistakes_name_file_and_key(text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as e:
        config.parse(text, source=SRC, env=ENV)
    assert str(e.value).startswith(f"{SRC}: ")
    assert needle in str(e.value)
    assert e.value.exit_code == 78


def test_locate_order(tmp_path: Path) -> None:
    env = {"HOME": "/h", "E2EMAIL_CONFIG": "/env.toml", "XDG_CONFIG_HOME": "/x"}
    assert config.locate("/cli.toml", env) == (Path("/cli.toml"), True)
    assert config.locate(None, env) == (Path("/env.toml"), True)
    del env["E2EMAIL_CONFIG"]
    assert config.locate(None, env) == (Path("/x/e2email/config.toml"), False)
    del env["XDG_CONFIG_HOME"]
    assert config.locate(None, env) == (Path("/h/.config/e2email/config.toml"), False)


def test_load_named_missing_file_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        config.load(str(tmp_path / "nope.toml"))


def test_keyservers() -> None:
    s = config.parse(
        "[discovery]\nmethods = ['local', 'wkd', 'vks']\n"
        "[[discovery.keyserver]]\nurl = 'https://keys.openpgp.org'\nkind = 'vks'\n"
        "[[discovery.keyserver]]\nurl = 'hkps://HKP.Example.test:8443/'\nkind = 'hkps'\n"
        "trust = 'unverified'\n",
        source=SRC,
        env=ENV,
    )
    vks, hkps = s.discovery.keyservers
    assert (vks.host, vks.port, vks.kind, vks.trust, vks.usable) == (
        "keys.openpgp.org",
        443,
        "vks",
        "verified",
        True,
    )
    assert (hkps.host, hkps.port, hkps.kind, hkps.usable) == (
        "hkp.example.test",
        8443,
        "hkps",
        True,
    )
    assert not config.Keyserver("https://h.test", "h.test", kind="hkps").usable


def test_vks_method_alone_asks_keys_openpgp_org() -> None:
    s = config.parse("[discovery]\nmethods = ['vks']\n", source=SRC, env=ENV)
    assert [(k.host, k.kind) for k in s.discovery.keyservers] == [("keys.openpgp.org", "vks")]
    assert config.parse("", source=SRC, env=ENV).discovery.keyservers == ()

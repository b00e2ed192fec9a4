"""S/MIME path validation (RFC 5280 6.1) on certificates made as private CAs make them.

Every certificate here comes from the openssl CLI (tests/core/openssl_pki.py): OpenSSL's
default ``req -x509 -new`` and ``ca`` configurations, and ``x509 -req`` with an extensions
file. Each verdict is checked against ``openssl verify -purpose smimeencrypt`` in the test
itself; where e2email decides otherwise on purpose (docs/smime.md, "Which CA certificates
are accepted"), the test says so and asserts both verdicts.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509

from e2email.adapters.cms.reader import SmimeReader
from e2email.cli.keys import keys_group
from tests.core.openssl_pki import DN, Pki, e2email_problems, load, openssl_accepts

ROOT = "company-root"  # `openssl req -x509 -new`, default config: no keyUsage
LEAF = "leaf"  # what CA how-tos give a person's certificate
MAIL_LEAF = """
basicConstraints = CA:FALSE
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
subjectAltName = email:copy
"""
INTERMEDIATE = """
basicConstraints = critical, CA:true, pathlen:{pathlen}
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    made = Pki(tmp_path_factory.mktemp("openssl-pki"))
    made.root(ROOT)
    made.section(LEAF, MAIL_LEAF)
    made.section("inter0", INTERMEDIATE.format(pathlen=0))
    made.section("inter1", INTERMEDIATE.format(pathlen=1))
    return made


def judge(pki: Pki, leaf: str, anchors: list[str], chain: Sequence[str] = ()) -> list[str]:
    """e2email's problems for ``leaf``, after asserting its verdict is openssl's."""
    anchor_file = pki.bundle(anchors, f"anchors-{leaf}.pem")
    untrusted = pki.bundle(list(chain), f"chain-{leaf}.pem") if chain else None
    leaf_pem = pki.dir / f"{leaf}.pem"
    problems = e2email_problems(leaf_pem, f"{leaf}@example.test", anchor_file, untrusted)
    accepted = openssl_accepts(pki, leaf_pem, anchor_file, untrusted)
    assert (problems == []) == accepted, (problems, "openssl accepts" if accepted else "refuses")
    return problems


def person(pki: Pki, name: str, issuer: str, section: str = LEAF, **kw: str) -> str:
    pki.issue(name, issuer, section, email=f"{name}@example.test", **kw)
    return name


def test_default_config_root_has_no_key_usage_and_is_accepted(pki: Pki) -> None:
    root = load(pki.dir / f"{ROOT}.pem")
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    with pytest.raises(x509.ExtensionNotFound):
        root.extensions.get_extension_for_class(x509.KeyUsage)
    assert judge(pki, person(pki, "alice", ROOT), [ROOT]) == []


def test_openssl_ca_default_config_leaf_is_accepted(pki: Pki) -> None:
    # `openssl ca` with the default config: usr_cert (CA:FALSE, no keyUsage, no EKU) and
    # the address only in the subject's emailAddress, no subjectAltName (RFC 8550 3).
    pki.ca_issue("carol", ROOT, email="carol@example.test")
    carol = load(pki.dir / "carol.pem")
    with pytest.raises(x509.ExtensionNotFound):
        carol.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert judge(pki, "carol", [ROOT]) == []


def test_rsa_leaf_with_key_encipherment_and_email_eku(pki: Pki) -> None:
    pki.section("rsa-leaf", MAIL_LEAF + "keyUsage = digitalSignature, keyEncipherment\n"
                "extendedKeyUsage = emailProtection\n")  # fmt: skip
    assert judge(pki, person(pki, "rsa", ROOT, "rsa-leaf", kind="rsa"), [ROOT]) == []


def test_root_with_key_usage_key_cert_sign_is_accepted(pki: Pki) -> None:
    pki.root("ku-root", "keyUsage = critical, keyCertSign, cRLSign")
    assert judge(pki, person(pki, "dave", "ku-root"), ["ku-root"]) == []


def test_root_with_key_usage_lacking_key_cert_sign_is_refused(pki: Pki) -> None:
    pki.root("nosign-root", "keyUsage = critical, digitalSignature, cRLSign")
    problems = judge(pki, person(pki, "erin", "nosign-root"), ["nosign-root"])
    assert problems == ['untrusted: issuer "nosign-root" has no keyCertSign']


def test_intermediate_lacking_key_cert_sign_is_refused(pki: Pki) -> None:
    pki.section("inter-nosign", "basicConstraints = critical, CA:true\nkeyUsage = cRLSign\n")
    pki.issue("nosign-ca", ROOT, "inter-nosign")
    problems = judge(pki, person(pki, "frank", "nosign-ca"), [ROOT], ["nosign-ca"])
    assert problems == ['untrusted: issuer "nosign-ca" has no keyCertSign']


def test_intermediate_with_path_len_zero_issues_people_only(pki: Pki) -> None:
    pki.issue("dept-ca", ROOT, "inter0")
    assert judge(pki, person(pki, "grace", "dept-ca"), [ROOT], ["dept-ca"]) == []
    pki.issue("team-ca", "dept-ca", "inter0")
    problems = judge(pki, person(pki, "heidi", "team-ca"), [ROOT], ["dept-ca", "team-ca"])
    assert problems == ['untrusted: issuer "dept-ca" pathLen 0 exceeded (1 CA below it)']


def test_path_len_one_allows_one_intermediate_below(pki: Pki) -> None:
    pki.issue("region-ca", ROOT, "inter1")
    pki.issue("office-ca", "region-ca", "inter0")
    chain = ["region-ca", "office-ca"]
    assert judge(pki, person(pki, "ivan", "office-ca"), [ROOT], chain) == []


def test_intermediate_needs_its_chain(pki: Pki) -> None:
    pki.issue("lonely-ca", ROOT, "inter0")
    problems = judge(pki, person(pki, "judy", "lonely-ca"), [ROOT])
    assert problems == ['untrusted: no issuer among the trust anchors (issued by "lonely-ca")']


def test_expired_intermediate_is_refused(pki: Pki) -> None:
    # issued by `openssl ca` with the default config's v3_ca section, valid 2020 only
    pki.ca_issue("old-ca", ROOT, "-extensions", "v3_ca", "-startdate", "20200101000000Z",
                 "-enddate", "20210101000000Z")  # fmt: skip
    problems = judge(pki, person(pki, "ken", "old-ca"), [ROOT], ["old-ca"])
    assert problems == ['untrusted: issuer "old-ca" expired on 2021-01-01 00:00 UTC']


def test_expired_leaf_is_expired_not_untrusted(pki: Pki) -> None:
    pki.ca_issue("lapsed", ROOT, "-extensions", LEAF, "-extfile", str(pki.extfile),
                 "-startdate", "20200101000000Z", "-enddate", "20210101000000Z",
                 email="lapsed@example.test")  # fmt: skip
    assert judge(pki, "lapsed", [ROOT]) == ["expired"]


def test_leaf_eku_without_email_protection_is_refused(pki: Pki) -> None:
    pki.section("tls-leaf", MAIL_LEAF + "extendedKeyUsage = serverAuth, clientAuth\n")
    assert judge(pki, person(pki, "leo", ROOT, "tls-leaf"), [ROOT]) == ["bad-eku"]


def test_intermediate_eku_without_email_protection_is_refused(pki: Pki) -> None:
    pki.section("tls-ca", INTERMEDIATE.format(pathlen=0) + "extendedKeyUsage = serverAuth\n")
    pki.issue("tls-ca", ROOT, "tls-ca")
    problems = judge(pki, person(pki, "mia", "tls-ca"), [ROOT], ["tls-ca"])
    assert problems == [
        'untrusted: issuer "tls-ca" has an extendedKeyUsage without emailProtection'
    ]


def test_intermediate_with_email_eku_is_accepted(pki: Pki) -> None:
    pki.section("mail-ca", INTERMEDIATE.format(pathlen=0) + "extendedKeyUsage = emailProtection\n")
    pki.issue("mail-ca", ROOT, "mail-ca")
    assert judge(pki, person(pki, "nick", "mail-ca"), [ROOT], ["mail-ca"]) == []


def test_non_critical_basic_constraints_and_aki_with_issuer_serial_are_accepted(
    pki: Pki,
) -> None:
    # Both are refused by the Web PKI profile (CA/B Forum 7.1.2), not by RFC 5280 6.1.
    pki.section("loose-ca", "basicConstraints = CA:true\nsubjectKeyIdentifier = hash\n"
                "authorityKeyIdentifier = keyid:always, issuer:always\n")  # fmt: skip
    pki.issue("loose-ca", ROOT, "loose-ca")
    aki = load(pki.dir / "loose-ca.pem").extensions.get_extension_for_class(
        x509.AuthorityKeyIdentifier
    )
    assert aki.value.authority_cert_serial_number is not None
    assert judge(pki, person(pki, "olga", "loose-ca"), [ROOT], ["loose-ca"]) == []


def test_intermediate_without_basic_constraints_is_refused(pki: Pki) -> None:
    pki.section("no-bc", "keyUsage = keyCertSign, cRLSign\nsubjectKeyIdentifier = hash\n")
    pki.issue("no-bc-ca", ROOT, "no-bc")
    problems = judge(pki, person(pki, "paul", "no-bc-ca"), [ROOT], ["no-bc-ca"])
    assert problems == ['untrusted: issuer "no-bc-ca" is not a CA (no basicConstraints)']


def test_person_cannot_issue_certificates(pki: Pki) -> None:
    person(pki, "quinn", ROOT)
    problems = judge(pki, person(pki, "rita", "quinn"), [ROOT], ["quinn"])
    assert problems == ['untrusted: issuer "quinn" is not a CA (basicConstraints cA is false)']


def test_untrusted_root_is_refused(pki: Pki) -> None:
    pki.root("stranger-root")
    problems = judge(pki, person(pki, "sam", "stranger-root"), [ROOT])
    assert problems == ['untrusted: no issuer among the trust anchors (issued by "stranger-root")']
    problems = judge(pki, "sam", [ROOT], ["stranger-root"])
    assert problems == ['untrusted: root "stranger-root" is not among the trust anchors']


def test_version_1_root_is_accepted(pki: Pki) -> None:
    # `openssl x509 -req -signkey` without extensions: a version 1 self-signed CA
    pki.key("v1-root")
    pki.openssl("req", "-new", "-key", "v1-root.key", "-subj", "/CN=v1-root", "-out", "v1.csr")
    pki.openssl("x509", "-req", "-in", "v1.csr", "-signkey", "v1-root.key", "-out", "v1-root.pem")
    assert load(pki.dir / "v1-root.pem").version is x509.Version.v1
    assert judge(pki, person(pki, "tina", "v1-root"), ["v1-root"]) == []


def test_self_signed_person_listed_among_the_anchors_is_accepted(pki: Pki) -> None:
    # a correspondent's own self-signed certificate, trusted by listing it (no CA at all)
    pki.key("selfie")
    pki.openssl("req", "-x509", "-new", "-key", "selfie.key", "-subj", "/CN=selfie",
                "-addext", "basicConstraints = CA:FALSE", "-addext",
                "subjectAltName = email:selfie@example.test", "-out", "selfie.pem")  # fmt: skip
    assert judge(pki, "selfie", [ROOT, "selfie"]) == []
    problems = judge(pki, "selfie", [ROOT])
    assert problems == ['untrusted: no issuer among the trust anchors (issued by "selfie")']


def test_name_constraints_are_kept(pki: Pki) -> None:
    pki.section("nc-ca", INTERMEDIATE.format(pathlen=0)
                + "nameConstraints = critical, permitted;email:example.test, "
                "excluded;email:blocked@example.test\n")  # fmt: skip
    pki.issue("nc-ca", ROOT, "nc-ca")
    assert judge(pki, person(pki, "uma", "nc-ca"), [ROOT], ["nc-ca"]) == []
    pki.section("elsewhere", MAIL_LEAF.replace("email:copy", "email:victor@elsewhere.test"))
    pki.issue("victor", "nc-ca", "elsewhere")
    problems = e2email_problems(
        pki.dir / "victor.pem", "victor@elsewhere.test", pki.dir / f"{ROOT}.pem",
        pki.dir / "nc-ca.pem"
    )  # fmt: skip
    assert not openssl_accepts(pki, pki.dir / "victor.pem", pki.dir / f"{ROOT}.pem",
                               pki.dir / "nc-ca.pem")  # fmt: skip
    assert problems == [
        'untrusted: issuer "nc-ca" name constraints do not permit "victor@elsewhere.test"'
        ' (in "victor")'
    ]
    problems = judge(pki, person(pki, "blocked", "nc-ca"), [ROOT], ["nc-ca"])
    assert problems == [
        'untrusted: issuer "nc-ca" name constraints exclude "blocked@example.test" (in "blocked")'
    ]


NAMES_CA = """
basicConstraints = critical, CA:true, pathlen:0
nameConstraints = critical, permitted;email:example.test, permitted;DNS:example.test, permitted;IP:192.168.0.0/255.255.0.0, permitted;URI:.example.test, permitted;dirName:company_dn
[company_dn]
C = DE
ST = Berlin
O = Example Company
"""
GOOD_NAMES = "email:copy, DNS:host.example.test, IP:192.168.1.1, URI:https://www.example.test/"


@pytest.mark.parametrize(
    ("case", "names", "dn", "refused"),
    [
        ("names-ok", GOOD_NAMES, "", ""),
        ("names-dns", "email:copy, DNS:host.elsewhere.test", "", "host.elsewhere.test"),
        ("names-ip", "email:copy, IP:10.0.0.1", "", "10.0.0.1"),
        ("names-uri", "email:copy, URI:https://elsewhere.test/", "", "https://elsewhere.test/"),
        ("names-dn", "email:copy", "/C=DE/ST=Berlin/O=Other Company", "O=Other Company"),
    ],
)
def test_name_constraints_of_each_type(
    pki: Pki, case: str, names: str, dn: str, refused: str
) -> None:
    if not (pki.dir / "names-ca.pem").exists():
        pki.section("names-ca", NAMES_CA)
        pki.issue("names-ca", ROOT, "names-ca")
    pki.section(case, MAIL_LEAF.replace("email:copy", names))
    pki.issue(case, "names-ca", case, email=f"{case}@example.test", dn=dn or DN)
    problems = judge(pki, case, [ROOT], ["names-ca"])
    if not refused:
        assert problems == []
    else:
        [problem] = problems
        assert problem.startswith('untrusted: issuer "names-ca" name constraints do not permit')
        assert refused in problem


def test_unknown_critical_extension_is_refused(pki: Pki) -> None:
    pki.section("odd-leaf", MAIL_LEAF + "1.3.6.1.4.1.55555.1 = critical, ASN1:NULL\n")
    problems = judge(pki, person(pki, "wendy", ROOT, "odd-leaf"), [ROOT])
    assert problems == [
        'untrusted: "wendy" has an unsupported critical extension 1.3.6.1.4.1.55555.1'
    ]


# Where e2email decides otherwise than `openssl verify`, on purpose (docs/smime.md).


def test_sha1_signature_is_refused_where_openssl_accepts(pki: Pki) -> None:
    person(pki, "xavier", ROOT)  # the default SHA-256, then the same with SHA-1:
    pki.openssl("x509", "-req", "-in", "xavier.csr", "-CA", f"{ROOT}.pem", "-CAkey",
                f"{ROOT}.key", "-sha1", "-extfile", str(pki.extfile), "-extensions", LEAF,
                "-out", "xavier-sha1.pem")  # fmt: skip
    anchors = pki.dir / f"{ROOT}.pem"
    assert openssl_accepts(pki, pki.dir / "xavier-sha1.pem", anchors)
    problems = e2email_problems(pki.dir / "xavier-sha1.pem", "xavier@example.test", anchors)
    assert problems == [
        'untrusted: issuer "company-root" signed "xavier" with SHA1, which is not accepted'
    ]


def test_rsa_1024_ca_is_refused_where_openssl_accepts(pki: Pki) -> None:
    pki.openssl("req", "-x509", "-new", "-newkey", "rsa:1024", "-nodes", "-keyout",
                "weak-root.key", "-subj", "/CN=weak-root", "-out", "weak-root.pem")  # fmt: skip
    person(pki, "yuri", "weak-root")
    anchors = pki.dir / "weak-root.pem"
    assert openssl_accepts(pki, pki.dir / "yuri.pem", anchors)
    problems = e2email_problems(pki.dir / "yuri.pem", "yuri@example.test", anchors)
    assert problems == [
        'untrusted: issuer "weak-root" has a 1024-bit RSA key (at least 2048 needed)'
    ]


def test_any_eku_is_accepted_where_openssl_refuses(pki: Pki) -> None:
    # RFC 5280 4.2.1.12: anyExtendedKeyUsage means no restriction; OpenSSL 3.0 wants the OID.
    pki.section("any-leaf", MAIL_LEAF + "extendedKeyUsage = anyExtendedKeyUsage\n")
    person(pki, "zoe", ROOT, "any-leaf")
    anchors = pki.dir / f"{ROOT}.pem"
    assert not openssl_accepts(pki, pki.dir / "zoe.pem", anchors)
    assert e2email_problems(pki.dir / "zoe.pem", "zoe@example.test", anchors) == []


# Incoming signatures are judged by the same path validation (adapters/cms/reader.py).


@pytest.mark.parametrize(("root", "status"), [(ROOT, "good"), ("sig-nosign-root", "untrusted")])
def test_signature_from_private_ca_is_judged_the_same(pki: Pki, root: str, status: str) -> None:
    if root != ROOT:
        pki.root(root, "keyUsage = critical, cRLSign")
    name = person(pki, f"signer-{status}", root)
    (pki.dir / "msg.txt").write_bytes(b"Content-Type: text/plain\r\n\r\nhello\r\n")
    pki.openssl("smime", "-sign", "-nodetach", "-binary", "-outform", "DER", "-in", "msg.txt",
                "-signer", f"{name}.pem", "-inkey", f"{name}.key", "-out", f"{name}.p7s")  # fmt: skip
    reader = SmimeReader(None, [load(pki.dir / f"{root}.pem")])
    der = (pki.dir / f"{name}.p7s").read_bytes()
    _, verdict = reader.verify_opaque(der, {f"{name}@example.test"})
    assert verdict.status == status
    assert openssl_accepts(pki, pki.dir / f"{name}.pem", pki.dir / f"{root}.pem") is (
        status == "good"
    )


# What a user sees: `keys locate --json` names the check that failed.


def test_keys_locate_json_names_the_failed_check(pki: Pki, tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    pki.root("locate-root", "keyUsage = critical, digitalSignature")
    for name, issuer in (("amy", ROOT), ("ben", "locate-root")):
        (certs / f"{name}.pem").write_bytes(
            (pki.dir / f"{person(pki, name, issuer)}.pem").read_bytes()
        )
    anchors = pki.bundle([ROOT, "locate-root"], "locate-anchors.pem")
    config = tmp_path / "config.toml"
    config.write_text(
        f'[smime]\ntrust_anchors = "{anchors}"\ncertificates_dir = "{certs}"\n'
        f'[discovery]\nmethods = ["local"]\nstore_dir = "{tmp_path / "store"}"\n'
        f'cache_dir = "{tmp_path / "cache"}"\n'
    )
    args = ["locate", "--json", "--protocol", "smime", "amy@example.test", "ben@example.test"]
    out = CliRunner().invoke(keys_group, args, obj=str(config))
    assert out.exit_code == 67, out.output  # ben has no usable certificate
    amy, ben = json.loads(out.output)
    assert [k["protocol"] for k in amy["keys"]] == ["smime"] and amy["rejected"] == []
    assert ben["keys"] == []
    assert [(r["source"], r["reason"]) for r in ben["rejected"]] == [
        ("local", 'untrusted: issuer "locate-root" has no keyCertSign')
    ]

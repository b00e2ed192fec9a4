"""sendmail(8) command lines as real callers write them, and the message conventions around them."""

from __future__ import annotations

import pytest

from e2email.core.sendmail import (
    SendmailArgs,
    cut_at_dot,
    envelope_sender,
    has_header,
    parse_args,
    recipient_addresses,
    requalify_from,
    unqualified_from,
    with_from,
)
from e2email.errors import EX_DATAERR, EX_USAGE, E2emailError, HeaderInjectionError, UsageError
from e2email.model import Address


def test_mutt_neomutt() -> None:  # mutt: sendmail -oem -oi -- rcpt...
    a = parse_args(["-oem", "-oi", "--", "bob@example.test", "carol@example.test"])
    assert a.ignore_dots and not a.extract and a.mode == "send"
    assert a.recipients == ("bob@example.test", "carol@example.test")
    assert a.ignored == ("-oem",)


def test_git_send_email() -> None:  # git send-email: sendmail -i -f FROM RCPT...
    a = parse_args(["-i", "-f", "alice@example.test", "bob@example.test"])
    assert a.ignore_dots and a.sender == "alice@example.test"
    assert a.recipients == ("bob@example.test",)


def test_debian_cron() -> None:  # cron: sendmail -FCronDaemon -i -B8BITMIME -oem -oi -t
    a = parse_args(["-FCronDaemon", "-i", "-B8BITMIME", "-oem", "-oi", "-t"])
    assert a.extract and a.ignore_dots and a.full_name == "CronDaemon"
    assert a.recipients == ()
    assert "-B8BITMIME" in a.ignored and "-oem" in a.ignored


def test_mail1_plain() -> None:  # bsd-mailx: sendmail -i -- rcpt
    a = parse_args(["-i", "--", "bob@example.test"])
    assert a == SendmailArgs(ignore_dots=True, recipients=("bob@example.test",))


def test_clustered_flags_and_attached_arguments() -> None:
    a = parse_args(["-tivvv", "-falice@example.test", "-FAlice Liddell", "bob@example.test"])
    assert a.extract and a.ignore_dots and a.verbose == 3
    assert a.sender == "alice@example.test" and a.full_name == "Alice Liddell"
    assert a.recipients == ("bob@example.test",)


def test_cluster_ending_in_an_option_with_argument() -> None:
    a = parse_args(["-tf", "alice@example.test"])
    assert a.extract and a.sender == "alice@example.test" and a.recipients == ()


@pytest.mark.parametrize(
    ("argv", "ignored"),
    [
        (["-B", "8BITMIME"], "-B8BITMIME"),
        (["-N", "never"], "-Nnever"),
        (["-Nsuccess,delay"], "-Nsuccess,delay"),
        (["-R", "hdrs"], "-Rhdrs"),
        (["-X", "/tmp/log"], "-X/tmp/log"),
        (["-o", "em"], "-oem"),
        (["-odi"], "-odi"),
        (["-O", "DeliveryMode=b"], "-ODeliveryMode=b"),
        (["-C", "/etc/mail/sendmail.cf"], "-C/etc/mail/sendmail.cf"),
        (["-L", "tag"], "-Ltag"),
        (["-V", "envid"], "-Venvid"),
        (["-h", "30"], "-h30"),
        (["-U"], "-U"),
        (["-m"], "-m"),
        (["-G"], "-G"),
    ],
)
def test_ignored_options_consume_their_arguments(argv: list[str], ignored: str) -> None:
    a = parse_args([*argv, "bob@example.test"])
    assert a.ignored == (ignored,)
    assert a.recipients == ("bob@example.test",)  # the option's argument is not a recipient


def test_o_space_i_is_ignore_dots() -> None:
    assert parse_args(["-o", "i", "bob@example.test"]).ignore_dots


def test_r_is_an_alias_of_f() -> None:
    assert parse_args(["-r", "alice@example.test", "-t"]).sender == "alice@example.test"


@pytest.mark.parametrize(
    ("argv", "mode"),
    [(["-bp"], "list"), (["-q"], "flush"), (["-q15m"], "flush"), (["-b", "p"], "list")],
)
def test_queue_modes(argv: list[str], mode: str) -> None:
    assert parse_args(argv).mode == mode


def test_bm_is_the_default_mode() -> None:
    assert parse_args(["-bm", "bob@example.test"]).mode == "send"


def test_long_options() -> None:
    a = parse_args(["--account", "work", "--config=/x.toml", "--require-tls", "-t"])
    assert a.account == "work" and a.config == "/x.toml" and a.require_tls


@pytest.mark.parametrize("word", ["--help", "--version"])
def test_help_and_version(word: str) -> None:
    assert parse_args([word]).mode == word[2:]


@pytest.mark.parametrize(
    "argv",
    [
        ["bob@example.test", "-oQ/tmp"],  # option after the first recipient
        ["--", "-oQ/tmp/evil"],
        ["--", "-t"],
        ["-i", "--", "bob@example.test", "--help"],
    ],
)
def test_recipient_starting_with_dash_is_refused(argv: list[str]) -> None:
    with pytest.raises(UsageError, match="starts with '-'") as e:
        parse_args(argv)
    assert e.value.exit_code == EX_USAGE


@pytest.mark.parametrize(
    ("argv", "msg"),
    [
        (["-i"], "no recipients"),
        (["-z", "bob@example.test"], "unknown option -z"),
        (["-f"], "requires an argument"),
        (["-bs"], "-bs is not supported"),
        (["-bd"], "-bd is not supported"),
        (["-bp", "bob@example.test"], "take no recipients"),
        (["-q", "-t"], "take no recipients"),
        (["--acount", "x", "-t"], "unknown option --acount"),
        (["--account"], "requires an argument"),
        (["--account=", "-t"], "non-empty"),
    ],
)
def test_usage_errors(argv: list[str], msg: str) -> None:
    with pytest.raises(UsageError, match=msg):
        parse_args(argv)


def test_recipient_lists_and_duplicates() -> None:
    got = recipient_addresses(
        ('Bob <bob@example.test>, "Doe, Carol" <carol@example.test>', "bob@example.test")
    )
    assert got == (Address("bob", "example.test"), Address("carol", "example.test"))


def test_recipient_with_header_injection_is_refused() -> None:
    with pytest.raises(HeaderInjectionError):
        recipient_addresses(("bob@example.test\r\nBcc: evil@example.test",))


def test_recipient_malformed_is_65() -> None:
    with pytest.raises(E2emailError) as e:
        recipient_addresses(("not an address",))
    assert e.value.exit_code == EX_DATAERR


@pytest.mark.parametrize(
    ("value", "address"),
    [
        ("alice@example.test", "alice@example.test"),
        ("<alice@example.test>", "alice@example.test"),
        ("Alice <alice@example.test>", "alice@example.test"),
    ],
)
def test_envelope_sender_forms(value: str, address: str) -> None:
    assert str(envelope_sender(value)) == address


@pytest.mark.parametrize("value", ["<>", "", "-oQ/tmp"])
def test_envelope_sender_refusals(value: str) -> None:
    with pytest.raises(UsageError):
        envelope_sender(value)


def test_dot_line_ends_the_message_without_i() -> None:
    data = b"Subject: x\n\nline\n.\nafter\n"
    assert cut_at_dot(data) == b"Subject: x\n\nline\n"
    assert cut_at_dot(b"a\r\n.\r\nb") == b"a\r\n"
    assert cut_at_dot(b"a\n..\nb\n. \n") == b"a\n..\nb\n. \n"  # only a lone dot counts


def test_has_header_looks_only_at_the_header_section() -> None:
    data = b"Subject: s\nX-From: no\n\nFrom: in the body\n"
    assert has_header(data, "subject") and not has_header(data, "From")
    assert has_header(b"from : a@b.test\n\nx", "From")


def test_with_from_adds_a_from_field_only_when_missing() -> None:
    addr = Address("alice", "example.test")
    assert with_from(b"Subject: s\n\nb", addr, "Alice").startswith(
        b'From: "Alice" <alice@example.test>\r\nSubject'
    )
    assert with_from(b"Subject: s\n\nb", addr, None).startswith(b"From: alice@example.test\r\n")
    assert with_from(b"From: x@y.test\n\nb", addr, "A") == b"From: x@y.test\n\nb"
    assert b"=?utf-8?b?" in with_from(b"\n", addr, "Zoë")
    with pytest.raises(UsageError):
        with_from(b"S: s\n\n", addr, "evil\r\nBcc: x@y.test")


def test_cron_from_is_requalified_keeping_its_comment() -> None:
    data = b"From: root (Cron Daemon)\nTo: alice@example.test\nSubject: Cron <root@h> ls\n\nout\n"
    assert unqualified_from(data) == "root (Cron Daemon)"
    out = requalify_from(data, Address("alice", "example.test"))
    assert out.startswith(b'From: "Cron Daemon" <alice@example.test>\r\nTo: alice@example.test\n')
    assert out.endswith(b"\n\nout\n")
    assert unqualified_from(b"From: a@b.test\n\n") is None
    assert requalify_from(b"From: a@b.test\n\n", Address("x", "y.test")) == b"From: a@b.test\n\n"

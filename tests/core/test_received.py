"""Received headers -> hops with TLS yes/no/unknown (RFC 5321 4.4, RFC 3848)."""

from __future__ import annotations

from email import message_from_string

import pytest

from e2email.core.received import parse_received, trace

POSTFIX_TLS = """from client.example.test (client.example.test [127.0.0.9])
\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)
\t key-exchange X25519 server-signature ECDSA (prime256v1) server-digest SHA256)
\t(No client certificate requested)
\tby smtp.example.test (Postfix) with ESMTPSA id 4Ab1Cd2EfG
\tfor <bob@example.test>; Sun, 22 Nov 2026 10:00:00 +0000 (UTC)"""

GMAIL = (
    "from mail.example.org (mail.example.org. [192.0.2.7]) by mx.google.com with ESMTPS "
    "id a1si2 for <x@gmail.example> (version=TLS1_3 cipher=TLS_AES_256_GCM_SHA384 "
    "bits=256/256); Mon, 01 Jan 2024 12:00:00 -0800 (PST)"
)
EXIM = (
    "from host.example.net ([198.51.100.4] helo=host.example.net) by mx.example.com "
    "with esmtps (TLS1.3) tls TLS_AES_256_GCM_SHA384 (Exim 4.96) "
    "(envelope-from <a@example.net>) id 1qAbCd-000123-4X for b@example.com; "
    "Tue, 02 Jan 2024 08:00:00 +0000"
)
EXCHANGE = (
    "from AM0PR01.eurprd01.prod.outlook.com (2603:10a6:208:1::1) by "
    "AM6PR01.eurprd01.prod.outlook.com (2603:10a6:20b:2::2) with Microsoft SMTP Server "
    "(version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.20.7633.22; "
    "Wed, 3 Jan 2024 09:00:00 +0000"
)
PLAIN = "from old.example (old.example [203.0.113.5]) by mx.example with ESMTP id 42; Thu, 4 Jan 2024 10:00:00 +0000"
LOCAL = "by host.example (Postfix, from userid 1000) id 3F2; Thu, 4 Jan 2024 09:59:00 +0000"


def test_postfix_with_tls_details() -> None:
    hop = parse_received(POSTFIX_TLS)
    assert hop.tls == "yes" and hop.protocol == "ESMTPSA"
    assert (hop.tls_version, hop.cipher) == ("TLSv1.3", "TLS_AES_256_GCM_SHA384")
    assert hop.by == "smtp.example.test" and hop.from_ip == "127.0.0.9"
    assert hop.date is not None and hop.date.year == 2026


@pytest.mark.parametrize(
    ("value", "version", "cipher"),
    [
        (GMAIL, "TLS1_3", "TLS_AES_256_GCM_SHA384"),
        (EXIM, "TLS1.3", None),
        (EXCHANGE, "TLS1_2", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
    ],
)
def test_other_mtas(value: str, version: str, cipher: str | None) -> None:
    hop = parse_received(value)
    assert hop.tls == "yes"
    assert hop.tls_version == version
    if cipher:
        assert hop.cipher == cipher


def test_exchange_protocol_name_kept_whole() -> None:
    assert parse_received(EXCHANGE).protocol == "Microsoft SMTP Server"


def test_cleartext_hop() -> None:
    hop = parse_received(PLAIN)
    assert hop.tls == "no" and "no TLS" in hop.note


def test_local_pickup_cannot_be_known() -> None:
    hop = parse_received(LOCAL)
    assert hop.tls == "unknown" and hop.from_text is None and hop.by == "host.example"


def test_helo_cannot_fake_tls() -> None:
    # the client chooses its HELO name: "TLSv1.3" there proves nothing
    value = "from TLSv1.3 (unknown [203.0.113.9]) by mx.example with ESMTP id 1; Thu, 4 Jan 2024 10:00:00 +0000"
    assert parse_received(value).tls == "no"


def test_unparseable_date_is_none() -> None:
    assert parse_received("from a by b with ESMTPS; not a date").date is None


def test_trace_orders_oldest_first() -> None:
    msg = message_from_string(f"Received: {PLAIN}\nReceived: {LOCAL}\nSubject: x\n\nbody\n")
    hops = trace(msg.get_all("Received") or [])
    assert [h.number for h in hops] == [1, 2]
    assert hops[0].by == "host.example" and hops[1].tls == "no"

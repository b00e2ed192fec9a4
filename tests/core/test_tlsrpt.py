"""RFC 8460 TLS-RPT record parsing (reported by ``check``)."""

from __future__ import annotations

import pytest

from e2email.core.tlsrpt import TlsRptError, select_rua


def test_rua_list() -> None:
    rua = select_rua(["v=TLSRPTv1; rua=mailto:tls@example.test,https://r.example.test/x"])
    assert rua == ("mailto:tls@example.test", "https://r.example.test/x")


def test_absent() -> None:
    assert select_rua(["v=spf1 -all"]) is None


@pytest.mark.parametrize(
    "records",
    [
        ["v=TLSRPTv1;"],
        ["v=TLSRPTv1; rua=ftp://x"],
        ["v=TLSRPTv1; rua=mailto:a@b", "v=TLSRPTv1; rua=mailto:c@d"],
    ],
)
def test_bad(records: list[str]) -> None:
    with pytest.raises(TlsRptError):
        select_rua(records)

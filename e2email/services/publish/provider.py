"""What the provider publishes for its Web Key Service, fetched over verified HTTPS.

The ``submission-address`` and ``policy`` files (WKS draft 4.1, 4.5) are looked up like WKD
keys: at ``openpgpkey.DOMAIN`` (advanced), at DOMAIN only when that host does not exist in
DNS (security.md item 5). The submission address's own key, and finally the published key
itself, come through e2email's WKD lookup with its filtering and gpg's judgement.
"""

from __future__ import annotations

from dataclasses import dataclass

from e2email.adapters import http
from e2email.adapters.dns import DnsFailure
from e2email.core import wkd, wks
from e2email.errors import NoKeyServiceError, TemporaryFailure
from e2email.model import Address, Key, Protocol
from e2email.services.discovery import judge
from e2email.services.discovery import wkd as wkd_method
from e2email.services.runtime import Runtime


@dataclass(frozen=True)
class Service:
    """A provider's WKS: where to submit, its policy, and the URL the address came from."""

    submission: Address
    policy: wks.Policy
    url: str


def _fetch(rt: Runtime, req: wkd.Request, timeout: float) -> bytes | None:
    """A WKS file's bytes; None when the server says it has none (404/410)."""
    try:
        resp = http.get(
            rt.resolver, rt.tls_context, req.host, req.path, max_bytes=wks.MAX_FILE,
            timeout=timeout,
        )  # fmt: skip
    except http.HttpError as e:
        raise TemporaryFailure(f"cannot read the provider's WKS files: {e}") from None
    problem = wkd.status_problem(resp.status)
    if problem == "not-found":
        return None
    if problem is not None:
        raise TemporaryFailure(f"{req.url}: HTTP {resp.status} ({problem})")
    return resp.body


def _request(rt: Runtime, address: Address, name: str) -> wkd.Request:
    advanced, direct = wks.file_requests(address, name)
    try:
        exists = wkd_method.has_address(rt.resolver, advanced.host)
    except DnsFailure as e:
        raise TemporaryFailure(f"cannot resolve {advanced.host}: {e}") from None
    return advanced if exists else direct


def service(rt: Runtime, address: Address, timeout: float) -> Service:
    """The provider's WKS for ``address``; NoKeyServiceError when it publishes none."""
    sa_req = _request(rt, address, "submission-address")
    policy_req = _request(rt, address, "policy")
    policy_data = _fetch(rt, policy_req, timeout)
    policy = wks.parse_policy(policy_data) if policy_data is not None else wks.Policy()
    data = _fetch(rt, sa_req, timeout)
    if data is not None:
        return Service(wks.parse_submission_address(data), policy, sa_req.url)
    if policy.submission_address:
        text = policy.submission_address.encode()
        return Service(wks.parse_submission_address(text), policy, policy_req.url)
    raise NoKeyServiceError(
        f"{address.domain} has no Web Key Service: no submission address at {sa_req.url}"
        + ("" if policy_data is not None else f" and no policy at {policy_req.url}")
    )


def wkd_keys(rt: Runtime, address: Address, timeout: float) -> list[Key]:
    """The usable keys WKD serves for ``address`` now (no cache), judged by gpg."""
    from datetime import UTC, datetime

    ctx = judge.Context(rt.settings, rt.resolver, rt.tls_context, datetime.now(UTC))
    outcome = wkd_method.wkd_lookup(address, ctx, timeout)
    [settled] = judge.settle([(address, outcome)], ctx)
    return [k for k in settled.keys if k.protocol is Protocol.OPENPGP]


def submission_key(rt: Runtime, svc: Service, timeout: float) -> Key:
    """The submission address's key, from the provider's WKD (what gpg-wks-client uses)."""
    keys = wkd_keys(rt, svc.submission, timeout)
    if not keys or keys[0].material is None:
        raise NoKeyServiceError(
            f"the submission address {svc.submission} has no usable key in WKD; "
            "the provider's Web Key Service is not set up completely"
        )
    return keys[0]

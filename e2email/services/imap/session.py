"""An authenticated IMAP connection for an account: TLS verified (and pinned), LOGIN or OAuth."""

from __future__ import annotations

from e2email.adapters import secrets
from e2email.adapters.imap import ImapSession
from e2email.config import Account
from e2email.services.runtime import Runtime


def account_secret(rt: Runtime, account: Account) -> str:
    """The account's OAuth access token (``oauth_token_command``), else its password."""
    if account.oauth_token_command:
        what = f"accounts.{account.name}.oauth_token_command"
        return secrets.from_command(account.oauth_token_command, what)
    return rt.password(account)


def connect(rt: Runtime, account: Account, secret: str) -> ImapSession:
    """A logged-in session; nothing is left open when the login fails."""
    session = ImapSession.open(
        account.imap_host or "",
        account.imap_port,
        security=account.imap_security,
        context=rt.tls_context,
        resolver=rt.resolver,
        timeout=rt.settings.network.timeout,
        pin=account.imap_pin,
    )
    user = account.username or account.from_[0]
    try:
        if account.oauth_token_command:
            session.login_oauth(user, secret, account.auth_mechanism)
        else:
            session.login(user, secret)
    except BaseException:
        session.logout()
        raise
    return session

"""Helpers shared by commands: loading settings, reading input, parsing recipients."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from e2email import config
from e2email.core.addresses import parse_mailbox
from e2email.core.compose import Mailbox
from e2email.errors import MessageError, UsageError
from e2email.services.runtime import Runtime


def runtime(ctx: click.Context) -> Runtime:
    """Settings from --config / $E2EMAIL_CONFIG / XDG, wrapped in a Runtime."""
    root = ctx.find_root()
    return Runtime(config.load(root.obj))


def mailbox(text: str, option: str) -> Mailbox:
    """A mailbox from an option value; option-like values are refused (security.md 7)."""
    if text.startswith("-"):
        raise UsageError(f"{option}: refusing an address that starts with '-': {text!r}")
    name, address = parse_mailbox(text)
    return Mailbox(address, name)


def mailboxes(values: tuple[str, ...], option: str) -> tuple[Mailbox, ...]:
    """Each value of a repeatable address option."""
    return tuple(mailbox(v, option) for v in values)


def read_body(body_file: str | None) -> str:
    """The body from --body-file ('-' = stdin), else stdin when it is not a terminal."""
    if body_file is None:
        if sys.stdin.isatty():
            raise UsageError("no body: pass --body-file FILE or pipe the body on stdin")
        data = sys.stdin.buffer.read()
    elif body_file == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            data = Path(body_file).read_bytes()
        except OSError as e:
            raise UsageError(f"--body-file: cannot read {body_file}: {e.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise MessageError(f"the body is not valid UTF-8 (byte {e.start})") from None

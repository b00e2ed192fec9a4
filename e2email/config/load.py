"""Finding and reading the configuration file: the only reader of files and environment here."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from e2email.config.parse import parse
from e2email.config.schema import Settings
from e2email.errors import ConfigError

ENV_VAR = "E2EMAIL_CONFIG"


def default_path(env: Mapping[str, str]) -> Path | None:
    """$XDG_CONFIG_HOME/e2email/config.toml, or ~/.config/e2email/config.toml."""
    base = env.get("XDG_CONFIG_HOME") or (env["HOME"] + "/.config" if env.get("HOME") else None)
    return Path(base) / "e2email" / "config.toml" if base else None


def locate(explicit: str | None, env: Mapping[str, str]) -> tuple[Path | None, bool]:
    """Which file to read, and whether the user named it (then it must exist)."""
    if explicit:
        return Path(explicit), True
    if env.get(ENV_VAR):
        return Path(env[ENV_VAR]), True
    return default_path(env), False


def load(explicit: str | None = None) -> Settings:
    """Read the configuration file (``--config``, ``$E2EMAIL_CONFIG`` or the XDG default)."""
    env = dict(os.environ)
    path, named = locate(explicit, env)
    if path is None or (not named and not path.exists()):
        return parse("", source=None, env=env)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read configuration: {e}") from None
    return parse(text, source=path.absolute(), env=env)

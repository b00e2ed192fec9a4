"""Where ``keys publish`` keeps how far each publication got, so that it can be resumed.

``STATE/ADDRESS.json`` (STATE is ``publish/`` beside the outbox: ``$XDG_STATE_HOME/e2email``)
holds one publication: the key, the submission address and the time of each step done. It
is replaced atomically (write, fsync, rename), so an interrupted command leaves the last
complete state behind; the directory is 0700.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from e2email.errors import ConfigError


class PublishStore:
    """One JSON file per address being published."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, address: str) -> Path:
        """The state file of ``address`` (its domain lower-cased)."""
        local, _, domain = address.rpartition("@")
        safe = f"{local}@{domain.lower()}".replace("/", "%2F")
        return self.directory / f"{safe}.json"

    def load(self, address: str) -> dict[str, Any] | None:
        """The saved state, or None."""
        try:
            data = json.loads(self.path(address).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise ConfigError(
                f"{self.path(address)}: unreadable ({e}); remove it to start over"
            ) from None
        return data if isinstance(data, dict) else None

    def save(self, address: str, state: dict[str, Any]) -> None:
        """Replace the state atomically."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as e:
            raise ConfigError(f"cannot create {self.directory}: {e.strerror}") from None
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(state, out, indent=1, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path(address))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

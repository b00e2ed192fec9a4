"""A keyring backend that stores secrets in a JSON file named by ``E2EMAIL_TEST_KEYRING``.

Selected through keyring's own mechanism: ``PYTHON_KEYRING_BACKEND=fakes.keyring_backend.FileKeyring``
(with ``tests/`` on PYTHONPATH). It is a real backend as far as keyring and e2email can tell:
positive priority, a normal class name, get/set/delete through keyring's API.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend


class FileKeyring(KeyringBackend):  # type: ignore[misc]
    """Secrets in a JSON file (0600) -- for tests only."""

    priority = 1  # type: ignore[assignment]

    @property
    def _path(self) -> Path:
        return Path(os.environ["E2EMAIL_TEST_KEYRING"])

    def _load(self) -> dict[str, str]:
        try:
            return dict(json.loads(self._path.read_text()))
        except FileNotFoundError:
            return {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}\0{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}\0{username}"] = password
        self._path.write_text(json.dumps(data))
        self._path.chmod(0o600)

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        data.pop(f"{service}\0{username}", None)
        self._path.write_text(json.dumps(data))

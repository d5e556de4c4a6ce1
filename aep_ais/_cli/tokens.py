"""The command line's OAuth token cache: one JSON file in the user's cache directory.

Each command is a new process, so without a cache every command would ask IMS for a new
token (and Adobe throttles integrations that do). The file maps a key that names the
credential (a hash of the token URL, client id, scopes and secret) to a token and its
expiry. It is mode 0600 in a 0700 folder, replaced atomically, never written for a static
`AEP_ACCESS_TOKEN`, and removed by `aep-ais logout`.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["FileTokenStore", "cache_dir", "cache_disabled"]

_FILE = "tokens.json"


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The folder of the cache: `$XDG_CACHE_HOME/aep-ais` (or `~/.cache/aep-ais`) on Linux,
    `~/Library/Caches/aep-ais` on macOS, `%LOCALAPPDATA%\\aep-ais\\Cache` on Windows."""
    env = os.environ if environ is None else environ
    if sys.platform == "win32":
        base = env.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "aep-ais" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "aep-ais"
    xdg = env.get("XDG_CACHE_HOME", "")
    # The XDG spec: a relative path is invalid and must be ignored.
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "aep-ais"


def cache_disabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether `AEP_NO_TOKEN_CACHE` turns the cache off (any value but empty, 0, false, no)."""
    env = os.environ if environ is None else environ
    return env.get("AEP_NO_TOKEN_CACHE", "").strip().lower() not in ("", "0", "false", "no")


class FileTokenStore:
    """A `TokenStore` on one file; it never raises (a cache that fails is no cache)."""

    def __init__(self, folder: Path, warn: Any = None) -> None:
        self.folder = folder
        self.path = folder / _FILE
        self._warn = warn

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.path)!r})"

    def _say(self, text: str) -> None:
        if self._warn is not None:
            self._warn(f"token cache: {text}")

    def _safe_folder(self, create: bool) -> bool:
        """Whether the folder is ours and 0700 (repaired if looser); made when `create`."""
        try:
            if create:
                self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            info = self.folder.lstat()
        except FileNotFoundError:
            return False
        except OSError as exc:
            self._say(f"cannot use {self.folder} ({exc.strerror}); not cached")
            return False
        if not stat.S_ISDIR(info.st_mode) or (hasattr(os, "getuid") and info.st_uid != os.getuid()):
            self._say(f"{self.folder} is not a folder of this user; not used")
            return False
        if stat.S_IMODE(info.st_mode) & 0o077:
            try:
                os.chmod(self.folder, 0o700)
            except OSError:
                self._say(f"{self.folder} is open to others and cannot be closed; not used")
                return False
        return True

    def _read(self) -> dict[str, Any]:
        if not self._safe_folder(create=False):
            return {}
        try:
            info = self.path.lstat()
            if not stat.S_ISREG(info.st_mode) or (
                hasattr(os, "getuid") and info.st_uid != os.getuid()
            ):
                self._say(f"{self.path} is not a file of this user; not used")
                return {}
            if stat.S_IMODE(info.st_mode) & 0o077:
                # Another user may have read it: its tokens are not to be trusted or kept.
                self._say(f"{self.path} was readable by others; removed")
                self.path.unlink()
                return {}
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, Any]) -> None:
        if not self._safe_folder(create=True):
            return
        try:
            fd, name = tempfile.mkstemp(dir=self.folder, prefix=".tokens.", suffix=".tmp")
        except OSError as exc:
            self._say(f"cannot write in {self.folder} ({exc.strerror}); not cached")
            return
        try:
            os.fchmod(fd, 0o600) if hasattr(os, "fchmod") else None
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f)
            os.replace(name, self.path)
        except OSError as exc:
            self._say(f"cannot write {self.path} ({exc.strerror}); not cached")
            with contextlib.suppress(OSError):
                os.unlink(name)

    def load(self, key: str) -> tuple[str, float] | None:
        """The token kept for `key`, with its expiry (epoch seconds), or `None`."""
        entry = self._read().get(key)
        if not isinstance(entry, dict):
            return None
        token, expires_at = entry.get("token"), entry.get("expiresAt")
        if not isinstance(token, str) or not isinstance(expires_at, int | float):
            return None
        return token, float(expires_at)

    def save(self, key: str, token: str, expires_at: float) -> None:
        """Keep `token` for `key`."""
        data = self._read()
        data[key] = {"token": token, "expiresAt": expires_at}
        self._write(data)

    def drop(self, key: str) -> None:
        """Forget the token of `key`."""
        data = self._read()
        if data.pop(key, None) is not None:
            self._write(data)

    def clear(self) -> bool:
        """Remove the cache file; whether there was one."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True

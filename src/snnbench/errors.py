"""Error types with messages that name the file, line or setting and say what to do."""

from __future__ import annotations

from pathlib import Path


class SnnbenchError(Exception):
    """Base class: every error the project raises on purpose."""


class ConfigError(SnnbenchError):
    """A setting has a value the project cannot use."""


class DownloadError(SnnbenchError):
    """A source could not be fetched, opened or verified as a whole."""


class DataError(SnnbenchError):
    """A data file is malformed or inconsistent.

    ``path`` and ``line`` (1-based, as an editor shows it) locate the problem.
    """

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None):
        self.path = None if path is None else str(path)
        self.line = line
        self.detail = message
        where = ""
        if self.path is not None:
            where = self.path + (f", line {line}" if line is not None else "") + ": "
        super().__init__(where + message)


class UnavailableError(SnnbenchError):
    """A dataset cannot be built because one of its files is not in the source (not a defect)."""

"""Errors a user can hit. Each message names the offending thing and the fix."""

from __future__ import annotations

from pathlib import Path


class BenchError(Exception):
    """Base of every error that the CLI reports as one line instead of a traceback."""


class ConfigError(BenchError):
    """A config file or option is invalid."""


class DataError(BenchError):
    """A data set file or folder is missing or malformed."""

    def __init__(self, path: Path | str, problem: str, fix: str = "") -> None:
        self.path = Path(path)
        self.problem = problem
        self.fix = fix
        message = f"{self.path}: {problem}"
        super().__init__(f"{message}; {fix}" if fix else message)


class WeightsError(BenchError):
    """A weight file is missing, unreadable or fails verification."""


class RecordError(BenchError):
    """A run directory cannot be created, written or resumed (``--out``, ``--resume``, a part file)."""


class ModelOutputError(BenchError):
    """A model returned something other than finite images of the expected shape."""


class RegistryError(BenchError, KeyError):
    """An unknown name was looked up in a registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])

"""Exceptions the library raises on purpose, so callers can tell them from bugs.

Every message is meant to be shown to a person as is: one paragraph saying what is wrong,
where, and what to do. The command line catches :class:`NhmgError` and prints the message
without a traceback; anything else escaping the library is a defect.
"""

from __future__ import annotations

from typing import Any


class NhmgError(Exception):
    """Base class of every error the library raises deliberately."""


class DataDirError(NhmgError):
    """The data directory cannot be created or written to."""


class DownloadError(NhmgError):
    """One or more NHANES files could not be fetched or failed validation.

    ``report`` carries what did succeed (a ``sources.DownloadReport``) so a caller can still
    say which files are now in the cache; ``failures`` maps file name to a short reason.
    """

    def __init__(self, message: str, *, report: Any = None,
                 failures: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.report = report
        self.failures = dict(failures or {})

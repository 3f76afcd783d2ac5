"""User errors: problems with the input or the machine, not bugs.

`saip.cli.main` prints them as one line and exits with `exit_code` (the traceback only with
`--verbose`); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)  # OSError errnos of a full disk or an exhausted quota


class UserError(Exception):
    """A one-line error the user can fix (exit code 2)."""

    exit_code = 2


class RunDirBusy(UserError):
    """Another process writes to the run directory; two writers would interleave its files."""


class OutputDirError(UserError):
    """The output folder cannot be created or written."""


class DiskFullError(UserError):
    """No space left while writing a file; the previous version of the file is intact."""


class DataError(UserError):
    """A dataset file is unreadable or malformed; the message names the file and the record."""

    def __init__(self, message: str) -> None:
        # A DataLoader worker re-raises it as DataError("Caught DataError in ...\n<traceback>"):
        # keep the traceback's last line, the message the user needs.
        if message.startswith("Caught DataError"):
            message = message.rstrip().splitlines()[-1].removeprefix(f"{__name__}.DataError: ")
        super().__init__(message)


def make_output_dir(path: str | Path) -> Path:
    """Create `path` (and parents) and check it is writable, before any work lands in it."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError as err:
        raise OutputDirError(f"output folder {path}: a file of that name exists") from err
    except OSError as err:
        raise OutputDirError(f"output folder {path}: cannot create it ({err.strerror})") from err
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputDirError(f"output folder {path}: not writable")
    return path

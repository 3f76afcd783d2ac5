"""Progress bars and log lines that read well on a terminal and in a log file alike.

On a terminal, log records go through the bar (`tqdm.contrib.logging.logging_redirect_tqdm`), so a
line is never glued onto a half-drawn bar. Off a terminal (a redirected stderr, a SLURM log) each
bar redraw is written as a line of its own, at most once per `FILE_INTERVAL_S`, and log records
go straight to the stream: redirecting them there would redraw the bar after every record.
tqdm's `mininterval` only holds if nothing forces a refresh, so callers update the postfix with
`set_postfix(..., refresh=False)`, and `maxinterval` (tqdm's monitor thread, which otherwise
refreshes every 10 s once `miniters` has grown) is raised to match.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import IO

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

TERMINAL_INTERVAL_S = 1.0
FILE_INTERVAL_S = 30.0


def _is_terminal(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class _Lines:
    """A stream for a bar off a terminal: each redraw becomes one line, and tqdm's clearing
    (carriage returns and blanks) writes nothing."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def write(self, text: str) -> None:
        line = text.replace("\r", "").rstrip()
        if line:
            self.stream.write(line + "\n")

    def flush(self) -> None:
        self.stream.flush()


@contextlib.contextmanager
def logs_through_bars() -> Iterator[None]:
    """Route log records through the bars on a terminal; elsewhere they need no routing."""
    if _is_terminal(sys.stderr):
        with logging_redirect_tqdm():
            yield
    else:
        yield


def progress_bar(
    total: int,
    *,
    initial: int = 0,
    desc: str | None = None,
    disable: bool = False,
    file: IO[str] | None = None,
) -> tqdm:
    """A step counter on `file` (default stderr): redrawn each second on a terminal, at most once per
    30 s elsewhere, so a log file holds a bar line per 30 s rather than one per step."""
    stream = file if file is not None else sys.stderr
    terminal = _is_terminal(stream)
    interval = TERMINAL_INTERVAL_S if terminal else FILE_INTERVAL_S
    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        disable=disable,
        file=stream if terminal else _Lines(stream),
        unit="step",
        dynamic_ncols=True,
        mininterval=interval,
        maxinterval=max(interval, 10.0),
    )

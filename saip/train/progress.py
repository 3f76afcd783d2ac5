"""Progress bars and log lines that read well on a terminal and in a log file alike.

Log records go through the bar (`tqdm.contrib.logging.logging_redirect_tqdm`), so a line is never
glued onto a half-drawn bar. Off a terminal (a redirected stderr, a SLURM log) the bar redraws at
most once per `FILE_INTERVAL_S`: tqdm's `mininterval` only holds if nothing forces a refresh, so
callers update the postfix with `set_postfix(..., refresh=False)`, and `maxinterval` (tqdm's monitor
thread, which otherwise refreshes every 10 s once `miniters` has grown) is raised to match.
"""

from __future__ import annotations

import sys
from typing import IO

from tqdm import tqdm

TERMINAL_INTERVAL_S = 1.0
FILE_INTERVAL_S = 30.0


def _is_terminal(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


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
    interval = TERMINAL_INTERVAL_S if _is_terminal(stream) else FILE_INTERVAL_S
    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        disable=disable,
        file=stream,
        unit="step",
        dynamic_ncols=True,
        mininterval=interval,
        maxinterval=max(interval, 10.0),
    )

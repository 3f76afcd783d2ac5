"""Fault injection for the reliability suite (tests/train/test_faults.py, docs/reliability.md).

`SAIP_FAULT=<point>[:<count>]` makes the process die the `count`-th time (default 1) it reaches
`fault_point(<point>)`, by `os._exit(137)`: no `finally`, no flush, no atexit, as under `kill -9`,
so the tests see what a real kill leaves on disk. Unset, a call is one environment lookup.
"""

from __future__ import annotations

import os

# Where a kill is most likely to leave the run directory inconsistent.
POINTS = (
    "checkpoint_before_rename",  # temp file written and fsynced, not yet renamed over its target
    "after_log_row",  # a log.jsonl row written, the checkpoint of that step not yet
    "after_update",  # optimizer, centre and teacher updated, nothing logged or checkpointed yet
    "before_summary",  # final checkpoint and export written, summary.json not yet
)
KILLED = 137  # the exit status of a process killed by SIGKILL, as a shell reports it

_reached: dict[str, int] = {}


def fault_point(name: str) -> None:
    """Die here if `SAIP_FAULT` names this point and this is the count-th time it is reached."""
    spec = os.environ.get("SAIP_FAULT")
    if not spec:
        return
    point, _, count = spec.partition(":")
    if point not in POINTS:  # a typo would silently test nothing
        raise ValueError(f"SAIP_FAULT={spec}: unknown point {point!r}; one of {', '.join(POINTS)}")
    if point == name:
        _reached[name] = _reached.get(name, 0) + 1
        if _reached[name] == int(count or 1):
            os._exit(KILLED)

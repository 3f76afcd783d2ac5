"""`saip eval TASK ...`: picks the task module from an explicit registry and hands it the arguments.

`saip eval all` is dispatched the same way (`saip.suite`). Each task module exposes `add_arguments(parser)` and `run(args) -> metrics dict` (`saip.evaluate`
returns it; the command line only needs the metrics.json it writes). The task's own arguments
are parsed here, after the task is known, so only that task's module is ever imported (`saip eval
reid` never imports the dense-prediction code) whatever list of arguments `saip.cli.main` got.
"""

from __future__ import annotations

import argparse
import importlib
import logging

# Task name -> module. Explicit on purpose: no lookups through module `__dict__`.
TASKS: dict[str, str] = {
    "reid": "saip.tasks.reid",
    "attributes": "saip.tasks.attributes",
    "pose": "saip.tasks.pose",
    "parsing": "saip.tasks.parsing",
    "text": "saip.tasks.text",
    "detection": "saip.tasks.detection",
    "multiparsing": "saip.tasks.multiparsing",
    "fashion": "saip.tasks.fashion",
}
# `saip eval all`: every task above whose data is found under one folder (`saip.suite`).
COMMANDS: dict[str, str] = {**TASKS, "all": "saip.suite"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task", choices=list(COMMANDS), help="downstream task, or all of them")
    parser.add_argument(
        "task_args",
        nargs=argparse.REMAINDER,
        help="the task's options (saip eval TASK --help) and key=value overrides",
    )


def parse_task_args(task: str, argv: list[str]) -> argparse.Namespace:
    """Parse `argv` with the task's parser; `key=value` words become `args.overrides`."""
    from saip.cli import split_overrides

    parser = argparse.ArgumentParser(prog=f"saip eval {task}")
    importlib.import_module(COMMANDS[task]).add_arguments(parser)
    args, rest = parser.parse_known_args(argv)
    args.overrides, unknown = split_overrides(rest)
    if unknown:
        parser.error(f"unrecognised arguments: {' '.join(unknown)}")
    return args


def run(args: argparse.Namespace) -> int:
    task_args = parse_task_args(args.task, args.task_args)
    if getattr(task_args, "verbose", False):
        logging.getLogger().setLevel(logging.DEBUG)
    importlib.import_module(COMMANDS[args.task]).run(task_args)
    return 0

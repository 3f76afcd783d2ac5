"""`saip` command line: a thin dispatcher; each subcommand's module owns its arguments and work.

    saip pretrain [--config FILE] [--data PATH]... [key=value ...]
    saip eval TASK [--config FILE] --data ROOT --weights W [key=value ...]
    saip synth --preset NAME --out DIR
    saip export RUN_OR_CHECKPOINT [--student] [--onnx [--onnx-output pooled|tokens|both]] [--int8]
    saip data pack FOLDER --out DIR [--shard-size N]
    saip backbones [--markdown]

`key=value` overrides may appear anywhere after the subcommand.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from saip.config import ConfigError
from saip.errors import DISK_FULL, UserError

# Subcommand -> module exposing `add_arguments(parser)` and `run(args) -> int`. Imported lazily so
# `saip synth` never pays for torch-heavy imports it does not need.
COMMANDS: dict[str, tuple[str, str]] = {
    "pretrain": ("saip.train.loop", "SAIP self-supervised pretraining"),
    "eval": ("saip.tasks.cli", "fine-tune or probe a backbone on a downstream task"),
    "synth": ("saip.synth.cli", "generate labelled synthetic people in the real datasets' formats"),
    "export": ("saip.export.cli", "export a run's backbone (safetensors for timm, ONNX)"),
    "data": ("saip.data.cli", "prepare pretraining data (pack a folder into WebDataset shards)"),
    "backbones": ("saip.models.cli", "list the registered backbones: kind, parameters, input size"),
}


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by every training-like command (pretrain and each eval task)."""
    parser.add_argument(
        "--config", help="YAML config (a diff over the defaults): a path or a bundled name, e.g. demo"
    )
    parser.add_argument("--out", help="run directory (default: runs/<date>-<name>)")
    parser.add_argument("--resume", help="'auto' (the run directory's last checkpoint) or a checkpoint path")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], help="default: cuda when available")
    parser.add_argument("--max-steps", type=int, help="stop after this optimizer step (schedules unchanged)")
    parser.add_argument("--batch-size", type=int, help="batch size per process")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--log-every", type=int, help="log every N optimizer steps")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The full parser; only `command`'s module is imported to fill in its arguments."""
    parser = argparse.ArgumentParser(prog="saip", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(_module=module)
        if name == command:
            importlib.import_module(module).add_arguments(sub)
    return parser


def split_overrides(rest: Sequence[str]) -> tuple[list[str], list[str]]:
    """Separate `key=value` overrides from anything argparse did not understand."""
    overrides = [a for a in rest if "=" in a and not a.startswith("-")]
    unknown = [a for a in rest if a not in overrides]
    return overrides, unknown


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(next((a for a in argv if not a.startswith("-")), None))
    args, rest = parser.parse_known_args(argv)
    args.overrides, unknown = split_overrides(rest)
    if unknown:
        parser.error(f"unrecognised arguments: {' '.join(unknown)}")
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    log = logging.getLogger("saip")
    try:
        return int(importlib.import_module(args._module).run(args) or 0)
    except (UserError, ConfigError, FileNotFoundError, ValueError) as err:
        log.error("%s", err, exc_info=log.isEnabledFor(logging.DEBUG))  # --verbose: the traceback too
        return getattr(err, "exit_code", 2)
    except OSError as err:
        if err.errno not in DISK_FULL:
            raise
        log.error(
            "no space left on the device: %s", err.filename or err, exc_info=log.isEnabledFor(logging.DEBUG)
        )
        return 2
    except KeyboardInterrupt:
        log.error("interrupted; the last checkpoint is intact (--resume auto)")
        return 130


if __name__ == "__main__":
    sys.exit(main())

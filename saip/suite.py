"""`saip eval all`: every registered task whose data is found under one folder, one table.

    saip eval all --weights W --data-root DIR [--tasks reid pose ...] [--protocol cheap|full]
                  [--random-init] [--out DIR] [key=value ...]

`DIR/<name>` holds task `<name>`'s data in its standard layout; the names are those of `saip synth
--preset all`, so its output folder serves as DIR. A missing folder skips the task (listed in the
scores); a task that fails is recorded and the others still run. Each run goes through
`saip.api.evaluate`, so `saip.evaluate_all` and the command line do the same work.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from saip import api
from saip.config import ConfigError, find_config
from saip.errors import UserError, make_output_dir
from saip.tasks.scores import Scores, write_scores

log = logging.getLogger(__name__)

Protocol = tuple[str, str]  # (config file in configs/eval, the task's --protocol)


@dataclass(frozen=True)
class SuiteTask:
    """One folder of the suite: the `saip eval` task that reads it, its headline metric, and the
    config + protocol of each suite protocol (cheap: frozen backbone or linear probe, CPU-sized;
    full: the published fine-tuning recipe)."""

    task: str
    headline: str
    cheap: Protocol
    full: Protocol


# Folder name (= `saip synth` preset) -> how it is evaluated. Explicit on purpose, like TASKS.
SUITE: dict[str, SuiteTask] = {
    "reid": SuiteTask(
        "reid", "mAP", ("reid_cpu.yaml", "frozen"), ("reid_market1501_finetune.yaml", "finetune")
    ),
    "attributes": SuiteTask(
        "attributes", "mA", ("attributes_cpu.yaml", "linear"), ("attributes_pa100k_finetune.yaml", "finetune")
    ),
    "pose": SuiteTask(
        "pose", "AP", ("pose_coco_cpu.yaml", "frozen"), ("pose_coco_finetune.yaml", "finetune")
    ),
    "wholebody": SuiteTask(
        "pose", "AP", ("wholebody_cpu.yaml", "frozen"), ("wholebody_finetune.yaml", "finetune")
    ),
    "parsing": SuiteTask(
        "parsing", "mIoU", ("parsing_lip_cpu.yaml", "frozen"), ("parsing_lip_finetune.yaml", "finetune")
    ),
    "text": SuiteTask(
        "text", "R1", ("text_cpu.yaml", "frozen"), ("text_cuhk_pedes_finetune.yaml", "finetune")
    ),
    "detection": SuiteTask(
        "detection",
        "AP",
        ("detection_cpu.yaml", "frozen"),
        ("detection_crowdhuman_finetune.yaml", "finetune"),
    ),
    "mhp": SuiteTask(
        "multiparsing",
        "mIoU",
        ("multiparsing_cpu.yaml", "frozen"),
        ("multiparsing_cihp_finetune.yaml", "finetune"),
    ),
    "fashion": SuiteTask(
        "fashion",
        "AP_box",
        ("fashion_cpu.yaml", "frozen"),
        ("fashion_fashionpedia_finetune.yaml", "finetune"),
    ),
}
PROTOCOLS = ("cheap", "full")
# What a failed task raises: bad data or settings, not a bug (a bug keeps its traceback).
TASK_ERRORS = (UserError, ConfigError, ValueError, OSError, RuntimeError)


def evaluate_all(
    weights: str,
    data_root: str | Path,
    *,
    tasks: list[str] | None = None,
    protocol: str = "cheap",
    random_init: bool = False,
    out: str | Path | None = None,
    overrides: list[str] | None = None,
    **kw: Any,
) -> Scores:
    """Evaluate `weights` on every task of `tasks` (default: all) found under `data_root`; with
    `random_init`, also a randomly initialised backbone of the same architecture. Writes
    `scores.json`, `scores.md`, `scores.png` and one run directory per task and row into `out`.

    `overrides` (`key=value`) go to every task after its config; `kw` are `saip eval` flags
    shared by all tasks (`device`, `max_steps`, `seed`, `batch_size`)."""
    names = list(tasks or SUITE)
    unknown = [n for n in names if n not in SUITE]
    if unknown or protocol not in PROTOCOLS:
        raise ValueError(
            f"unknown task(s) {unknown} or protocol {protocol!r}; tasks: {', '.join(SUITE)}; "
            f"protocols: {', '.join(PROTOCOLS)}"
        )
    root = Path(data_root)
    if not root.is_dir():
        raise FileNotFoundError(f"--data-root {root} is not a folder")
    found = [n for n in names if (root / n).is_dir()]
    if not found:
        raise ValueError(f"no task data under {root}: expected sub-folders named {', '.join(names)}")
    out = make_output_dir(out or f"runs/{datetime.now():%Y%m%d-%H%M%S}-eval-all")
    scores = Scores(
        weights=str(weights),
        protocol=protocol,
        data_root=str(root),
        headline={n: SUITE[n].headline for n in names},
        skipped={n: f"no folder {root / n}" for n in names if n not in found},
    )
    for name in scores.skipped:
        log.info("eval all: skipping %s (no folder %s)", name, root / name)
    rows = {"pretrained": (str(weights), [])}
    if random_init:  # same architecture as the weights, fresh weights
        rows["random_init"] = ("none", [f"model.backbone={_backbone_name(str(weights))}"])
    for name in found:
        config, task_protocol = getattr(SUITE[name], protocol)
        for row, (row_weights, row_overrides) in rows.items():
            run_dir = out / name / row
            scores.run_dirs[f"{name}/{row}"] = str(run_dir)
            log.info("eval all: %s (%s, %s protocol) -> %s", name, row, task_protocol, run_dir)
            try:
                metrics = api.evaluate(
                    SUITE[name].task,
                    row_weights,
                    root / name,
                    [*row_overrides, *(overrides or [])],
                    config=str(_config(config)),
                    protocol=task_protocol,
                    out=str(run_dir),
                    **kw,
                )
            except TASK_ERRORS as err:
                log.error("eval all: %s (%s) failed: %s", name, row, err)
                scores.failed[f"{name}/{row}"] = str(err)
                continue
            scores.rows.setdefault(row, {})[name] = metrics
    write_scores(scores, out)
    log.info("eval all: %s", out / "scores.md")
    return scores


def _config(name: str) -> Path:
    return find_config(Path("eval") / name)


def _backbone_name(weights: str) -> str:
    """The registered backbone the weights are for (the random-init row's architecture)."""
    if weights == "none":
        raise ValueError("--random-init needs --weights other than none")
    return api.load_backbone(weights).name


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", required=True, help="run directory, export, .safetensors, .pt or none")
    parser.add_argument("--data-root", required=True, help=f"folder with sub-folders {', '.join(SUITE)}")
    parser.add_argument("--tasks", nargs="+", choices=list(SUITE), help="default: every task")
    parser.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default="cheap",
        help="cheap: frozen / linear probes with the CPU configs; full: the fine-tuning recipes",
    )
    parser.add_argument(
        "--random-init", action="store_true", help="add a random-init row (same architecture)"
    )
    parser.add_argument("--out", help="output folder (default: runs/<date>-eval-all)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--max-steps", type=int, help="stop each task's training after this step")
    parser.add_argument("--seed", type=int)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def run(args: argparse.Namespace) -> Scores:
    flags = {k: getattr(args, k) for k in ("device", "max_steps", "seed") if getattr(args, k) is not None}
    scores = evaluate_all(
        args.weights,
        args.data_root,
        tasks=args.tasks,
        protocol=args.protocol,
        random_init=args.random_init,
        out=args.out,
        overrides=list(args.overrides),
        **flags,
    )
    if scores.failed:
        raise UserError(
            f"{len(scores.failed)} task run(s) failed: {', '.join(scores.failed)} (see scores.md)"
        )
    return scores

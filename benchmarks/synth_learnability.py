"""Do the SynthHumans defaults leave room to learn? Random-init vs briefly trained backbone, per task.

Usage:
    python benchmarks/synth_learnability.py [--tasks reid attributes pose parsing] [--steps N]
        [--limit 0] [--device cpu] [--work DIR] [--backbone vit_micro] [--seed 0] [--init none]

For each task that has an evaluator, the preset is generated (default difficulty) into the work
folder, then two `saip eval` runs are scored on the same test split: (a) a random-init backbone
under the task's cheap protocol (reid: frozen, no training; attributes: linear probe; pose and
parsing: frozen backbone, head trained for the steps), (b) the same init (or `--init` weights)
fine-tuned end to end for the steps. A task solved by random features, or one whose labels
cannot be learnt, shows no gap. Both runs of a task share every override; the schedule length is
the step count (`train.total_steps`), so a short run still warms up and decays, and layer-wise lr
decay is off (it protects pretrained early blocks; a random init has none).

The runs call `saip.cli.main` in-process after `torch.manual_seed(seed)`, so (a) and (b) start
from the identical random init: `saip eval --weights none --seed N` does not seed the init itself.
"""

from __future__ import annotations

import argparse
import json
import shlex
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from saip.cli import main as saip_main
from saip.synth import generate

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "eval"


@dataclass(frozen=True)
class TaskSpec:
    """How to run one task small: its preset, headline metric, cheap protocol and overrides."""

    preset: str
    metric: str
    cheap: str
    batch_size: int
    steps: int  # default training steps: what separates the arms within minutes on a CPU
    args: tuple[str, ...]  # config file, input size, task-specific key=value


SPECS: dict[str, TaskSpec] = {
    # 128x64 is the size the generator writes ReID crops at; 8 ids x 4 images per batch.
    "reid": TaskSpec(
        "reid",
        "mAP",
        "frozen",
        32,
        300,
        ("model.img_size=[128,64]", "reid.erasing=0", "reid.picture_queries=0", "optim.lr=2e-3"),
    ),
    "attributes": TaskSpec(
        "attributes", "mA", "linear", 32, 300, ("model.img_size=[128,64]", "optim.lr=2e-3")
    ),
    "pose": TaskSpec(
        "pose",
        "AP",
        "frozen",
        16,
        600,
        ("--config", str(CONFIGS / "pose_coco_cpu.yaml"), "pose.pictures=0", "optim.lr=2e-3"),
    ),
    "parsing": TaskSpec(
        "parsing",
        "mIoU",
        "frozen",
        8,
        600,
        (
            "--config",
            str(CONFIGS / "parsing_lip_cpu.yaml"),
            "model.img_size=[96,96]",
            "parsing.pictures=0",
            "optim.lr=2e-3",
        ),
    ),
}


def eval_argv(task: str, protocol: str, data: Path, out: Path, args: argparse.Namespace) -> list[str]:
    """The `saip eval` words of one run (everything after `saip`)."""
    spec = SPECS[task]
    steps = args.steps or spec.steps
    weights = args.init if protocol == "finetune" else "none"
    return [
        "eval",
        task,
        "--data",
        str(data),
        "--weights",
        weights,
        "--protocol",
        protocol,
        "--out",
        str(out),
        "--device",
        args.device,
        "--seed",
        str(args.seed),
        "--max-steps",
        str(steps),
        "--batch-size",
        str(spec.batch_size),
        *spec.args,
        f"model.backbone={args.backbone}",
        "model.drop_path=0",
        "optim.layer_decay=1.0",
        "optim.warmup_epochs=0.5",
        f"train.total_steps={steps}",
        "train.num_workers=0",
        "train.eval_batch_size=64",
        "train.checkpoint_every=100000",
    ]


def run_eval(argv: list[str], seed: int) -> dict[str, float]:
    """One in-process `saip eval` from a seeded random init; its metrics.json."""
    torch.manual_seed(seed)
    if saip_main(argv) != 0:
        raise RuntimeError(f"saip {shlex.join(argv)} failed")
    return json.loads((Path(argv[argv.index("--out") + 1]) / "metrics.json").read_text())


def measure(task: str, work: Path, args: argparse.Namespace) -> tuple[float, float, list[str]]:
    """(random-init score, trained score, the two commands) for one task."""
    spec = SPECS[task]
    data = generate(spec.preset, work / "data" / task, seed=args.seed, limit=args.limit or None)
    scores, commands = [], []
    for protocol in (spec.cheap, "finetune"):
        argv = eval_argv(task, protocol, data, work / "runs" / f"{task}_{protocol}", args)
        start = time.perf_counter()
        scores.append(float(run_eval(argv, args.seed)[spec.metric]))
        commands.append(f"saip {shlex.join(argv)}  # {time.perf_counter() - start:.0f} s")
    return scores[0], scores[1], commands


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", choices=list(SPECS), default=list(SPECS))
    parser.add_argument(
        "--steps",
        type=int,
        default=0,
        help="training steps of each run (0: per task, reid/attributes 300, pose/parsing 600)",
    )
    parser.add_argument(
        "--limit", type=int, default=0, help="images per split (0: the preset's default size)"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--work", type=Path, help="keep data and run folders here (default: a temp folder)")
    parser.add_argument("--backbone", default="vit_micro")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--init",
        default="none",
        help="weights the fine-tuned arm starts from (e.g. a saip pretraining run; default: random)",
    )
    args = parser.parse_args()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        rows = [(task, *measure(task, work, args)) for task in args.tasks]
    print(f"\n{'task':<11}{'metric':<7}{'random-init':>12}{'trained':>9}{'ratio':>7}{'diff':>8}")
    for task, random_init, trained, _ in rows:
        ratio = f"{trained / random_init:.1f}x" if random_init > 0 else ("inf" if trained > 0 else "-")
        print(
            f"{task:<11}{SPECS[task].metric:<7}{random_init:>12.4f}{trained:>9.4f}{ratio:>7}"
            f"{trained - random_init:>+8.4f}"
        )
    print(
        f"\nrandom-init: cheap protocol; trained: --protocol finetune from --weights {args.init} (steps in the "
        f"commands); backbone {args.backbone}, seed {args.seed}; total {time.perf_counter() - start:.0f} s"
    )
    for task, *_, commands in rows:
        print(f"\n{task}:\n" + "\n".join(f"  {c}" for c in commands))


if __name__ == "__main__":
    main()

"""Do the SynthHumans defaults leave room to learn? Random-init vs trained backbone, per task.

Usage:
    python benchmarks/synth_learnability.py [--tasks reid attributes pose parsing] [--steps N]
        [--scale X] [--limit 0] [--device cpu] [--work DIR] [--backbone NAME] [--seed 0] [--init none]

For each task that has an evaluator, the preset is generated at default difficulty (`--scale`:
a multiple of the preset's default size, so that a from-scratch run has enough to learn from)
into the work folder, then two `saip eval` runs are scored on the same test split: (a) a
random-init backbone under the task's cheap protocol (reid: frozen, no training; attributes:
linear probe; pose and parsing: frozen backbone, head trained for the steps), (b) the same init
(or `--init` weights) fine-tuned end to end for the steps. A task solved by random features, or
one whose labels cannot be learnt, shows no gap. Both runs of a task share every override; the
schedule length is the step count (`train.total_steps`), so a short run still warms up and
decays, and layer-wise lr decay is off (it protects pretrained early blocks; a random init has
none). `saip eval --seed N` seeds the init, so (a) and (b) start from identical weights.
"""

from __future__ import annotations

import argparse
import json
import shlex
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from saip.cli import main as saip_main
from saip.synth import generate
from saip.tasks.attribute_metrics import attribute_metrics
from saip.tasks.dense.lip import LIP_CLASSES

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "eval"


@dataclass(frozen=True)
class TaskSpec:
    """How to run one task small: its preset and size, backbone, metrics (headline first), cheap
    protocol and overrides."""

    preset: str
    scale: float  # preset size multiple: enough images for a from-scratch run to learn from
    backbone: str
    metrics: tuple[str, ...]
    cheap: str
    batch_size: int
    steps: int  # default training steps: what separates the arms on a 2-core CPU
    args: tuple[str, ...]  # config file, input size, task-specific key=value


# Backbones: vit_micro (4 blocks, width 48) learns ReID, pose and parsing from scratch within
# minutes on a CPU but not attributes (loss stays at the label prior for 15 epochs of 3,000 crops);
# the hybrid tiny_vit_5m (convolutional stem) does, at 64x32 to stay cheap.
SPECS: dict[str, TaskSpec] = {
    # 128x64 is the size the generator writes ReID crops at; 8 ids x 4 images per batch.
    "reid": TaskSpec(
        "reid",
        1.0,
        "vit_micro",
        ("mAP", "rank1"),
        "frozen",
        32,
        300,
        ("model.img_size=[128,64]", "reid.erasing=0", "reid.picture_queries=0", "optim.lr=2e-3"),
    ),
    "attributes": TaskSpec(
        "attributes",
        10.0,
        "tiny_vit_5m",
        ("mA", "F1"),
        "linear",
        32,
        900,
        ("model.img_size=[64,32]", "attributes.erasing=0", "optim.lr=5e-4"),
    ),
    "pose": TaskSpec(
        "pose",
        4.0,
        "vit_micro",
        ("AP", "AP50", "AR50"),
        "frozen",
        16,
        3000,
        ("--config", str(CONFIGS / "pose_coco_cpu.yaml"), "pose.pictures=0", "optim.lr=2e-3"),
    ),
    # Limbs are what a random backbone cannot find; a from-scratch ViT needs about 6,000 steps and
    # a person 14 tokens tall to start separating them (2,000 steps at 192x192 left them at 0.01-0.04).
    "parsing": TaskSpec(
        "parsing",
        16.0,
        "vit_micro",
        ("mIoU", "pixel_acc"),
        "frozen",
        8,
        6000,
        (
            "--config",
            str(CONFIGS / "parsing_lip_cpu.yaml"),
            "model.img_size=[224,160]",  # the crops' aspect (about 0.65), so few tokens are padding
            "parsing.rotation=0",  # upright people; rotations slow a short from-scratch schedule
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
        f"model.backbone={args.backbone or spec.backbone}",
        "model.drop_path=0",
        "optim.layer_decay=1.0",
        "optim.warmup_epochs=0.5",
        f"train.total_steps={steps}",
        "train.num_workers=0",
        "train.eval_batch_size=64",
        "train.checkpoint_every=100000",
    ]


def run_eval(argv: list[str]) -> dict[str, float]:
    """One in-process `saip eval` (its --seed fixes the init); its metrics.json."""
    if saip_main(argv) != 0:
        raise RuntimeError(f"saip {shlex.join(argv)} failed")
    return json.loads((Path(argv[argv.index("--out") + 1]) / "metrics.json").read_text())


def per_class(task: str, run_dir: Path) -> dict[str, float]:
    """What the headline averages, from a run's folder: IoU per LIP class (parsing), mA per
    attribute (attributes); empty for the other tasks."""
    if task == "parsing":
        ious = json.loads((run_dir / "metrics.json").read_text())["per_class_iou"]
        return {name: iou for name, iou in zip(LIP_CLASSES, ious, strict=True) if iou is not None}
    if task == "attributes":
        saved = np.load(run_dir / "predictions.npz")
        scores, labels = saved["scores"], saved["labels"]
        return {
            str(name): attribute_metrics(scores[:, [i]], labels[:, [i]])["mA"]
            for i, name in enumerate(saved["attributes"])
        }
    return {}


def measure(task: str, work: Path, args: argparse.Namespace) -> tuple[list[dict], list[dict], list[str]]:
    """(metrics of the random-init run and of the trained run, their per-class scores, the two
    commands) for one task."""
    spec = SPECS[task]
    data = generate(
        spec.preset,
        work / "data" / task,
        seed=args.seed,
        workers=args.workers,
        limit=args.limit or None,
        scale=args.scale or spec.scale,
    )
    results, classes, commands = [], [], []
    for protocol in (spec.cheap, "finetune"):
        run_dir = work / "runs" / f"{task}_{protocol}"
        argv = eval_argv(task, protocol, data, run_dir, args)
        start = time.perf_counter()
        results.append(run_eval(argv))
        classes.append(per_class(task, run_dir))
        commands.append(f"saip {shlex.join(argv)}  # {time.perf_counter() - start:.0f} s")
    return results, classes, commands


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", choices=list(SPECS), default=list(SPECS))
    parser.add_argument(
        "--steps",
        type=int,
        default=0,
        help="training steps of each run (0: per task, see SPECS)",
    )
    parser.add_argument("--limit", type=int, default=0, help="cap on the images per split (0: none)")
    parser.add_argument("--scale", type=float, default=0, help="preset size multiple (0: per task)")
    parser.add_argument("--workers", type=int, default=2, help="processes that render the data")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--work", type=Path, help="keep data and run folders here (default: a temp folder)")
    parser.add_argument("--backbone", default="", help="one backbone for every task (default: per task)")
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
    print(
        f"\n{'task':<11}{'backbone':<13}{'metric':<10}{'random-init':>12}{'trained':>9}{'ratio':>7}{'diff':>8}"
    )
    for task, (random_init, trained), _, _ in rows:
        for metric in SPECS[task].metrics:
            a, b = float(random_init[metric]), float(trained[metric])
            ratio = f"{b / a:.1f}x" if a > 0 else ("inf" if b > 0 else "-")
            print(
                f"{task:<11}{args.backbone or SPECS[task].backbone:<13}{metric:<10}{a:>12.4f}{b:>9.4f}{ratio:>7}"
                f"{b - a:>+8.4f}"
            )
    print(
        f"\nrandom-init: cheap protocol; trained: --protocol finetune from --weights {args.init} (steps in the "
        f"commands); seed {args.seed}; total {time.perf_counter() - start:.0f} s"
    )
    for task, _, (random_init, trained), _ in rows:
        if random_init:
            print(f"\n{task} per class (random-init -> trained):")
            print("\n".join(f"  {name:<20}{a:.3f} -> {trained[name]:.3f}" for name, a in random_init.items()))
    for task, *_, commands in rows:
        print(f"\n{task}:\n" + "\n".join(f"  {c}" for c in commands))


if __name__ == "__main__":
    main()

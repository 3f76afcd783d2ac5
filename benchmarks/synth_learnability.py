"""Do the SynthHumans defaults leave room to learn? Random-init vs trained backbone, per task.

Usage:
    python benchmarks/synth_learnability.py [--tasks reid attributes pose parsing text detection
        multiparsing fashion] [--steps N]
        [--scale X] [--limit 0] [--device cpu] [--work DIR] [--backbone NAME] [--seeds 0 1] [--init none] [--reuse]
        [--overrides key=value ...] [--jobs 2 --threads 1]

For each task that has an evaluator, the preset is generated at default difficulty (`--scale`:
a multiple of the preset's default size, so that a from-scratch run has enough to learn from)
into the work folder, then two `saip eval` runs are scored on the same test split: (a) a
random-init backbone under the task's cheap protocol (reid: frozen, no training; attributes:
linear probe; pose and parsing: frozen backbone, head trained for the steps; text: frozen image
backbone, text side trained for the steps; detection, multiparsing, fashion: frozen backbone,
pyramid and detector heads trained for the steps), (b) the same init (or `--init` weights) fine-tuned end
to end for the steps, and (c) any extra fine-tuned arms of the task (text: a bag-of-words text
encoder in place of the transformer, same image side and losses). A task solved by random
features, or one whose labels cannot be learnt, shows no gap. Both runs of a task share every override; the
schedule length is the step count (`train.total_steps`), so a short run still warms up and
decays, and layer-wise lr decay is off (it protects pretrained early blocks; a random init has
none). `saip eval --seed N` seeds the init, so (a) and (b) start from identical weights. With
several `--seeds` (the data is generated once, with the first), each arm runs once per seed and the
table shows the means, the seed-to-seed spread (largest max - min of the two arms compared) and the
gap in units of that spread, signed so that positive means the trained arm is better (lower, for
the metrics marked "(lower)": detection's MR-2): a gap is clear when it is at least +3 spreads.
`--jobs 2 --threads 1` runs two arms at a time, each in its own process with one compute thread
(how the multi-seed figures in docs/synth.md were taken on 2 cores); the default runs them one
after another in this process.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from saip.cli import main as saip_main
from saip.synth import generate
from saip.tasks.attribute_metrics import attribute_metrics
from saip.tasks.dense.lip import LIP_CLASSES
from saip.tasks.instance.cihp import CIHP_CLASSES

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs" / "eval"


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
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (name, key=value) of more fine-tuned arms
    lower_better: tuple[str, ...] = ()  # metrics where less is better (detection's MR-2)


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
    # Captions against 64x32 crops (garment colours are what the captions name); the text side is a
    # 2-block transformer of width 64. Extra arm: a bag-of-words text encoder, same image side and
    # losses. 16x the preset (640 training identities): with 160 the pair memorised the training
    # people (R1 0.80 on them, chance on the test ones); lr 5e-4: at 2e-3 the loss fell only as the
    # schedule decayed (docs/synth.md).
    "text": TaskSpec(
        "text",
        16.0,
        "vit_micro",
        ("R1", "R10", "mAP"),
        "frozen",
        32,
        3000,
        (
            "--config",
            str(CONFIGS / "text_cpu.yaml"),
            "model.img_size=[64,32]",
            "text.picture_captions=0",
            "optim.lr=5e-4",
        ),
        extra=(("bag-of-words", ("text.encoder=bow",)),),
    ),
    # Crowded scenes resized to a 128-px short side: frozen random tokens under a trained pyramid,
    # RPN and box head against the same detector trained end to end. 8x the preset: at 4x the 48
    # test scenes left a seed-to-seed spread of 0.04 AP (docs/synth.md).
    "detection": TaskSpec(
        "detection",
        8.0,
        "vit_micro",
        ("AP", "MR-2", "JI"),
        "frozen",
        2,
        800,
        ("--config", str(CONFIGS / "detection_cpu.yaml"), "detection.pictures=0", "optim.lr=1e-3"),
        lower_better=("MR-2",),
    ),
    # Multiparsing and fashion: the detection recipe carried over, at a 256-px short side (at 128 px
    # people and garments are a few tokens tall). Multiparsing: 1,500 steps, 14 min an arm (+3.7
    # spreads; 1,200 gave +2.7, 600 +1.6; part_weight 3 or 10 moved nothing). Fashion: 8x the preset
    # (320 test images) and 1,800 steps, 13-14 min an arm; 4x and 1,500 steps ranked every seed
    # but left the attribute-aware headline at +0.9 spreads (docs/synth.md).
    "multiparsing": TaskSpec(
        "mhp",
        4.0,
        "vit_micro",
        ("mIoU", "APp50", "APr50"),
        "frozen",
        2,
        1500,
        (
            "--config",
            str(CONFIGS / "multiparsing_cpu.yaml"),
            "multiparsing.pictures=0",
            "optim.lr=1e-3",
            "multiparsing.detector.min_size=256",
            "multiparsing.detector.max_size=384",
            "multiparsing.detector.anchor_sizes=[16,32,64,128,256]",
        ),
    ),
    "fashion": TaskSpec(
        "fashion",
        8.0,
        "vit_micro",
        ("AP_iou_f1_mask", "AP_mask", "AP_box"),
        "frozen",
        2,
        1800,
        (
            "--config",
            str(CONFIGS / "fashion_cpu.yaml"),
            "fashion.pictures=0",
            "optim.lr=1e-3",
            "fashion.detector.min_size=256",
            "fashion.detector.max_size=384",
            "fashion.detector.anchor_sizes=[16,32,64,128,256]",
        ),
    ),
}


def eval_argv(
    task: str, protocol: str, data: Path, out: Path, args: argparse.Namespace, seed: int
) -> list[str]:
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
        str(seed),
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
        *args.overrides,
    ]


def run_saip(words: list[str], log_file: Path, threads: int) -> None:
    """`saip WORDS` in a subprocess with `threads` compute threads (output in `log_file`), or in
    this process when `threads` is 0 (tests: no interpreter start-up per run)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    if threads == 0:
        if saip_main(words) != 0:
            raise RuntimeError(f"saip {shlex.join(words)} failed")
        return
    argv = [sys.executable, "-m", "saip.cli", *words]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT)}
    with open(log_file, "w") as out:
        out.write(shlex.join(argv) + "\n")
        out.flush()
        done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} failed (exit {done.returncode}); see {log_file}")


def run_eval(argv: list[str], reuse: bool = False, threads: int = 0) -> dict[str, float]:
    """One `saip eval` (its --seed fixes the init; `threads`: as in `run_saip`); its metrics.json.
    With `reuse`, a run folder that already holds the metrics of exactly these words (`argv.json`)
    is read, not rerun: adding a seed to a finished study runs only the new seed's arms."""
    out = Path(argv[argv.index("--out") + 1])
    done = out / "argv.json"
    if reuse and done.is_file() and json.loads(done.read_text()) == argv and (out / "metrics.json").is_file():
        return json.loads((out / "metrics.json").read_text())
    run_saip(argv, out.with_suffix(".log"), threads)
    done.write_text(json.dumps(argv))
    return json.loads((out / "metrics.json").read_text())


def per_class(task: str, run_dir: Path) -> dict[str, float]:
    """What the headline averages, from a run's folder: IoU per LIP or CIHP class (parsing,
    multiparsing), mA per attribute (attributes); empty for the other tasks."""
    if task in ("parsing", "multiparsing"):
        ious = json.loads((run_dir / "metrics.json").read_text())["per_class_iou"]
        names = LIP_CLASSES if task == "parsing" else CIHP_CLASSES
        return {name: iou for name, iou in zip(names, ious, strict=True) if iou is not None}
    if task == "attributes":
        saved = np.load(run_dir / "predictions.npz")
        scores, labels = saved["scores"], saved["labels"]
        return {
            str(name): attribute_metrics(scores[:, [i]], labels[:, [i]])["mA"]
            for i, name in enumerate(saved["attributes"])
        }
    return {}


def arms(task: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """(name, protocol, extra key=value) of each arm: random-init, trained, then the task's extras."""
    spec = SPECS[task]
    return [
        ("random-init", spec.cheap, ()),
        ("trained", "finetune", ()),
        *((name, "finetune", extra) for name, extra in spec.extra),
    ]


def measure(
    task: str, work: Path, args: argparse.Namespace
) -> tuple[list[list[dict]], list[dict], list[str]]:
    """(metrics of each arm, one per seed; the random-init and trained per-class scores averaged over
    the seeds; the commands) for one task."""
    spec = SPECS[task]
    data = generate(
        spec.preset,
        work / "data" / task,
        seed=args.seeds[0],
        workers=args.workers,
        limit=args.limit or None,
        scale=args.scale or spec.scale,
    )
    task_arms = arms(task)
    planned = [
        (arm, work / "runs" / f"{task}_{name}_seed{seed}", seed, protocol, extra)
        for seed in args.seeds
        for arm, (name, protocol, extra) in enumerate(task_arms)
    ]
    argvs = [
        [*eval_argv(task, protocol, data, run_dir, args, seed), *extra]
        for _, run_dir, seed, protocol, extra in planned
    ]

    def timed(argv: list[str]) -> tuple[dict[str, float], float]:
        start = time.perf_counter()
        return run_eval(argv, args.reuse, args.threads), time.perf_counter() - start

    with ThreadPoolExecutor(args.jobs if args.threads else 1) as pool:
        done = list(pool.map(timed, argvs))
    results: list[list[dict]] = [[] for _ in task_arms]
    classes: list[list[dict]] = [[] for _ in task_arms]
    commands = []
    for (arm, run_dir, *_), argv, (metrics, seconds) in zip(planned, argvs, done, strict=True):
        results[arm].append(metrics)
        classes[arm].append(per_class(task, run_dir))
        commands.append(f"saip {shlex.join(argv)}  # {seconds:.0f} s")
    mean_classes = [
        {name: float(np.mean([c[name] for c in runs])) for name in runs[0]} for runs in classes[:2]
    ]
    return results, mean_classes, commands


def gap_row(
    base: list[dict], other: list[dict], metric: str, lower_better: bool = False
) -> tuple[float, float, float, str]:
    """(mean of `base`, mean of `other`, seed-to-seed spread, gap / spread) of one metric; the gap is
    signed so that positive means `other` is better, whichever way the metric points."""
    a, b = (np.array([float(r[metric]) for r in runs]) for runs in (base, other))
    spread = max(float(np.ptp(a)), float(np.ptp(b)))
    gain = float(a.mean() - b.mean()) if lower_better else float(b.mean() - a.mean())
    if len(a) < 2:
        in_spreads = "-"
    elif spread > 0:
        in_spreads = f"{gain / spread:+.1f}"
    else:
        in_spreads = "-" if gain == 0 else ("+inf" if gain > 0 else "-inf")
    return float(a.mean()), float(b.mean()), spread, in_spreads


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
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="init seeds; >= 2 give the spread")
    parser.add_argument(
        "--init",
        default="none",
        help="weights the fine-tuned arm starts from (e.g. a saip pretraining run; default: random)",
    )
    parser.add_argument(
        "--reuse", action="store_true", help="read runs under --work already done with the same words"
    )
    parser.add_argument(
        "--overrides", nargs="*", default=[], help="key=value for every run (after the task's own)"
    )
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (with --threads > 0)")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="compute threads per run, each in its own process (0: runs in this process, one at a time)",
    )
    args = parser.parse_args()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        rows = [(task, *measure(task, work, args)) for task in args.tasks]
    print(
        f"\n{'task':<13}{'backbone':<13}{'metric':<16}{'random-init':>12}{'trained':>9}{'ratio':>7}{'diff':>8}"
        f"{'spread':>8}{'gain/spread':>12}"
    )
    for task, results, _, _ in rows:
        names = [name for name, _, _ in arms(task)]
        for arm in range(1, len(results)):
            label = task if arm == 1 else f"{task} {names[arm]}"
            for metric in SPECS[task].metrics:
                lower = metric in SPECS[task].lower_better
                a, b, spread, in_spreads = gap_row(results[0], results[arm], metric, lower)
                ratio = f"{b / a:.1f}x" if a > 0 else ("inf" if b > 0 else "-")
                name = f"{metric} (lower)" if lower else metric
                print(
                    f"{label:<13}{args.backbone or SPECS[task].backbone:<13}{name:<16}{a:>12.4f}{b:>9.4f}"
                    f"{ratio:>7}{b - a:>+8.4f}{spread:>8.4f}{in_spreads:>12}"
                )
        for arm in range(2, len(results)):
            for metric in SPECS[task].metrics:
                lower = metric in SPECS[task].lower_better
                a, b, spread, in_spreads = gap_row(results[arm], results[1], metric, lower)
                print(
                    f"{task}: trained - {names[arm]} {metric} {b - a:+.4f} (spread {spread:.4f}, {in_spreads} spreads)"
                )
    print(
        f"\nrandom-init: cheap protocol; trained: --protocol finetune from --weights {args.init} (steps in the "
        f"commands); means over seeds {args.seeds}; gain/spread > 0: trained better (for a '(lower)' "
        f"metric, lower); total {time.perf_counter() - start:.0f} s"
    )
    for task, _, (random_init, trained), _ in rows:
        if random_init:
            print(f"\n{task} per class (random-init -> trained):")
            print("\n".join(f"  {name:<20}{a:.3f} -> {trained[name]:.3f}" for name, a in random_init.items()))
    for task, *_, commands in rows:
        print(f"\n{task}:\n" + "\n".join(f"  {c}" for c in commands))


if __name__ == "__main__":
    main()

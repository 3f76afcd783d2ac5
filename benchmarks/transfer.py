"""Does SAIP pretraining transfer to real people? Every arm at one step budget, in one table.

Usage:
    python benchmarks/transfer.py [--minutes 60] [--ablation-minutes 20] [--seeds 3]
        [--config configs/transfer_cpu.yaml] [--data ../shared/data/pku-reid] [--work runs/transfer]
        [--arms random pixels histogram saip csm csr css] [--full-arms saip csm] [--finetune-seeds 2]
        [--synth-tasks attributes pose parsing] [--synth-steps 600] [--jobs 2] [--threads 1]
        [--split test|tuning]

1. Budget: `--minutes` is wall minutes per pretraining arm on this machine. The full SAIP step of
   `--config` is timed once (a few steps of a real run, with `--threads` threads), and the budget
   becomes an optimizer-step count that every `--full-arms` arm runs with `--seeds` seeds (the
   other model arms: `--ablation-minutes`, one seed). Each arm's run directory records its steps
   and seconds.
2. Arms: `random` (untrained backbones, one per seed), `pixels` (32x16 antialiased RGB, flattened,
   L2-normalised, cosine) and `histogram` (8x8x8 RGB, square-root normalised, cosine), which need
   no model; `saip` (all objectives), `csm`, `csr` (close to MAE), `css` and `csr_masked_cls` (the
   research code's extra CSR decoder input), pretrained on `DATA/bounding_box_train` with the
   config's settings and explicit `enabled` flags (`configs/transfer_cpu.yaml` itself is CSM only).
3. Evaluation of each model arm, all on pku-reid's `query` vs `bounding_box_test` with the
   Market-1501 protocol: the frozen network's final class token (`cls`, the exported embedding)
   and its intermediate tap (`mid`, where CSR and CSS train), cosine, no flip; a short fine-tune
   with `configs/eval/reid_pku_finetune_cpu.yaml` (the same for every arm, `--finetune-seeds`
   seeds at least); the synthetic attribute, pose and parsing tasks of `synth_learnability.py` with
   the arm's backbone, under their cheap protocol (linear probe / frozen backbone), at equal steps.
4. `--split tuning` (choose settings here, never on the test split): `--held-out` identities of
   `DATA/bounding_box_train`, drawn with a fixed seed, leave pretraining and the fine-tune's
   training set; their camera-1 images are the queries, their other cameras' the gallery. The
   split is written in the Market-1501 layout to `--work/tuning-data`, and every step above runs on
   it unchanged; pku-reid's `query`/`bounding_box_test` are not read.
5. Output in `--work`: `transfer.md` (mean over seeds, 95 % bootstrap-over-queries interval),
   `transfer.json`, `transfer.png` (bar chart), `arms/<arm>_s<seed>/` (one pretraining run
   directory each), `finetune/`, `synth/`. Finished pieces are reused when the command is run
   again with the same budget, so arms can be added later.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from saip.export.weights import load_backbone
from saip.models.backbone import Backbone, create_backbone
from saip.tasks.data.reid_sets import ReidList, read_market1501
from saip.tasks.data.transforms import eval_transform
from saip.tasks.retrieval_metrics import cosine_distance, per_query_metrics

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synth_learnability import SPECS, eval_argv, run_saip  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# Synthetic tasks on single-person crops run at the arm's own input size; pose and parsing keep
# their specs' sizes (the crops' own aspect).
OWN_SIZE_TASKS = {"attributes"}
log = logging.getLogger("transfer")


@dataclass(frozen=True)
class Arm:
    """One row of the table: how its features are made."""

    kind: str  # "model" (pretrained), "random" (untrained backbone) or "pixels" / "histogram"
    overrides: tuple[str, ...] = ()


def _objectives(csm: bool, csr: bool, css: bool) -> tuple[str, ...]:
    """Explicit `enabled` flags, so an arm means the same whatever `--config` enables."""
    return (
        f"csm.enabled={str(csm).lower()}",
        f"csr.enabled={str(csr).lower()}",
        f"css.enabled={str(css).lower()}",
    )


ARMS: dict[str, Arm] = {
    "random": Arm("random"),
    "pixels": Arm("pixels"),
    "histogram": Arm("histogram"),
    "saip": Arm("model", _objectives(True, True, True)),
    "csm": Arm("model", _objectives(True, False, False)),
    "csr": Arm("model", _objectives(False, True, False)),
    "css": Arm("model", _objectives(False, False, True)),
    "csr_masked_cls": Arm("model", (*_objectives(True, True, True), "csr.masked_cls=true")),
}


def pretrain_argv(
    args: argparse.Namespace, out: Path, steps: int, seed: int, overrides: tuple[str, ...]
) -> list[str]:
    return [
        "pretrain",
        "--config",
        str(args.config),
        "--data",
        str(args.data / "bounding_box_train"),
        "--out",
        str(out),
        "--seed",
        str(seed),
        "--max-steps",
        str(steps),
        f"train.total_steps={steps}",
        "train.probe_data=''",
        f"model.backbone={args.backbone}",  # the arm's backbone is the study's, not the config's
        f"model.img_size=[{args.img_size[0]},{args.img_size[1]}]",
        *args.pretrain_overrides,
        *overrides,
    ]


def seconds_per_step(args: argparse.Namespace) -> float:
    """Median wall seconds of the full SAIP step of `--config` on this machine (steps 3.. of a short run)."""
    out = args.work / "calibration"
    steps = 8
    run_saip(
        pretrain_argv(
            args, out, steps, 0, (*ARMS["saip"].overrides, "train.log_every=1", "train.picture_every=100000")
        ),
        out.with_suffix(".log"),
        args.threads,
    )
    import yaml

    batch = int(yaml.safe_load((out / "config.yaml").read_text())["train"]["batch_size"])
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return float(np.median([batch / r["img_per_s"] for r in records if r["step"] > 2 and "img_per_s" in r]))


def machine() -> str:
    """The machine in words, for the table's caption."""
    import platform

    cores = len(os.sched_getaffinity(0))
    gpu = f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU"
    return f"{cores}-core {platform.machine()} CPU{gpu}, torch {torch.__version__}"


# ---------------------------------------------------------------- features and scores


def _images(items: ReidList, size: tuple[int, int]) -> torch.Tensor:
    transform = eval_transform(size)
    return torch.stack([transform(Image.open(p).convert("RGB")) for p in items.paths])


@torch.no_grad()
def backbone_features(backbone: Backbone, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Final class token (`cls`, the exported embedding) and intermediate-tap class token (`mid`)."""
    backbone.eval()
    cls, mid = [], []
    for chunk in images.split(64):
        taps = backbone.forward_taps(chunk, mid=True)
        cls.append(taps.cls)
        mid.append(taps.mid_cls)
    return {"cls": torch.cat(cls), "mid": torch.cat(mid)}


def pixel_features(items: ReidList) -> torch.Tensor:
    """32x16 antialiased RGB, flattened (cosine distance normalises)."""
    rows = [
        np.asarray(Image.open(p).convert("RGB").resize((16, 32), Image.Resampling.LANCZOS), dtype=np.float32)
        for p in items.paths
    ]
    return torch.from_numpy(np.stack(rows).reshape(len(rows), -1))


def histogram_features(items: ReidList) -> torch.Tensor:
    """8x8x8 RGB histogram, square-root normalised."""
    rows = []
    for p in items.paths:
        bins = np.asarray(Image.open(p).convert("RGB")).reshape(-1, 3) // 32
        counts = np.bincount(bins[:, 0] * 64 + bins[:, 1] * 8 + bins[:, 2], minlength=512).astype(np.float32)
        rows.append(np.sqrt(counts / counts.sum()))
    return torch.from_numpy(np.stack(rows))


def tuning_split(data: Path, out: Path, held_out: int, seed: int = 0) -> Path:
    """A Market-1501 copy of `data/bounding_box_train` in which `held_out` identities (a seeded draw)
    become query (camera 1) and gallery (the other cameras); the rest stay the training set."""
    train = read_market1501(data, splits=("train",))["train"]
    ids = np.unique(train.pids)
    if not 0 < held_out < len(ids):
        raise ValueError(f"--held-out must be in 1..{len(ids) - 1} ({len(ids)} identities), got {held_out}")
    chosen = set(np.random.default_rng(seed).choice(ids, size=held_out, replace=False).tolist())
    marker = out / "held_out.json"
    if marker.is_file() and json.loads(marker.read_text()) == sorted(chosen):
        return out
    for folder in ("bounding_box_train", "query", "bounding_box_test"):
        (out / folder).mkdir(parents=True, exist_ok=True)
        for old in (out / folder).iterdir():
            old.unlink()
    for path, pid, cam in zip(train.paths, train.pids, train.camids, strict=True):
        folder = "bounding_box_train" if pid not in chosen else "query" if cam == 0 else "bounding_box_test"
        shutil.copyfile(path, out / folder / Path(path).name)
    marker.write_text(json.dumps(sorted(chosen)) + "\n")
    return out


class Split:
    """The evaluation's query and gallery, read once."""

    def __init__(self, data: Path) -> None:
        sets = read_market1501(data, splits=("query", "gallery"))
        self.query, self.gallery = sets["query"], sets["gallery"]

    def ap(self, query: torch.Tensor, gallery: torch.Tensor) -> np.ndarray:
        """Per-query average precision (the queries with a valid match, always the same ones)."""
        dist = cosine_distance(query, gallery)
        q, g = self.query, self.gallery
        return per_query_metrics(dist, q.pids, g.pids, q.camids, g.camids)["AP"]


def bootstrap(ap: np.ndarray, rounds: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Mean and 95 % interval of the mean over seeds and queries, resampling queries ([S, Q] input)."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, ap.shape[1], size=(rounds, ap.shape[1]))
    means = ap[:, picks].mean(axis=(0, 2))
    low, high = np.percentile(means, [2.5, 97.5])
    return float(ap.mean()), float(low), float(high)


# ---------------------------------------------------------------- the study


class Study:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.split = Split(args.data)
        self.size = tuple(args.img_size)
        self.q_images = _images(self.split.query, self.size)
        self.g_images = _images(self.split.gallery, self.size)
        self.results: dict[str, dict[str, Any]] = {}

    def seeds(self, name: str) -> list[int]:
        if ARMS[name].kind in ("pixels", "histogram"):
            return [0]
        return list(range(self.args.seeds)) if self.full(name) else [0]

    def full(self, name: str) -> bool:
        """Headline arms (and random init) get `--seeds` seeds and `--minutes`; ablations one seed."""
        return name in self.args.full_arms or ARMS[name].kind == "random"

    def weights(self, name: str, seed: int) -> str:
        return "none" if ARMS[name].kind == "random" else str(self.args.work / "arms" / f"{name}_s{seed}")

    def backbone(self, name: str, seed: int) -> Backbone:
        if ARMS[name].kind == "random":
            torch.manual_seed(seed)
            return create_backbone(self.args.backbone, self.size)
        return load_backbone(self.weights(name, seed), img_size=self.size)

    def pretrain(self, names: list[str], steps: dict[str, int]) -> None:
        """Every pretraining run not already finished with this budget, `--jobs` at a time."""
        jobs = []
        for name in names:
            for seed in self.seeds(name):
                out = self.args.work / "arms" / f"{name}_s{seed}"
                summary = out / "summary.json"
                if summary.is_file() and json.loads(summary.read_text())["steps"] == steps[name]:
                    continue
                argv = pretrain_argv(self.args, out, steps[name], seed, ARMS[name].overrides)
                jobs.append((argv, out.with_suffix(".log")))
        self._parallel(jobs)

    def _parallel(self, jobs: list[tuple[list[str], Path]]) -> None:
        with ThreadPoolExecutor(self.args.jobs if self.args.threads else 1) as pool:
            for done in pool.map(lambda job: run_saip(*job, self.args.threads), jobs):
                del done

    def frozen(self, name: str) -> dict[str, Any]:
        arm = ARMS[name]
        if arm.kind in ("pixels", "histogram"):
            make = pixel_features if arm.kind == "pixels" else histogram_features
            return {"cls": self.split.ap(make(self.split.query), make(self.split.gallery))[None]}
        per_seed: dict[str, list[np.ndarray]] = {"cls": [], "mid": []}
        for seed in self.seeds(name):
            backbone = self.backbone(name, seed)
            q, g = backbone_features(backbone, self.q_images), backbone_features(backbone, self.g_images)
            for tap in per_seed:
                per_seed[tap].append(self.split.ap(q[tap], g[tap]))
        return {tap: np.stack(v) for tap, v in per_seed.items()}

    def finetune(self, names: list[str]) -> dict[str, np.ndarray]:
        """Per-query AP [runs, Q] of each arm after the named fine-tune, seeds as the arm's (at least
        `--finetune-seeds`)."""
        runs: dict[str, list[Path]] = {}
        jobs = []
        for name in names:
            seeds = self.seeds(name)
            seeds = seeds + list(
                range(max(seeds) + 1, max(seeds) + 1 + self.args.finetune_seeds - len(seeds))
            )
            for k, seed in enumerate(seeds):
                pretrained = self.seeds(name)[min(k, len(self.seeds(name)) - 1)]
                out = self.args.work / "finetune" / f"{name}_s{pretrained}_f{seed}"
                runs.setdefault(name, []).append(out)
                if (out / "features.npz").is_file() and (out / "metrics.json").is_file():
                    continue
                argv = [
                    "eval",
                    "reid",
                    "--config",
                    str(self.args.finetune_config),
                    "--data",
                    str(self.args.data),
                    "--weights",
                    self.weights(name, pretrained),
                    "--seed",
                    str(seed),
                    "--out",
                    str(out),
                    f"model.backbone={self.args.backbone}",
                    f"model.img_size=[{self.size[0]},{self.size[1]}]",
                    "reid.save_features=true",
                    "reid.picture_queries=0",
                    *self.args.finetune_overrides,
                ]
                jobs.append((argv, out.with_suffix(".log")))
        self._parallel(jobs)
        result = {}
        for name, outs in runs.items():
            aps = []
            for out in outs:
                saved = np.load(out / "features.npz")
                aps.append(
                    self.split.ap(
                        torch.from_numpy(saved["query_feats"]), torch.from_numpy(saved["gallery_feats"])
                    )
                )
            result[name] = np.stack(aps)
        return result

    def synthetic(self, names: list[str]) -> dict[str, dict[str, float]]:
        """Headline metric of each synthetic task per arm (its first seed), cheap protocol, equal steps."""
        from saip.synth import generate

        jobs, outs = [], {}
        for task in self.args.synth_tasks:
            spec = SPECS[task]
            data = generate(spec.preset, self.args.work / "data" / task, seed=0, workers=2, scale=spec.scale)
            for name in names:
                seed = self.seeds(name)[0]
                out = self.args.work / "synth" / f"{task}_{name}_s{seed}"
                outs[(task, name)] = out
                if (out / "metrics.json").is_file():
                    continue
                ns = argparse.Namespace(
                    steps=self.args.synth_steps,
                    init="none",
                    device="cpu",
                    backbone=self.args.backbone,
                    overrides=[],
                )
                argv = eval_argv(task, spec.cheap, data, out, ns, seed)
                argv[argv.index("--weights") + 1] = self.weights(name, seed)
                if task in OWN_SIZE_TASKS:  # person crops: the arm's own input size
                    argv.append(f"model.img_size=[{self.size[0]},{self.size[1]}]")
                jobs.append((argv, out.with_suffix(".log")))
        self._parallel(jobs)
        table: dict[str, dict[str, float]] = {}
        for (task, name), out in outs.items():
            metric = SPECS[task].metrics[0]
            table.setdefault(name, {})[f"{task}_{metric}"] = json.loads((out / "metrics.json").read_text())[
                metric
            ]
        return table


def _summary_row(aps: np.ndarray) -> dict[str, float]:
    mean, low, high = bootstrap(aps)
    per_run = [round(float(x), 4) for x in aps.mean(axis=1)]
    return {"mAP": mean, "low": low, "high": high, "runs": int(aps.shape[0]), "per_run": per_run}


def write_outputs(work: Path, table: dict[str, dict[str, Any]], meta: dict[str, Any]) -> None:
    (work / "transfer.json").write_text(json.dumps({"meta": meta, "arms": table}, indent=2) + "\n")
    columns = [("frozen_cls", "frozen cls"), ("frozen_mid", "frozen mid tap"), ("finetune", "fine-tuned")]
    synth = sorted({k for row in table.values() for k in row.get("synthetic", {})})
    lines = [
        "| arm | steps | seconds | "
        + " | ".join(c for _, c in columns)
        + "".join(f" | {s}" for s in synth)
        + " |",
        "|---|---|---|" + "---|" * (len(columns) + len(synth)),
    ]
    for name, row in table.items():
        cells = [name, str(row.get("steps", "-")), str(row.get("seconds", "-"))]
        for key, _ in columns:
            r = row.get(key)
            cells.append(f"{r['mAP']:.3f} [{r['low']:.3f}, {r['high']:.3f}] (n={r['runs']})" if r else "-")
        cells += [f"{row['synthetic'][s]:.3f}" if s in row.get("synthetic", {}) else "-" for s in synth]
        lines.append("| " + " | ".join(cells) + " |")
    per_run = [
        f"- {name}, {label}: " + " / ".join(f"{x:.3f}" for x in row[key]["per_run"])
        for name, row in table.items()
        for key, label in columns
        if key in row and row[key]["runs"] > 1
    ]
    text = "\n".join(
        [
            "# Transfer study",
            "",
            f"`{meta['command']}`",
            "",
            f"Machine: {meta['machine']}. {_budget(meta)} mAP on {meta['split']} "
            "(Market-1501 protocol), mean over runs, [95 % bootstrap-over-queries interval], n runs.",
            "",
            *lines,
            "",
            "mAP of each run (seeds in order):",
            "",
            *per_run,
            "",
        ]
    )
    (work / "transfer.md").write_text(text)
    _bar_chart(work / "transfer.png", table, columns)


def _budget(meta: dict[str, Any]) -> str:
    if not meta["seconds_per_step"]:  # --steps: no timing
        return f"Budget: {meta['steps']} steps per arm (--steps)."
    return (
        f"Budget: {meta['minutes']} min per arm = {meta['steps']} steps ({meta['seconds_per_step']:.2f} s "
        f"per full SAIP step); ablations {meta['ablation_minutes']} min = {meta['ablation_steps']} steps."
    )


def _bar_chart(path: Path, table: dict[str, dict[str, Any]], columns: list[tuple[str, str]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(table)
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(names)), 4))
    width = 0.8 / len(columns)
    for k, (key, label) in enumerate(columns):
        xs, ys, errs = [], [], []
        for i, name in enumerate(names):
            r = table[name].get(key)
            if r:
                xs.append(i + (k - (len(columns) - 1) / 2) * width)
                ys.append(r["mAP"])
                errs.append([r["mAP"] - r["low"], r["high"] - r["mAP"]])
        if xs:
            ax.bar(xs, ys, width, yerr=np.array(errs).T, capsize=2, label=label)
    ax.set_xticks(range(len(names)), names, rotation=20)
    ax.set_ylabel("mAP")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0, help="wall minutes per pretraining arm")
    parser.add_argument("--ablation-minutes", type=float, default=20.0)
    parser.add_argument("--seeds", type=int, default=3, help="seeds of random and the --full-arms")
    parser.add_argument(
        "--full-arms",
        nargs="*",
        default=["saip", "csm"],
        help="model arms at --minutes and --seeds; the others are ablations (--ablation-minutes, one seed)",
    )
    parser.add_argument("--finetune-seeds", type=int, default=2, help="fine-tunes per arm, at least")
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "transfer_cpu.yaml")
    parser.add_argument(
        "--finetune-config", type=Path, default=ROOT / "configs" / "eval" / "reid_pku_finetune_cpu.yaml"
    )
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "pku-reid")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "transfer")
    parser.add_argument(
        "--arms",
        nargs="+",
        choices=list(ARMS),
        default=["random", "pixels", "histogram", "saip", "csm", "csr", "css"],
    )
    parser.add_argument(
        "--synth-tasks",
        nargs="*",
        choices=["attributes", "pose", "parsing"],
        default=["attributes", "pose", "parsing"],
    )
    parser.add_argument("--synth-steps", type=int, default=600)
    parser.add_argument("--backbone", default="vit_tiny")
    parser.add_argument(
        "--img-size", type=int, nargs=2, default=[128, 64], help="the config's model.img_size"
    )
    parser.add_argument(
        "--split",
        choices=["test", "tuning"],
        default="test",
        help="test: pku-reid's query/bounding_box_test; tuning: identities held out of bounding_box_train",
    )
    parser.add_argument("--held-out", type=int, default=10, help="identities held out by --split tuning")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="compute threads per run (0: runs in this process, one at a time)",
    )
    parser.add_argument("--steps", type=int, default=0, help="skip the timing: this many steps per arm")
    parser.add_argument(
        "--pretrain-overrides", nargs="*", default=[], help="key=value for every pretraining run"
    )
    parser.add_argument("--finetune-overrides", nargs="*", default=[], help="key=value for every fine-tune")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    args.work.mkdir(parents=True, exist_ok=True)
    split_name = "pku-reid query vs bounding_box_test"
    if args.split == "tuning":
        args.data = tuning_split(args.data, args.work / "tuning-data", args.held_out)
        split_name = f"the tuning split ({args.held_out} identities held out of bounding_box_train)"
    start = time.perf_counter()
    per_step = seconds_per_step(args) if not args.steps else 0.0
    steps = args.steps or max(1, round(args.minutes * 60 / per_step))
    ablation_steps = args.steps or max(1, round(args.ablation_minutes * 60 / per_step))
    log.info(
        "budget: %d steps per arm, %d per ablation arm (%.2f s per step)", steps, ablation_steps, per_step
    )
    study = Study(args)
    model_arms = [n for n in args.arms if ARMS[n].kind in ("model", "random")]
    pretrained = [n for n in args.arms if ARMS[n].kind == "model"]
    study.pretrain(pretrained, {n: steps if study.full(n) else ablation_steps for n in pretrained})
    table: dict[str, dict[str, Any]] = {}
    for name in args.arms:
        row: dict[str, Any] = {}
        if ARMS[name].kind == "model":
            summaries = [
                json.loads((Path(study.weights(name, s)) / "summary.json").read_text())
                for s in study.seeds(name)
            ]
            row["steps"] = summaries[0]["steps"]
            row["seconds"] = round(float(np.mean([s["wall_time_s"] for s in summaries])))
        frozen = study.frozen(name)
        row["frozen_cls"] = _summary_row(frozen["cls"])
        if "mid" in frozen:
            row["frozen_mid"] = _summary_row(frozen["mid"])
        table[name] = row
        log.info(
            "%s frozen: %s", name, {k: round(v["mAP"], 4) for k, v in row.items() if isinstance(v, dict)}
        )
    if args.finetune_seeds > 0:
        for name, aps in study.finetune(model_arms).items():
            table[name]["finetune"] = _summary_row(aps)
    if args.synth_tasks:
        for name, scores in study.synthetic(model_arms).items():
            table[name]["synthetic"] = scores
    meta = {
        "command": "python benchmarks/transfer.py " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "split": split_name,
        "minutes": args.minutes,
        "ablation_minutes": args.ablation_minutes,
        "steps": steps,
        "ablation_steps": ablation_steps,
        "seconds_per_step": per_step,
        "wall_time_s": round(time.perf_counter() - start),
    }
    write_outputs(args.work, table, meta)
    print((args.work / "transfer.md").read_text())
    return table


if __name__ == "__main__":
    main()

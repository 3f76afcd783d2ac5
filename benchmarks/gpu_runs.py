"""The numbers of `benchmarks/gpu_check.sh`, read off its run directories (one subcommand per use).

Kept out of the shell script so that each step's figures come from the files saip writes
(`log.jsonl`, `summary.json`, `metrics.json`), and so that the four frozen ReID evaluations of
step d share one interpreter (each `saip eval` process would spend seconds importing torch).

    python benchmarks/gpu_runs.py throughput RUN               # JSON: steady img/s of a pretraining run
    python benchmarks/gpu_runs.py plan --img-per-s X --seconds S --images-per-step N --epoch-images E
    python benchmarks/gpu_runs.py reid --run RUN --data ROOT --work DIR --out T.md --json T.json [key=value]
    python benchmarks/gpu_runs.py summary --work DIR --out summary.json
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import Any


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def throughput(run: Path) -> dict[str, Any]:
    """Steady img/s: the median of the logged windows after the first (which holds start-up,
    kernel selection and the loader's first batches); the whole run's mean beside it."""
    rows = [r for r in read_jsonl(run / "log.jsonl") if "img_per_s" in r]
    result: dict[str, Any] = {"run": str(run), "log_rows": len(rows)}
    if rows:
        steady = rows[1:] or rows
        result |= {
            "steps": rows[-1]["step"],
            "img_per_s": statistics.median(r["img_per_s"] for r in steady),
            "img_per_s_first_window": rows[0]["img_per_s"],
        }
    summary = run / "summary.json"
    if summary.is_file():
        totals = json.loads(summary.read_text())
        result["img_per_s_whole_run"] = totals["images_seen"] / max(totals["wall_time_s"], 1e-9)
        result["images_skipped"] = totals["images_skipped"]
    return result


def plan(img_per_s: float, seconds: float, images_per_step: int, epoch_images: int) -> dict[str, Any]:
    """Optimizer steps that fill `seconds` at `img_per_s`, and the schedule around them: 10 %
    warm-up (in epochs, as the config counts it), five checkpoints, four probes."""
    steps = max(4, int(img_per_s * seconds / images_per_step))
    steps_per_epoch = max(1, epoch_images // images_per_step)
    return {
        "steps": steps,
        "warmup_epochs": round(0.1 * steps / steps_per_epoch, 4),
        "checkpoint_every": max(1, steps // 5),
        "probe_every": max(1, steps // 4),
    }


def pretrained_weights(run: Path) -> Path | None:
    """The run's export when it finished, else its last checkpoint (a run stopped at its time box)."""
    if (run / "export" / "model.safetensors").is_file():
        return run
    last = run / "checkpoints" / "last.pt"
    return last if last.is_file() else None


def checkpoint_step(run: Path) -> str:
    """Which step `last.pt` holds, from the step files beside it (the newest is its twin)."""
    steps = sorted(int(p.stem.split("_")[1]) for p in (run / "checkpoints").glob("step_*.pt"))
    return f"checkpoint of step {steps[-1]}" if steps else "last checkpoint"


def reid_table(args: argparse.Namespace) -> dict[str, Any]:
    """Frozen ReID (`saip eval reid --protocol frozen`) of the run and of untrained backbones."""
    from saip.api import evaluate

    arms: list[tuple[str, str, str, int]] = []  # (label, folder, weights, seed)
    weights = pretrained_weights(args.run)
    if weights is not None:
        label = (
            "SAIP, the finished run"
            if weights == args.run
            else f"SAIP, {checkpoint_step(args.run)} (time box)"
        )
        arms.append((label, "saip", str(weights), 0))
    arms += [(f"random init, seed {s}", "random", "none", s) for s in args.random_seeds]
    rows = []
    for label, folder, w, seed in arms:
        try:
            metrics = evaluate(
                "reid",
                w,
                args.data,
                args.overrides,
                config=args.config,
                protocol="frozen",
                device=args.device,
                seed=seed,
                out=args.work / f"{folder}_s{seed}",
            )
        except Exception as err:  # one arm failing must not hide the others
            rows.append({"arm": label, "weights": w, "error": f"{type(err).__name__}: {err}"})
            continue
        rows.append(
            {"arm": label, "weights": w, **{k: metrics[k] for k in ("mAP", "rank1", "rank5", "mINP")}}
        )
    run_summary = args.run / "summary.json"
    result = {
        "rows": rows,
        "pretraining": json.loads(run_summary.read_text()) if run_summary.is_file() else None,
        "probe": [r for r in read_jsonl(args.run / "log.jsonl") if "probe_mAP" in r],
        "config": args.config,
        "overrides": args.overrides,
    }
    args.out.write_text(markdown(result))
    args.json.write_text(json.dumps(result, indent=1))
    print(markdown(result))
    return result


def markdown(result: dict[str, Any]) -> str:
    lines = ["| weights | mAP | rank-1 | rank-5 | mINP |", "|---|---|---|---|---|"]
    for r in result["rows"]:
        cells = (
            [f"{r[k]:.4f}" for k in ("mAP", "rank1", "rank5", "mINP")]
            if "mAP" in r
            else [r["error"], "", "", ""]
        )
        lines.append(f"| {r['arm']} | " + " | ".join(cells) + " |")
    random = [r["mAP"] for r in result["rows"] if r["arm"].startswith("random") and "mAP" in r]
    trained = [r["mAP"] for r in result["rows"] if r["arm"].startswith("SAIP") and "mAP" in r]
    if random and trained:
        mean = statistics.mean(random)
        lines.append(
            f"\nSAIP / mean random init mAP: {trained[0] / mean:.2f}x ({trained[0]:.4f} / {mean:.4f})"
        )
    pre = result["pretraining"]
    if pre:
        lines.append(
            f"\nPretraining: {pre['steps']} steps, {pre['images_seen']} images, {pre['wall_time_s']:.0f} s of steps."
        )
    else:
        lines.append("\nPretraining stopped at its time box (no summary.json).")
    if result["probe"]:
        curve = ", ".join(f"{r['probe_mAP']:.4f} at step {r['step']}" for r in result["probe"])
        lines.append(f"Online probe (pku-reid test split, frozen, no flip) mAP: {curve}.")
    lines.append(f"\nEval config {result['config']}, overrides {' '.join(result['overrides']) or 'none'}")
    return "\n".join(lines) + "\n"


def summary(work: Path) -> dict[str, Any]:
    """Every step's exit status and seconds with its figures, for `$OUT/summary.json`."""
    steps = {r["step"]: r for r in read_jsonl(work / "steps.jsonl")}
    result: dict[str, Any] = {"steps": steps}
    result["b_pretrain_step"] = read_jsonl(work / "b.jsonl")
    for name in ("c", "d"):
        if (work / name).is_dir():
            result[f"{name}_throughput"] = throughput(work / name)
    item8 = work / "d_item8.json"
    if item8.is_file():
        result["d_item8"] = json.loads(item8.read_text())
    result["d_log"] = [
        {k: r[k] for k in ("step", "loss", "loss_csm", "loss_csr", "loss_css_inst", "img_per_s") if k in r}
        for r in read_jsonl(work / "d" / "log.jsonl")
    ]
    return result


def digest(result: dict[str, Any]) -> str:
    """The headline figures, for the end of the check's output (the device tool returns its tail)."""
    lines = [
        f"{r['step']}: rc {r['rc']}, {r['seconds']} s of {r['limit_s']}" for r in result["steps"].values()
    ]
    for row in result["b_pretrain_step"]:
        peak = row["peak_mem_gib"]
        lines.append(
            f"b: batch {row['batch']} {row['img_per_s']:.1f} img/s, {row['ratio_median']:.2f}x {row['baseline']}, "
            f"MFU {row['mfu']:.3f}, {row['gflop_per_img']:.3g} GFLOP/img, "
            f"peak {'-' if peak is None else f'{peak:.1f}'} GiB ({row['device']})"
        )
    for name in ("c", "d"):
        t = result.get(f"{name}_throughput", {})
        if "img_per_s" in t:
            lines.append(f"{name}: {t['img_per_s']:.1f} img/s steady over {t['steps']} steps from JPEGs")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("throughput")
    p.add_argument("run", type=Path)
    p = sub.add_parser("plan")
    p.add_argument("--img-per-s", type=float, required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--images-per-step", type=int, required=True)
    p.add_argument("--epoch-images", type=int, required=True)
    p = sub.add_parser("reid")
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="the markdown table")
    p.add_argument(
        "--json", type=Path, required=True, help="the table's numbers, the probe, the run's summary"
    )
    p.add_argument("--config", default="configs/eval/reid_market1501_frozen.yaml")
    p.add_argument("--device", default="cuda")
    p.add_argument("--random-seeds", type=int, nargs="*", default=[0, 1, 2])
    p.add_argument("overrides", nargs="*", help="key=value for every evaluation")
    p = sub.add_parser("summary")
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "throughput":
        print(json.dumps(throughput(args.run)))
    elif args.command == "plan":
        print(json.dumps(plan(args.img_per_s, args.seconds, args.images_per_step, args.epoch_images)))
    elif args.command == "reid":
        reid_table(args)
    else:
        result = summary(args.work)
        args.out.write_text(json.dumps(result, indent=1))
        print(digest(result))


if __name__ == "__main__":
    main()

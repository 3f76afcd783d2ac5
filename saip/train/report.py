"""`report.md` in the run directory: loss curves, the latest pictures and the summary."""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from saip.train.rundir import RunDir  # noqa: E402
from saip.train.step import LOSS_KEYS  # noqa: E402

# Panels: (keys, title, log scale). Losses span 1e-4..10, hence the log axis; the teacher entropy
# (0..ln K) and the prototypes in use (1..K) get their own panels, with K as the reference.
PANELS = (
    (("loss", *LOSS_KEYS), "losses", True),
    (("teacher_entropy",), "teacher entropy (uniform: ln K, collapse: 0)", False),
    (("teacher_perplexity",), "prototypes in use (collapse: -> 1)", True),
    (("student_feature_std", "probe_mAP", "probe_rank1"), "feature std (collapse: -> 0), probe", False),
)


def _reference_lines(records: list[dict], prototypes: int | None) -> dict[str, list[tuple[float, str]]]:
    """Horizontal lines per panel key: ln K and K, and the probe's random-init mAP."""
    lines: dict[str, list[tuple[float, str]]] = {}
    if prototypes:
        lines["teacher_entropy"] = [(math.log(prototypes), f"ln K = {math.log(prototypes):.2f}")]
        lines["teacher_perplexity"] = [(float(prototypes), f"K = {prototypes}")]
    start = next((r for r in records if "probe_mAP_random_init" in r), None)
    if start is not None:
        lines["probe_mAP"] = [(start["probe_mAP_random_init"], "probe mAP, random init")]
    return lines


def plot_curves(records: list[dict], path: Path, prototypes: int | None = None) -> Path:
    """Loss terms, collapse monitors and the online probe against the optimizer step."""
    references = _reference_lines(records, prototypes)
    fig, axes = plt.subplots(1, len(PANELS), figsize=(19, 4))
    for ax, (keys, title, log_scale) in zip(axes, PANELS, strict=True):
        for key in keys:
            points = [(r["step"], r[key]) for r in records if isinstance(r.get(key), (int, float))]
            if points:
                steps, values = zip(*points, strict=True)
                ax.plot(steps, values, marker="." if len(points) < 30 else None, label=key)
                for value, label in references.get(key, []):
                    ax.axhline(
                        value, color=ax.lines[-1].get_color(), linestyle="--", linewidth=1, label=label
                    )
        ax.set_xlabel("optimizer step")
        ax.set_title(title, fontsize=10)
        if log_scale and ax.lines:
            ax.set_yscale("log")
        if ax.lines:
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def probe_sentence(summary: dict) -> str | None:
    """The online probe in words: start, end, and the random-init reference."""
    if summary.get("probe_mAP_end") is None:
        return None
    start, end, ref = (summary.get(k) for k in ("probe_mAP_start", "probe_mAP_end", "probe_mAP_random_init"))
    text = f"Online frozen ReID probe on {summary.get('probe_set', 'the probe set')} (the exported network): mAP "
    text += (
        f"{start:.4f} at step 0, {end:.4f} at step {summary['steps']}" if start is not None else f"{end:.4f}"
    )
    if ref:
        text += f"; untrained backbones of the same architecture score {ref:.4f} (mean of 3 seeds), so the "
        text += f"pretrained one is at {end / ref:.2f}x random init."
    return text


def write_report(run: RunDir, prototypes: int | None = None) -> Path:
    """`report.md` from the run directory: summary, probe and health in words, curves, pictures."""
    records = run.read_log()
    curves = plot_curves(records, run.path / "loss_curves.png", prototypes)
    summary = json.loads((run.path / "summary.json").read_text())
    pictures = sorted(run.pictures.glob("*.png"))
    last = records[-1] if records else {}
    lines = [f"# SAIP pretraining report: `{run.path.name}`", ""]
    sentence = probe_sentence(summary)
    if sentence:
        lines += [sentence, ""]
    lines += [f"**Warning:** {w}" for w in summary.get("health_warnings", [])]
    lines += ["", "## Summary", "", "| key | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in summary.items() if k != "health_warnings"]
    if last:
        lines += ["", "## Last logged step", "", "| key | value |", "|---|---|"]
        lines += [f"| {k} | {v:.5g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in last.items()]
    lines += ["", "## Curves", "", f"![loss curves]({curves.name})", ""]
    if pictures:
        lines += [
            "## Latest pictures",
            "",
            "Views at their scales, CSR input / mask / reconstruction, "
            "CSS scene with true and predicted masks, teacher attention.",
            "",
        ]
        lines += [f"![{p.stem}](pictures/{p.name})" for p in pictures[-2:]]
    lines += ["", "Weights: `backbone.safetensors` + `backbone.json` (loads into `timm.create_model`).", ""]
    path = run.path / "report.md"
    path.write_text("\n".join(lines))
    return path

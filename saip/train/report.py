"""`report.md` in the run directory: loss curves, the latest pictures and the summary."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from saip.train.rundir import RunDir  # noqa: E402
from saip.train.step import LOSS_KEYS  # noqa: E402

# Panels: (keys, title, log scale). Losses span 1e-4..10, hence the log axis; the teacher entropy
# (0..log K) gets its own panel so the 0..1 quantities stay readable.
PANELS = (
    (("loss", *LOSS_KEYS), "losses", True),
    (("teacher_entropy",), "teacher entropy (collapse: -> 0)", False),
    (("student_feature_std", "probe_mAP", "probe_rank1"), "feature std (collapse: -> 0), probe", False),
)


def plot_curves(records: list[dict], path: Path) -> Path:
    """Loss terms, collapse monitors and the online probe against the optimizer step."""
    fig, axes = plt.subplots(1, len(PANELS), figsize=(15, 4))
    for ax, (keys, title, log_scale) in zip(axes, PANELS, strict=True):
        for key in keys:
            points = [(r["step"], r[key]) for r in records if isinstance(r.get(key), (int, float))]
            if points:
                steps, values = zip(*points, strict=True)
                ax.plot(steps, values, marker="." if len(points) < 30 else None, label=key)
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


def write_report(run: RunDir) -> Path:
    records = run.read_log()
    curves = plot_curves(records, run.path / "loss_curves.png")
    summary = json.loads((run.path / "summary.json").read_text())
    pictures = sorted(run.pictures.glob("*.png"))
    last = records[-1] if records else {}
    lines = [
        f"# SAIP pretraining report: `{run.path.name}`",
        "",
        "## Summary",
        "",
        "| key | value |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v} |" for k, v in summary.items()]
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

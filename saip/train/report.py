"""`report.md` in the run directory: loss curves, the latest pictures and the summary."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from saip.train.rundir import RunDir  # noqa: E402

CURVES = ("loss", "loss_csm", "loss_attn", "loss_csr", "loss_css_inst", "loss_css_roi")
MONITORS = ("teacher_entropy", "student_feature_std", "probe_mAP", "probe_rank1")


def plot_curves(records: list[dict], path: Path) -> Path:
    """Loss terms (left) and collapse monitors / probe (right) against the optimizer step."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for ax, keys, title in ((left, CURVES, "losses"), (right, MONITORS, "monitors")):
        for key in keys:
            points = [(r["step"], r[key]) for r in records if isinstance(r.get(key), (int, float))]
            if points:
                steps, values = zip(*points, strict=True)
                ax.plot(steps, values, marker="." if len(points) < 30 else None, label=key)
        ax.set_xlabel("optimizer step")
        ax.set_title(title)
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

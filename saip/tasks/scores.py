"""A backbone's scores over the downstream tasks: `scores.json`, `scores.md` and a radar chart
(one axis per task, one polygon per row: the paper's figure), written by `saip eval all`."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROW_LABELS = {"pretrained": "pretrained", "random_init": "random init"}


@dataclass
class Scores:
    """Rows (`pretrained`, optionally `random_init`) x tasks; every metric a fraction in 0..1."""

    weights: str
    protocol: str
    data_root: str
    headline: dict[str, str]  # task -> the metric the table and the chart show
    rows: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # row -> task -> metrics
    skipped: dict[str, str] = field(default_factory=dict)  # task -> why (no data folder)
    failed: dict[str, str] = field(default_factory=dict)  # "task/row" -> the error
    run_dirs: dict[str, str] = field(default_factory=dict)  # "task/row" -> its `saip eval` run directory

    def value(self, row: str, task: str) -> float | None:
        metric = self.rows.get(row, {}).get(task, {}).get(self.headline[task])
        return metric if isinstance(metric, float) else None

    @property
    def tasks(self) -> list[str]:
        """Tasks with at least one score, in registry order."""
        return [t for t in self.headline if any(t in metrics for metrics in self.rows.values())]


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}"


def markdown(scores: Scores) -> str:
    tasks = scores.tasks
    lines = [
        f"# Scores of `{scores.weights}` ({scores.protocol} protocol)",
        "",
        f"Data: `{scores.data_root}`. Headline metric per task, in %.",
        "",
        "| | " + " | ".join(f"{t} {scores.headline[t]}" for t in tasks) + " |",
        "|---|" + "---|" * len(tasks),
    ]
    for row in scores.rows:
        cells = " | ".join(_percent(scores.value(row, t)) for t in tasks)
        lines.append(f"| {ROW_LABELS.get(row, row)} | {cells} |")
    lines += ["", "## Every metric", ""]
    for task in tasks:
        for row, per_task in scores.rows.items():
            metrics = per_task.get(task, {})
            shown = ", ".join(f"{k} {_percent(v)}" for k, v in metrics.items() if isinstance(v, float))
            if shown:
                lines.append(f"- {task}, {ROW_LABELS.get(row, row)}: {shown}")
    for title, entries in (("Skipped", scores.skipped), ("Failed", scores.failed)):
        if entries:
            lines += ["", f"## {title}", "", *(f"- {name}: {why}" for name, why in entries.items())]
    return "\n".join(lines) + "\n"


def radar(scores: Scores, path: Path) -> Path:
    """One axis per task (headline metric, 0..1), one closed polygon per row."""
    tasks = scores.tasks
    angles = [2 * math.pi * i / max(len(tasks), 1) for i in range(len(tasks))]
    fig, ax = plt.subplots(figsize=(5.5, 5.5), subplot_kw={"projection": "polar"})
    for row in scores.rows:
        values = [scores.value(row, t) or 0.0 for t in tasks]
        ax.plot([*angles, angles[0]], [*values, values[0]], marker="o", label=ROW_LABELS.get(row, row))
        ax.fill([*angles, angles[0]], [*values, values[0]], alpha=0.15)
    ax.set_xticks(angles)
    ax.set_xticklabels([f"{t}\n{scores.headline[t]}" for t in tasks], fontsize=9)
    ax.set_ylim(0, 1)
    ax.set_title(f"{Path(scores.weights).name} ({scores.protocol})", fontsize=10)
    ax.legend(loc="lower right", bbox_to_anchor=(1.15, -0.1), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_scores(scores: Scores, out: Path) -> None:
    """`scores.json` (everything), `scores.md` (the table) and `scores.png` (the radar) in `out`."""
    (out / "scores.json").write_text(json.dumps(asdict(scores), indent=2) + "\n")
    (out / "scores.md").write_text(markdown(scores))
    radar(scores, out / "scores.png")

"""The Python API: the functions the command line runs, with keyword arguments for its flags.

    import saip
    run, summary = saip.pretrain("configs/demo.yaml", {"train.epochs": 1}, max_steps=20)
    backbone = saip.load_backbone(run)  # also RUN/export, a .safetensors or a checkpoint
    metrics = saip.evaluate("reid", run, "/data/market1501", {"model.img_size": [256, 128]})

Keyword arguments are the command's flags (`max_steps=20` is `--max-steps 20`); `overrides` are
config keys, as a mapping or as `key=value` strings. Errors are raised, never turned into exit
codes, and logging is left to the caller (`logging.basicConfig(level=logging.INFO)` shows it).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from saip.export.weights import load_backbone as _load_backbone
from saip.models.backbone import Backbone
from saip.models.backbone import create_backbone as _create_backbone
from saip.tasks.cli import TASKS
from saip.tasks.engine import Metric
from saip.train import loop

Overrides = Mapping[str, Any] | Sequence[str] | None
PathLike = str | os.PathLike[str]


def create_backbone(name: str, **kw: Any) -> Backbone:
    """A randomly initialised registered backbone (`img_size=(H, W)`, `mid_block`, `drop_path`)."""
    return _create_backbone(name, **kw)


def load_backbone(path_or_run: PathLike, **kw: Any) -> Backbone:
    """A backbone with its pretrained weights and taps from a run directory, its `export/` folder,
    an exported `.safetensors`, a checkpoint `.pt` or a timm name (`img_size`, `which`: see
    `saip.export.weights.load_backbone`)."""
    return _load_backbone(os.fspath(path_or_run), **kw)


def pretrain(
    config: PathLike | None = None, overrides: Overrides = None, **kw: Any
) -> tuple[Path, dict[str, Any]]:
    """`saip pretrain`: (the run directory, its `summary.json`; empty on ranks other than 0).

    `data` takes one source or a list of them; the other keywords are `saip pretrain`'s flags."""
    if isinstance(kw.get("data"), (str, os.PathLike)):
        kw["data"] = [kw["data"]]
    if kw.get("data") is not None:
        kw["data"] = [os.fspath(source) for source in kw["data"]]
    args = _namespace(loop.add_arguments, "saip.pretrain", {"config": config, **kw}, overrides)
    run = loop.pretrain(args)
    summary = run / "summary.json"
    return run, json.loads(summary.read_text()) if summary.is_file() else {}


def evaluate(
    task: str, weights: PathLike, data: PathLike, overrides: Overrides = None, **kw: Any
) -> dict[str, Metric]:
    """`saip eval TASK`: the metrics it writes to `metrics.json` (`{}` with `check_data=True`).

    `weights` is `none` (random init), a run directory, an export or a checkpoint; the other
    keywords are the task's flags (`protocol`, `format`, `out`, `device`, `max_steps`, ...)."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; known: {', '.join(TASKS)}")
    module = importlib.import_module(TASKS[task])
    kw = {"weights": weights, "data": data, **kw}
    return module.run(_namespace(module.add_arguments, f"saip.evaluate({task!r})", kw, overrides))


def _namespace(
    add_arguments: Callable[[argparse.ArgumentParser], None],
    prog: str,
    kw: dict[str, Any],
    overrides: Overrides,
) -> argparse.Namespace:
    """The arguments the command line would parse: the command's defaults, then `kw` as its flags."""
    parser = argparse.ArgumentParser(prog=prog)
    add_arguments(parser)
    args = parser.parse_args([])
    unknown = sorted(set(kw) - set(vars(args)))
    if unknown:
        raise TypeError(
            f"{prog}: unknown argument(s) {', '.join(unknown)}; known: {', '.join(sorted(vars(args)))}"
        )
    for key, value in kw.items():
        setattr(args, key, os.fspath(value) if isinstance(value, os.PathLike) else value)
    args.overrides = _dotlist(overrides)
    return args


def _dotlist(overrides: Overrides) -> list[str]:
    """`key=value` words. Mapping values are written as JSON, which the config loader reads as YAML,
    so a string stays a string (`"null"` is not None) and a tuple becomes a list."""
    if overrides is None:
        return []
    if isinstance(overrides, str):
        raise TypeError(f"overrides: a mapping or a list of key=value strings, got the string {overrides!r}")
    if isinstance(overrides, Mapping):
        return [f"{key}={json.dumps(value, default=os.fspath)}" for key, value in overrides.items()]
    return list(overrides)

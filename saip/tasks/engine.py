"""The one fine-tune / probe loop shared by every `saip eval TASK` (ReID, attributes, pose, parsing).

How a task plugs in. A task module (`saip/tasks/<task>.py`) exposes `add_arguments(parser)` and
`run(args) -> int`. Its `run`:

1. loads its config (`saip.tasks.config.load_eval_config(MyConfig, args)`, where `MyConfig`
   subclasses `EvalConfig` and adds the task's section);
2. checks its dataset layout and loads the weights (`saip.export.weights.load_backbone`) BEFORE
   anything is written, raising a `ValueError` that names what is missing or mismatched;
3. opens the run directory with `with open_run(cfg) as run_dir:` (closed even when setup fails;
   resolved `config.yaml`; a stale `metrics.json` is removed so an interrupted run never leaves
   one that looks like a result);
4. builds a `TaskParts`:
   - `model`: the module that is trained and checkpointed (backbone + head, or a head alone for a
     probe on precomputed features);
   - `train_set` (a map-style Dataset) and `epoch_batches(epoch) -> list[list[int]]`: the index
     batches of one epoch, a pure function of (seed, epoch) (see `saip.tasks.data.samplers`), so a
     resumed run continues exactly where it stopped; `collate` if the default does not fit;
   - `loss(model, batch) -> {"loss": total, **named terms}` (the batch is already on the device);
   - `evaluate(model, run) -> {name: fraction in 0..1}` (None where a metric is undefined, or a
     list of those, e.g. per-class IoU); it may also write artifacts (features, predictions) and
     pictures into `run.path` / `run.pictures`;
   - `backbone`: the timm model inside `model` whose blocks get layer-wise lr decay (None: all
     parameters at the head's lr);
5. calls `run_task(parts, cfg, run, device=..., resume=args.resume, train=...)`, which trains
   (when `train`), evaluates, and writes `metrics.json` atomically at the very end.

The loop: AdamW with layer-wise lr decay (`saip.tasks.optim`, timm's param groups), linear warm-up
then cosine (`saip.train.schedules.warmup_cosine`, indexed by the global optimizer step),
`max_steps` stops early without changing the schedule, gradient clipping, bf16 autocast on CUDA,
`checkpoints/last.pt` every `checkpoint_every` steps and at the end (model, optimizer, step, RNG;
`--resume auto` restores them exactly), `log.jsonl`, `eval.log` (the log lines) and a progress bar
(also in log files, a line per 30 s); the pictures a task writes go to TensorBoard too.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from saip.tasks.config import EvalConfig
from saip.tasks.optim import Schedule, build_optimizer
from saip.train.checkpoint import (
    link_atomic,
    load_checkpoint,
    prune_checkpoints,
    rng_state,
    save_atomic,
    set_rng_state,
)
from saip.train.progress import logs_through_bars, progress_bar
from saip.train.rundir import RunDir

log = logging.getLogger(__name__)

Batch = Any
Metric = float | None | list[Any]  # a fraction in 0..1, None where undefined, or a list of those
METRICS_FILE = "metrics.json"


@dataclass
class TaskParts:
    """Everything the loop needs from a task (see the module docstring)."""

    model: nn.Module
    evaluate: Callable[[nn.Module, RunDir], dict[str, Any]]
    train_set: Dataset | None = None
    epoch_batches: Callable[[int], list[list[int]]] | None = None
    loss: Callable[[nn.Module, Batch], dict[str, Tensor]] | None = None
    collate: Callable[[list[Any]], Batch] | None = None
    backbone: nn.Module | None = None


def select_device(name: str) -> torch.device:
    """`auto` picks CUDA when present; asking for CUDA on a machine without it is an input error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda asked for, but CUDA is not available here")
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise ValueError(f"unknown device {name!r}; use auto, cpu or cuda")
    return torch.device(name)


def autocast(device: torch.device, enabled: bool = True) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on CUDA (no loss scaling needed); CPU runs fp32."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def open_run(cfg: EvalConfig) -> RunDir:
    """Create the run directory, write the resolved config, remove a stale `metrics.json`."""
    out = Path(cfg.out or f"runs/{datetime.now():%Y%m%d-%H%M%S}-{cfg.name}")
    run = RunDir(out, log_file="eval.log")
    stale = run.path / METRICS_FILE
    if stale.exists():
        log.info(
            "removing the previous %s in %s: it is rewritten only when this run completes", METRICS_FILE, out
        )
        stale.unlink()
    run.save_config(cfg)
    return run


def to_device(batch: Batch, device: torch.device) -> Batch:
    """Move every tensor in a (nested) tuple / list / dict batch."""
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def _resume_path(run: RunDir, resume: str | None) -> Path | None:
    if not resume:
        return None
    if resume == "auto":
        path = run.checkpoints / "last.pt"
        if not path.exists():
            log.info("--resume auto: no checkpoint in %s yet, starting from step 0", run.checkpoints)
            return None
        return path
    path = Path(resume)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint to resume from not found: {path}")
    return path


def _save(run: RunDir, model: nn.Module, optimizer: torch.optim.Optimizer, step: int, keep: int) -> None:
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": step,
        "rng": rng_state(),
    }
    link_atomic(save_atomic(state, run.checkpoints / "last.pt"), run.checkpoints / f"step_{step:07d}.pt")
    prune_checkpoints(run.checkpoints, keep)


def _batches(
    parts: TaskParts, cfg: EvalConfig, epoch: int, offset: int, device: torch.device
) -> Iterator[tuple[int, Batch]]:
    """(batch size, batch) for one epoch from `offset` on; index lists are fixed by (seed, epoch)."""
    index_batches = parts.epoch_batches(epoch)[offset:]  # type: ignore[misc]
    # Own generator: creating the loader must not draw from the global RNG, or a run resumed
    # mid-epoch would drift from the uninterrupted one (exact with num_workers=0; with workers, their
    # augmentation RNG restarts at the resumed batch).
    generator = torch.Generator().manual_seed(cfg.train.seed * 100_003 + epoch)
    loader = DataLoader(
        parts.train_set,
        batch_sampler=index_batches,  # type: ignore[arg-type]
        num_workers=cfg.train.num_workers,
        collate_fn=parts.collate,
        pin_memory=device.type == "cuda",
        generator=generator,
    )
    for indices, batch in zip(index_batches, loader, strict=True):
        yield len(indices), to_device(batch, device)


def _restore(run: RunDir, resume: str | None, model: nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """Load model, optimizer and RNG from the checkpoint `resume` names; returns its step (0: none)."""
    path = _resume_path(run, resume)
    if path is None:
        run.begin_log(None)
        return 0
    ckpt = load_checkpoint(path)
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    set_rng_state(ckpt["rng"])
    step = int(ckpt["step"])
    run.begin_log(step)
    log.info("resumed from %s at step %d", path, step)
    return step


def _step(
    parts: TaskParts,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    batch: Batch,
    lr: tuple[float, float],
    cfg: EvalConfig,
    device: torch.device,
) -> tuple[dict[str, Tensor], Tensor]:
    """One optimizer step at learning rates `lr` = (head, backbone), each x its group's layer-decay
    scale; (losses, grad norm)."""
    for group in optimizer.param_groups:
        group["lr"] = lr[group.get("backbone", False)] * group["lr_scale"]  # .get: older checkpoints
    model.train()
    with autocast(device, cfg.train.amp):
        losses = parts.loss(model, batch)  # type: ignore[misc]
    if not torch.isfinite(losses["loss"]):
        raise RuntimeError(
            f"loss is {losses['loss'].item()}; the last good checkpoint is kept "
            "(lower optim.lr or raise optim.warmup_epochs)"
        )
    optimizer.zero_grad(set_to_none=True)
    losses["loss"].backward()
    clip = cfg.optim.clip_grad if cfg.optim.clip_grad > 0 else math.inf
    grad_norm = nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    return losses, grad_norm


def fit(
    parts: TaskParts, cfg: EvalConfig, run: RunDir, *, device: torch.device, resume: str | None = None
) -> int:
    """Train `parts.model` on its loss; returns the last optimizer step reached."""
    if parts.train_set is None or parts.epoch_batches is None or parts.loss is None:
        raise ValueError("this task's protocol has no training set, batches or loss to fit")
    model = parts.model.to(device)
    optimizer = build_optimizer(model, parts.backbone, cfg.optim)
    steps_per_epoch = len(parts.epoch_batches(0))
    if steps_per_epoch == 0:
        raise ValueError(f"the training set ({len(parts.train_set)} samples) is smaller than one batch")  # type: ignore[arg-type]
    schedule = Schedule.from_config(cfg, steps_per_epoch)
    stop = min(schedule.total, cfg.train.max_steps) if cfg.train.max_steps > 0 else schedule.total
    step = _restore(run, resume, model, optimizer)
    epoch, offset = divmod(step, steps_per_epoch)
    bar = progress_bar(stop, initial=step, desc=cfg.name)
    tick, seen = time.perf_counter(), 0
    while step < stop:
        for size, batch in _batches(parts, cfg, epoch, offset, device):
            lr = schedule.lr(step), schedule.backbone_lr(step)
            losses, grad_norm = _step(parts, model, optimizer, batch, lr, cfg, device)
            step, seen = step + 1, seen + size
            bar.update(1)
            if step % cfg.train.log_every == 0 or step == stop:
                now = time.perf_counter()
                run.log(
                    {
                        **{k: v.detach() for k, v in losses.items()},
                        "lr": lr[0],
                        "lr_backbone": lr[1],
                        "grad_norm": grad_norm,
                        "images_per_s": seen / max(now - tick, 1e-9),
                    },
                    step=step,
                )
                bar.set_postfix(loss=f"{losses['loss'].item():.4f}", refresh=False)
                tick, seen = now, 0
            if step % cfg.train.checkpoint_every == 0 or step == stop:
                _save(run, model, optimizer, step, cfg.train.keep_checkpoints)
            if step >= stop:
                break
        epoch, offset = epoch + 1, 0
    bar.close()
    return step


def _fraction(name: str, value: Any) -> Metric:
    """A metric as JSON: a float in 0..1, None (undefined, e.g. AP of an empty size range) or a list."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [_fraction(name, v) for v in value]  # type: ignore[misc]
    number = float(value)
    if not 0.0 <= number <= 1.0:  # also refuses NaN
        raise RuntimeError(f"metric {name} = {number} is not a fraction in 0..1 (a bug in the task)")
    return number


def write_metrics(run: RunDir, metrics: dict[str, Any], *, step: int = 0) -> dict[str, Metric]:
    """Check every metric is a fraction in 0..1 (or None, or a list of those), log the scalars, then
    write `metrics.json` atomically; returns the checked metrics."""
    checked = {k: _fraction(k, v) for k, v in metrics.items()}
    run.log({f"eval_{k}": v for k, v in checked.items() if isinstance(v, float)}, step=step)
    run.write_json(METRICS_FILE, checked)
    return checked


def run_task(
    parts: TaskParts,
    cfg: EvalConfig,
    run: RunDir,
    *,
    device: torch.device,
    resume: str | None = None,
    train: bool = True,
) -> dict[str, Metric]:
    """Train when `train`, evaluate, then write `metrics.json` (last, so only a complete run has one)."""
    try:
        if not train:
            run.begin_log(None)
        with logs_through_bars():
            step = fit(parts, cfg, run, device=device, resume=resume) if train else 0
        model = parts.model.to(device).eval()
        with torch.no_grad(), autocast(device, cfg.train.amp):
            raw = parts.evaluate(model, run)
        metrics = write_metrics(run, raw, step=step)
        for png in sorted(run.pictures.glob("*.png")):
            run.add_picture(png, step=step, tag=f"pictures/{png.stem}")
        log.info(
            "%s: %s",
            run.path / METRICS_FILE,
            ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float)),
        )
        return metrics
    finally:
        run.close()

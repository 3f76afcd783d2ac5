"""`saip pretrain`: set-up, the loop over optimizer steps, checkpoints, pictures, the final export
(`backbone.safetensors` and the timm folder `export/` with its model card).

Stages of one iteration (dinov2-style): schedules at the global step -> `train_step` -> counters
and non-finite policy -> logging -> checkpoint -> pictures -> online probe. Runs as one process
(no process group at all) or under `torchrun` (env://, gloo on CPU, nccl on CUDA).
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from saip.cli import add_run_arguments
from saip.config import ConfigError, PretrainConfig, load_config, to_yaml
from saip.data.pipeline import build_pretrain_loader, fixed_batch
from saip.export.card import model_card
from saip.export.weights import export_backbone, export_timm_folder
from saip.models.backbone import Backbone
from saip.models.saip import SAIPStudent
from saip.models.teacher import ExpertEncoder
from saip.objectives.csm import CSMCenter
from saip.objectives.csr import CSRLoss
from saip.train import checkpoint as ckpt_io
from saip.train.compile import compile_enabled, compile_regions, compiled_graphs
from saip.train.faults import fault_point
from saip.train.health import health_warnings
from saip.train.optim import build_optimizer, scaled_lr
from saip.train.pictures import save_step_pictures
from saip.train.probe import probe, random_init_reference, resolve_probe_data
from saip.train.progress import logs_through_bars, progress_bar
from saip.train.report import write_report
from saip.train.rundir import RunDir
from saip.train.schedules import ema_momentum, linear_warmup, warmup_cosine
from saip.train.step import (
    StepContext,
    StepResult,
    load_step_state,
    picture_forward,
    step_state,
    train_step,
)

log = logging.getLogger("saip.pretrain")


class NonFiniteError(RuntimeError):
    """Too many non-finite losses in a row: the run stops, the last good checkpoint stays."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)
    parser.add_argument(
        "--data",
        action="append",
        default=None,
        help="image folder, .txt list or WebDataset shards; repeat to combine "
        "(default: built-in synthetic people)",
    )


# Sizes and intervals (`step % every`) that must be >= 1, checked before any work.
POSITIVE_KEYS = ("batch_size", "accum_steps", "log_every", "checkpoint_every", "picture_every", "probe_every")


def resolve_config(args: argparse.Namespace) -> PretrainConfig:
    """Defaults <- --config <- key=value <- explicit flags; then sanity checks."""
    flags = {
        "train.batch_size": args.batch_size,
        "train.seed": args.seed,
        "train.log_every": args.log_every,
        "train.device": args.device,
        "out": args.out,
    }
    overrides = list(args.overrides) + [f"{k}={v}" for k, v in flags.items() if v is not None]
    cfg = load_config(PretrainConfig, args.config, overrides)
    if args.data:
        cfg.data.sources = list(args.data)
    if not (cfg.csm.enabled or cfg.csr.enabled or cfg.css.enabled):
        raise ConfigError("all objectives are disabled: enable at least one of csm, csr, css")
    if cfg.train.precision not in ("bf16", "fp16", "fp32"):
        raise ConfigError(f"train.precision must be bf16, fp16 or fp32, got {cfg.train.precision!r}")
    if args.max_steps is not None and args.max_steps < 1:
        raise ConfigError(f"--max-steps must be >= 1, got {args.max_steps}")
    for key in POSITIVE_KEYS:
        if getattr(cfg.train, key) < 1:
            raise ConfigError(f"train.{key} must be >= 1, got {getattr(cfg.train, key)}")
    if cfg.csm.teacher_norm not in ("center", "sinkhorn"):
        raise ConfigError(f"csm.teacher_norm must be center or sinkhorn, got {cfg.csm.teacher_norm!r}")
    if cfg.csm.criterion not in ("prototypes", "contrastive"):
        raise ConfigError(f"csm.criterion must be prototypes or contrastive, got {cfg.csm.criterion!r}")
    if cfg.csm.contrastive_temp <= 0:
        raise ConfigError(f"csm.contrastive_temp must be > 0, got {cfg.csm.contrastive_temp}")
    cfg.train.compile = cfg.train.compile.lower()  # YAML's true reaches a str field as True
    if cfg.train.compile not in ("auto", "true", "false"):
        raise ConfigError(f"train.compile must be auto, true or false, got {cfg.train.compile!r}")
    if cfg.train.export not in ("teacher", "student"):
        raise ConfigError(f"train.export must be teacher or student, got {cfg.train.export!r}")
    return cfg


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed(device_pref: str) -> tuple[Dist, torch.device]:
    """A process group only under torchrun with WORLD_SIZE > 1; none for a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    use_cuda = torch.cuda.is_available() and device_pref in ("auto", "cuda")
    if device_pref == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda asked for, but CUDA is not available")
    if use_cuda:  # TF32 for the fp32 parts (losses, norms); bf16 autocast does the rest
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if world <= 1:
        return Dist(), torch.device("cuda" if use_cuda else "cpu")
    d = Dist(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if use_cuda:
        torch.cuda.set_device(d.local_rank)
    dist.init_process_group("nccl" if use_cuda else "gloo", init_method="env://")
    return d, torch.device(f"cuda:{d.local_rank}" if use_cuda else "cpu")


def run_dir_path(cfg: PretrainConfig, resume: str | None) -> Path:
    if cfg.out:
        return Path(cfg.out)
    if resume and resume != "auto":
        return Path(resume).resolve().parent.parent  # <run>/checkpoints/x.pt
    return Path("runs") / f"{datetime.now():%Y%m%d-%H%M%S}-{cfg.name}"


@dataclass
class Counters:
    """Run totals, checkpointed so that a resumed run's summary covers the whole run."""

    images_seen: int = 0
    images_skipped: int = 0
    steps_skipped_nonfinite: int = 0
    wall_time_s: float = 0.0
    nonfinite_streak: int = 0

    def state(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Window:
    """Averages over the steps since the last log line; checkpointed, so that a resumed run logs
    what the uninterrupted run would. The sums stay device tensors between log lines (read once
    per logged step, not once per step)."""

    sums: dict[str, Any] = field(default_factory=dict)  # float or 0-dim tensor
    steps: int = 0
    images: int = 0
    seconds: float = 0.0

    def add(self, res: StepResult, seconds: float, world: int) -> None:
        if res.finite:
            for k, v in {**res.terms, "loss": res.loss, "grad_norm": res.grad_norm, **res.monitors}.items():
                self.sums[k] = self.sums.get(k, 0.0) + v
            self.steps += 1
        self.images += res.images * world
        self.seconds += seconds

    def state(self) -> dict[str, Any]:
        sums = {k: float(v) for k, v in self.sums.items()}
        return {"sums": sums, "steps": self.steps, "images": self.images, "seconds": self.seconds}

    def flush(self) -> dict[str, float]:
        record = {k: float(v) / max(self.steps, 1) for k, v in self.sums.items()}
        record["img_per_s"] = self.images / max(self.seconds, 1e-9)
        self.sums, self.steps, self.images, self.seconds = {}, 0, 0, 0.0
        return record


def share_cpu_cores(cfg: PretrainConfig, device: torch.device, d: Dist) -> None:
    """On CPU, leave one core per data worker: an OpenMP team that shares its cores with busy
    workers waits a scheduler time slice at every parallel region (elementwise ops ~100x slower)."""
    if device.type != "cpu":
        return
    cores = len(os.sched_getaffinity(0)) // max(d.world, 1)
    threads = max(1, min(torch.get_num_threads(), cores - cfg.data.num_workers))
    if threads != torch.get_num_threads():
        log.info(
            "CPU: %d compute thread(s) beside %d data worker(s) on %d core(s)",
            threads,
            cfg.data.num_workers,
            cores,
        )
        torch.set_num_threads(threads)


def build_context(cfg: PretrainConfig, device: torch.device, d: Dist) -> StepContext:
    torch.manual_seed(cfg.train.seed)  # identical initialisation on every rank
    student = SAIPStudent(cfg).to(device)
    teacher = ExpertEncoder(student).to(device)
    if compile_enabled(cfg.train.compile, device):
        compile_regions(student, teacher)
    center = CSMCenter(cfg.csm.out_dim, cfg.csm.center_momentum).to(device)
    effective = cfg.train.batch_size * d.world * cfg.train.accum_steps
    optimizer = build_optimizer(
        student,
        lr=scaled_lr(cfg.optim.base_lr, effective),
        weight_decay=cfg.optim.weight_decay,
        betas=tuple(cfg.optim.betas),
    )
    precision = cfg.train.precision if device.type == "cuda" else "fp32"
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}[precision]
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    wrapped: torch.nn.Module = student
    if d.world > 1:
        every_part_used = cfg.csm.enabled and cfg.csr.enabled and cfg.css.enabled
        wrapped = DistributedDataParallel(
            student,
            device_ids=[device.index] if device.type == "cuda" else None,
            broadcast_buffers=False,  # train_step averages BatchNorm statistics over ranks
            find_unused_parameters=not every_part_used,
        )
    return StepContext(
        cfg=cfg,
        student=wrapped,
        teacher=teacher,
        center=center,
        optimizer=optimizer,
        scaler=scaler,
        device=device,
        amp_dtype=amp_dtype,
        csr_loss=CSRLoss(student.backbone.patch_size, cfg.csr.norm_pix_loss),
    )


def load_resume(run: RunDir, resume: str | None) -> tuple[Path, dict[str, Any]] | None:
    """The checkpoint `--resume` names, loaded on CPU (None: start a new run).

    `auto`: `last.pt`, else (unreadable: a write cut short outside `save_atomic`, a full disk) the
    newest loadable `step_*.pt`; a config error when checkpoints exist but none loads."""
    if not resume:
        return None
    if resume != "auto":
        path = Path(resume)
        if not path.is_file():
            raise FileNotFoundError(f"--resume checkpoint not found: {path}")
        return path, ckpt_io.load_checkpoint(path)
    folder = run.checkpoints
    candidates = [
        p for p in (folder / "last.pt", *sorted(folder.glob("step_*.pt"), reverse=True)) if p.is_file()
    ]
    if not candidates:
        log.info("--resume auto: no checkpoint in %s yet, starting a new run", folder)
        return None
    for path in candidates:
        try:
            return path, ckpt_io.load_checkpoint(path)
        except ckpt_io.CheckpointError as err:
            log.warning("%s; trying an older checkpoint", err)
    raise ConfigError(f"--resume auto: none of the {len(candidates)} checkpoint(s) in {folder} loads")


def restore(ctx: StepContext, state: dict[str, Any]) -> tuple[int, Counters, Window]:
    """Load a checkpoint's state (on CPU) into `ctx`, whatever `ctx.device` is; (step, counters,
    logging window; an empty one for checkpoints written before it was saved).

    `load_state_dict` copies weights and optimizer state onto the parameters' device; RNG states
    must stay CPU ByteTensors (`torch.set_rng_state` refuses others)."""
    load_step_state(ctx, state)
    ckpt_io.set_rng_state(state["rng"])
    return int(state["step"]), Counters(**state["counters"]), Window(**state.get("window", {}))


def save_checkpoint(
    run: RunDir, ctx: StepContext, step: int, spe: int, counters: Counters, window: Window
) -> None:
    accum = ctx.cfg.train.accum_steps
    state = {
        **step_state(ctx),
        "step": step,
        "epoch": step // spe,
        "batch_in_epoch": step % spe * accum,
        "rng": ckpt_io.rng_state(),
        "counters": counters.state(),
        "window": window.state(),
        "config": to_yaml(ctx.cfg),
        "backbone": ctx.cfg.model.backbone,
        "img_size": list(ctx.cfg.model.img_size),
    }
    last = ckpt_io.save_atomic(state, run.checkpoints / "last.pt")
    if step % ctx.cfg.train.checkpoint_every == 0:
        ckpt_io.link_atomic(last, run.checkpoints / f"step_{step:07d}.pt")
        ckpt_io.prune_checkpoints(run.checkpoints, ctx.cfg.train.keep_checkpoints)


def pretrain(args: argparse.Namespace) -> Path:
    """The work of `saip pretrain` (and `saip.pretrain`): returns the run directory.

    Raises `NonFiniteError` after too many non-finite losses in a row."""
    cfg = resolve_config(args)
    d, device = setup_distributed(cfg.train.device)
    try:
        return _train(cfg, args, d, device)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def run(args: argparse.Namespace) -> int:
    try:
        pretrain(args)
    except NonFiniteError as err:
        log.error("%s", err)
        return 3
    return 0


def _train(cfg: PretrainConfig, args: argparse.Namespace, d: Dist, device: torch.device) -> Path:
    accum = cfg.train.accum_steps
    share_cpu_cores(cfg, device, d)
    first_loader = build_pretrain_loader(cfg, rank=d.rank, world_size=d.world)  # data errors before any work
    spe = len(first_loader) // accum
    if spe == 0:
        raise ConfigError(f"one epoch has {len(first_loader)} batches, fewer than accum_steps={accum}")
    total = cfg.train.total_steps or cfg.train.epochs * spe
    if total < 1:
        raise ConfigError(
            f"train.total_steps={cfg.train.total_steps} and train.epochs={cfg.train.epochs}: no step"
        )
    warmup = int(round(cfg.optim.warmup_epochs * spe))
    temp_warmup = int(round(cfg.csm.warmup_teacher_temp_epochs * spe))
    stop_at = min(total, args.max_steps) if args.max_steps else total

    run = RunDir(run_dir_path(cfg, args.resume), rank=d.rank, log_file="train.log")
    with run, logs_through_bars():  # closed (lock released) on errors too
        ctx = build_context(cfg, device, d)
        counters, window, step, last_good = Counters(), Window(), 0, None
        resume_from = load_resume(run, args.resume)
        if resume_from is not None:
            path, state = resume_from
            step, counters, window = restore(ctx, state)
            last_good = step
            log.info("resumed from %s at step %d", path, step)
        run.begin_log(last_good)  # a fresh start (None) drops a killed run's rows
        probe_set = ""
        if d.main:  # a missing probe set is an error now, not after hours; config.yaml gets its path
            cfg.train.probe_data, probe_set = resolve_probe_data(
                cfg.train.probe_data, run.path, cfg.train.seed
            )
        else:
            cfg.train.probe_data = ""  # rank 0 probes
        run.save_config(cfg)
        if cfg.train.probe_data and step == 0:
            record = _probe(ctx, 0)
            record["probe_mAP_random_init"] = random_init_reference(cfg, cfg.train.probe_data, device)
            run.log(record, step=0)
        peak_lr = scaled_lr(cfg.optim.base_lr, cfg.train.batch_size * d.world * accum)
        if d.main:
            log.info(
                "run directory %s: %d steps (%d per epoch), peak lr %.3g, device %s, %d process(es)",
                run.path,
                total,
                spe,
                peak_lr,
                device,
                d.world,
            )

        pictured = fixed_batch(cfg) if d.main else {}
        compiling, compile_s = compile_enabled(cfg.train.compile, device), None
        bar = progress_bar(stop_at, initial=step, disable=not d.main)
        while step < stop_at:
            epoch, start = step // spe, step % spe * accum
            loader = (
                first_loader
                if (epoch, start) == (0, 0)
                else build_pretrain_loader(
                    cfg, rank=d.rank, world_size=d.world, epoch=epoch, start_batch=start
                )
            )
            first_loader = None  # only reusable for a fresh epoch 0
            batches = iter(loader)
            for _ in range(spe - step % spe):
                tic = time.perf_counter()
                lr = warmup_cosine(step, total, warmup, peak_lr, cfg.optim.min_lr)
                for group in ctx.optimizer.param_groups:
                    group["lr"] = lr
                momentum = ema_momentum(step, total, cfg.teacher.momentum)
                teacher_temp = linear_warmup(
                    step, temp_warmup, cfg.csm.warmup_teacher_temp, cfg.csm.teacher_temp
                )
                res = train_step(
                    ctx,
                    [next(batches) for _ in range(accum)],
                    step,
                    momentum=momentum,
                    seed=cfg.train.seed,
                    teacher_temp=teacher_temp,
                )
                fault_point("after_update")
                step += 1
                seconds = time.perf_counter() - tic
                if compiling and compile_s is None:  # this process's first step compiles its shapes
                    compile_s = seconds
                    log.info("first step (compiling): %.1f s, %d graphs", seconds, compiled_graphs())
                _count(counters, res, seconds, d, step, cfg.train.max_nonfinite, last_good)
                window.add(res, seconds, d.world)
                bar.update(1)
                record = (
                    _probe(ctx, step)
                    if cfg.train.probe_data and (step % cfg.train.probe_every == 0 or step == stop_at)
                    else {}
                )
                if step % cfg.train.log_every == 0 or step == stop_at:
                    record.update(
                        {
                            "epoch": epoch,
                            "lr": lr,
                            "momentum": momentum,
                            "wd": cfg.optim.weight_decay,
                            "teacher_temp": teacher_temp,
                            **window.flush(),
                        }
                    )
                    if "loss" in record:
                        bar.set_postfix(
                            loss=f"{record['loss']:.3f}", img_s=f"{record['img_per_s']:.1f}", refresh=False
                        )
                if record:
                    run.log(record, step=step)
                due = step % cfg.train.checkpoint_every == 0 or step == stop_at
                if due and counters.nonfinite_streak == 0:  # never inside a non-finite streak
                    if d.main:
                        save_checkpoint(run, ctx, step, spe, counters, window)
                    last_good = step
                if d.main and (step % cfg.train.picture_every == 0 or step == stop_at):
                    png = save_step_pictures(
                        run.pictures / f"step_{step:07d}.png", picture_forward(ctx, pictured), ctx
                    )
                    run.add_picture(png, step=step, tag="pictures")
                if step >= stop_at:
                    break
        bar.close()
        if d.main:
            _finish(run, ctx, cfg, step, counters, probe_set, warmup, compile_s)
        return run.path


def _count(
    counters: Counters,
    res: StepResult,
    seconds: float,
    d: Dist,
    step: int,
    max_nonfinite: int,
    last_good: int | None,
) -> None:
    """Run totals and the non-finite policy: skip and count, stop after too many in a row.

    `last_good` is the step of the newest checkpoint (None: none written yet)."""
    counters.images_seen += res.images * d.world
    counters.images_skipped += res.skipped_images * d.world
    counters.wall_time_s += seconds
    if res.finite:
        counters.nonfinite_streak = 0
        return
    counters.steps_skipped_nonfinite += 1
    counters.nonfinite_streak += 1
    log.warning("step %d: non-finite loss, step skipped (%d in a row)", step, counters.nonfinite_streak)
    if counters.nonfinite_streak >= max_nonfinite:
        kept = (
            f"the last good checkpoint is from step {last_good}"
            if last_good is not None
            else "no checkpoint was written yet"
        )
        raise NonFiniteError(
            f"{counters.nonfinite_streak} non-finite losses in a row at step {step}: stopping; "
            f"{kept}. Lower the lr or enable optim.clip_grad, then --resume auto"
        )


def exported_backbone(ctx: StepContext) -> Backbone:
    """The backbone `train.export` names: the teacher (expert encoder) or the student."""
    return (ctx.teacher if ctx.cfg.train.export == "teacher" else ctx.module).backbone


def _probe(ctx: StepContext, step: int) -> dict[str, float]:
    metrics = probe(
        exported_backbone(ctx), ctx.cfg.train.probe_data, tuple(ctx.cfg.model.img_size), ctx.device
    )
    log.info("step %d probe: mAP %.4f rank-1 %.4f", step, metrics["mAP"], metrics["rank1"])
    return {"probe_mAP": metrics["mAP"], "probe_rank1": metrics["rank1"]}


def probe_summary(records: list[dict[str, Any]], probe_set: str) -> dict[str, Any]:
    """`probe_set`, `probe_mAP_start` (step 0), `probe_mAP_end` and `probe_mAP_random_init` from the log."""
    probes = [r for r in records if "probe_mAP" in r]
    if not probes:
        return {}
    start = next((r for r in probes if r["step"] == 0), {})
    return {
        "probe_set": probe_set,
        "probe_mAP_start": start.get("probe_mAP"),
        "probe_mAP_end": probes[-1]["probe_mAP"],
        "probe_mAP_random_init": start.get("probe_mAP_random_init"),
    }


def _finish(
    run: RunDir,
    ctx: StepContext,
    cfg: PretrainConfig,
    step: int,
    counters: Counters,
    probe_set: str,
    warmup: int,
    compile_s: float | None,
) -> None:
    """Exports, summary and report. `compile_s`: the wall time of this process's first step when
    compiling (None: eager); later steps compile the shapes first drawn there, which
    `compiled_graphs` counts."""
    backbone = exported_backbone(ctx)
    export_backbone(backbone, run.path, source=cfg.train.export)
    records = run.read_log()
    prototypes = cfg.csm.out_dim if cfg.csm.enabled and cfg.csm.criterion == "prototypes" else None
    warnings = health_warnings(records, prototypes, warmup) if prototypes else []
    for warning in warnings:
        log.warning("%s", warning)
    summary = {
        "steps": step,
        "images_seen": counters.images_seen,
        "images_skipped": counters.images_skipped,
        "steps_skipped_nonfinite": counters.steps_skipped_nonfinite,
        "wall_time_s": round(counters.wall_time_s, 3),
        **(
            {}
            if compile_s is None
            else {"compile_s": round(compile_s, 3), "compiled_graphs": compiled_graphs()}
        ),
        **probe_summary(records, probe_set),
        "health_warnings": warnings,
    }
    card = model_card(cfg, summary, backbone, source=cfg.train.export)
    export_timm_folder(backbone, run.path / "export", source=cfg.train.export, card=card)
    fault_point("before_summary")
    run.write_json("summary.json", summary)
    write_report(run, prototypes=prototypes)
    run.add_picture(run.path / "loss_curves.png", step=step)
    log.info(
        "done: %d steps, %d images (%d unreadable skipped, %d non-finite steps skipped); report: %s",
        step,
        counters.images_seen,
        counters.images_skipped,
        counters.steps_skipped_nonfinite,
        run.path / "report.md",
    )

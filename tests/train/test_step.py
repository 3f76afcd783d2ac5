"""The training step: cross-scale rounding, one EMA update per optimizer step, ablation switches."""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch.overrides import TorchFunctionMode

import saip
from saip.config import PretrainConfig, load_config
from saip.data.pipeline import build_pretrain_loader
from saip.train import step as step_module
from saip.train.checkpoint import load_checkpoint
from saip.train.loop import Counters, Dist, Window, build_context, restore, save_checkpoint
from saip.train.rundir import RunDir
from saip.train.step import batchnorm_buffers, rescale, round_to_patch, step_generator, train_step


@pytest.mark.parametrize(
    ("size", "expected"), [(112, 112), (144, 144), (56, 64), (72, 80), (96, 96), (40, 48)]
)
def test_round_to_patch_ties_up(size: float, expected: int) -> None:
    assert round_to_patch(size, 16) == expected


def test_rescaled_views_land_on_the_patch_grid() -> None:
    x = torch.randn(2, 3, 128, 64)
    for factor, shape in ((0.75, (96, 48)), (0.875, (112, 64)), (1.125, (144, 80)), (1.25, (160, 80))):
        assert rescale(x, factor, 16).shape[-2:] == shape


def test_step_generator_is_a_function_of_step() -> None:
    a = torch.rand(3, generator=step_generator(0, 5, 1))
    assert torch.equal(a, torch.rand(3, generator=step_generator(0, 5, 1)))
    assert not torch.equal(a, torch.rand(3, generator=step_generator(0, 6, 1)))


def test_ranks_draw_the_streams_of_accumulated_micro_batches(
    tiny_overrides: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rank r with accumulation A draws micro-batch r * A + m's stream, so 2 ranks x 1 micro-batch
    see the CSR masks of 1 process x 2 micro-batches (not the same mask twice)."""
    drawn: list[int] = []
    real = step_module.step_generator
    monkeypatch.setattr(step_module, "step_generator", lambda s, t, m: drawn.append(m) or real(s, t, m))

    def run(rank: int, accum: int) -> None:
        cfg = load_config(PretrainConfig, None, [*tiny_overrides, f"train.accum_steps={accum}"])
        ctx = build_context(cfg, torch.device("cpu"), Dist())
        monkeypatch.setattr(step_module, "_rank", lambda: rank)
        train_step(ctx, list(build_pretrain_loader(cfg))[:accum], 0, momentum=0.9, seed=0)

    run(rank=0, accum=2)
    run(rank=1, accum=1)
    run(rank=1, accum=2)
    assert drawn == [0, 1, 1, 2, 3]


def test_ema_updates_once_per_optimizer_step_with_accumulation(tiny_overrides: list[str]) -> None:
    cfg = load_config(PretrainConfig, None, tiny_overrides + ["train.accum_steps=2"])
    ctx = build_context(cfg, torch.device("cpu"), Dist())
    batches = list(build_pretrain_loader(cfg))[:2]
    before = {k: v.clone() for k, v in ctx.teacher.backbone.state_dict().items()}
    momentum = 0.9
    res = train_step(ctx, batches, 0, momentum=momentum, seed=0)
    assert (
        res.finite
        and res.images == 8
        and set(res.terms) == {"loss_csm", "loss_attn", "loss_csr", "loss_css_inst", "loss_css_roi"}
    )
    student = ctx.module.backbone.state_dict()
    for key, old in before.items():
        if old.is_floating_point():  # exactly one lerp towards the updated student
            torch.testing.assert_close(
                ctx.teacher.backbone.state_dict()[key], momentum * old + (1 - momentum) * student[key]
            )
    # The student moved (AdamW stepped once), the teacher did not receive gradients.
    assert any(not torch.equal(before[k], student[k]) for k in before)
    assert all(p.grad is None for p in ctx.teacher.parameters())


@pytest.mark.parametrize("backbone", ["vit_micro", "tiny_vit_5m"])
def test_step_skipped_by_the_grad_scaler_changes_nothing(tiny_overrides: list[str], backbone: str) -> None:
    """fp16: inf gradients make the scaler skip the optimizer step; the centre and EMA skip it too,
    and TinyViT's BatchNorm running statistics (in the student's state dict) are put back."""
    cfg = load_config(PretrainConfig, None, [*tiny_overrides, f"model.backbone={backbone}"])
    ctx = build_context(cfg, torch.device("cpu"), Dist())
    ctx.scaler = torch.amp.GradScaler("cpu", init_scale=3e38)  # the scaled loss overflows
    before = {k: v.clone() for k, v in {**ctx.teacher.state_dict(), **ctx.center.state_dict()}.items()}
    student = {k: v.clone() for k, v in ctx.module.state_dict().items()}
    res = train_step(ctx, list(build_pretrain_loader(cfg))[:1], 0, momentum=0.5, seed=0)
    assert res.finite and ctx.scaler.get_scale() < 3e38  # the loss was finite, the scaler backed off
    after = {**ctx.teacher.state_dict(), **ctx.center.state_dict()}
    assert all(torch.equal(v, after[k]) for k, v in before.items())
    assert all(torch.equal(v, ctx.module.state_dict()[k]) for k, v in student.items())
    assert (backbone == "tiny_vit_5m") == any(k.endswith("running_mean") for k in student)


def test_a_finite_step_keeps_its_batchnorm_statistics(tiny_overrides: list[str]) -> None:
    cfg = load_config(PretrainConfig, None, [*tiny_overrides, "model.backbone=tiny_vit_5m"])
    ctx = build_context(cfg, torch.device("cpu"), Dist())
    buffers = batchnorm_buffers(ctx.module)
    before = [b.clone() for b in buffers]
    assert train_step(ctx, list(build_pretrain_loader(cfg))[:1], 0, momentum=0.5, seed=0).finite
    assert buffers and all(not torch.equal(b, old) for b, old in zip(buffers, before, strict=True))


def test_contrastive_criterion_steps_without_prototypes_or_centre(tiny_overrides: list[str]) -> None:
    """`csm.criterion=contrastive`: the head has no prototype layer, the loss starts near
    ln(batch) (InfoNCE over the batch at a young network's near-equal similarities), the centre
    stays untouched and no prototype monitor is reported."""
    cfg = load_config(
        PretrainConfig, None, [*tiny_overrides, "csm.criterion=contrastive", "css.enabled=false"]
    )
    ctx = build_context(cfg, torch.device("cpu"), Dist())
    assert ctx.module.csm_head.last_layer is None and ctx.teacher.csm_head.last_layer is None
    batch = next(iter(build_pretrain_loader(cfg)))
    res = train_step(ctx, [batch], 0, momentum=0.9, seed=0)
    b = batch["global"].shape[0]
    assert res.finite and float(res.terms["loss_csm"]) == pytest.approx(math.log(b), rel=0.3)
    assert torch.count_nonzero(ctx.center.center) == 0
    assert "teacher_entropy" not in res.monitors and "student_feature_std" in res.monitors


@pytest.mark.filterwarnings("ignore:.*meta parameter:UserWarning")
def test_restore_onto_another_device_keeps_rng_states_on_cpu(
    tmp_path: Path, tiny_overrides: list[str]
) -> None:
    """Resume into a context on a non-CPU device ("meta" here): weights follow the parameters,
    RNG states stay CPU ByteTensors (moving them made torch.set_rng_state raise)."""
    cfg = load_config(PretrainConfig, None, tiny_overrides)
    run = RunDir(tmp_path, tensorboard=False)
    trained = build_context(cfg, torch.device("cpu"), Dist())
    train_step(trained, list(build_pretrain_loader(cfg))[:1], 0, momentum=0.9, seed=0)
    save_checkpoint(run, trained, 4, 6, Counters(images_seen=16), Window({"loss": 1.5}, steps=1))
    expected = torch.rand(3)  # the draws right after the checkpoint
    torch.manual_seed(123)
    ctx = build_context(cfg, torch.device("meta"), Dist())
    step, counters, window = restore(ctx, load_checkpoint(run.checkpoints / "last.pt"))
    assert (step, counters.images_seen, window.sums, window.steps) == (4, 16, {"loss": 1.5}, 1)
    assert torch.equal(torch.rand(3), expected)
    assert ctx.center.center.device.type == "meta"
    moments = [s["exp_avg"] for s in ctx.optimizer.state.values()]
    assert moments and all(m.device.type == "meta" for m in moments)


class _HostReads(TorchFunctionMode):
    """Records where saip code reads a tensor's value into Python (`item`, `bool`, `float`,
    `tolist`, `nonzero`, boolean-mask indexing): each is a device-to-host sync on an accelerator.
    Reads of `host` tensors (the loader's batch) and reads while paused are not counted."""

    READS = {torch.Tensor.item, torch.Tensor.__bool__, torch.Tensor.__float__, torch.Tensor.__int__}
    READS |= {torch.Tensor.tolist, torch.Tensor.nonzero, torch.nonzero, torch.Tensor.masked_select}

    def __init__(self, host: list[torch.Tensor]) -> None:
        super().__init__()
        self.host, self.sites, self.active = {id(t) for t in host}, [], True

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        self.active = False
        try:
            yield
        finally:
            self.active = True

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        bool_index = func is torch.Tensor.__getitem__ and any(
            isinstance(i, torch.Tensor) and i.dtype == torch.bool
            for i in (args[1] if isinstance(args[1], tuple) else (args[1],))
        )
        if self.active and (func in self.READS or bool_index) and id(args[0]) not in self.host:
            frame = sys._getframe(1)
            while frame and "/torch/" in frame.f_code.co_filename:
                frame = frame.f_back
            if frame and frame.f_code.co_filename.startswith(str(Path(saip.__file__).parent)):
                self.sites.append(f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno}")
        return func(*args, **(kwargs or {}))


def test_one_host_read_per_optimizer_step(tiny_overrides: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Two micro-batches, one optimizer step: the finite flag is the only value saip reads back
    (value checks off, as on an accelerator; the host-side batch preparation not counted)."""
    monkeypatch.setenv("SAIP_VALUE_CHECKS", "0")
    cfg = load_config(PretrainConfig, None, tiny_overrides + ["train.accum_steps=2"])
    ctx = build_context(cfg, torch.device("cpu"), Dist())
    batches = list(build_pretrain_loader(cfg))[:2]
    reads = _HostReads([t for b in batches for t in b.values()])
    real = step_module.make_inputs

    def make_inputs(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        with reads.paused():
            return real(*args, **kwargs)

    monkeypatch.setattr(step_module, "make_inputs", make_inputs)
    with reads:
        res = train_step(ctx, batches, 0, momentum=0.9, seed=0)
    assert res.finite and len(reads.sites) == 1 and reads.sites[0].startswith("step.py"), reads.sites
    assert all(v.dim() == 0 for v in [*res.terms.values(), res.loss, res.grad_norm, *res.monitors.values()])

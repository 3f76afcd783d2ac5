"""The shared eval loop: optimizer groups, schedule, exact resume, metrics written last."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import timm
import torch
from timm.layers import DropPath
from torch import nn
from torch.utils.data import TensorDataset

from saip.config import load_config
from saip.errors import RunDirBusy
from saip.tasks.backbones import load_eval_backbone
from saip.tasks.config import EvalConfig
from saip.tasks.data.samplers import pk_batches, shuffled_batches, shuffled_epochs
from saip.tasks.engine import TaskParts, open_run, run_task, select_device
from saip.tasks.optim import Schedule, build_optimizer


def _cfg(tmp_path, *overrides: str) -> EvalConfig:
    base = [
        f"out={tmp_path / 'run'}",
        "data=x",
        "train.batch_size=4",
        "train.epochs=2",
        "train.num_workers=0",
        "train.log_every=1",
        "train.checkpoint_every=2",
        "optim.warmup_epochs=0.5",
        "optim.lr=0.1",
    ]
    return load_config(EvalConfig, None, [*base, *overrides])


def _toy_parts(cfg: EvalConfig, fail_eval: bool = False) -> TaskParts:
    torch.manual_seed(0)
    x = torch.randn(16, 3)
    data = TensorDataset(x, x @ torch.tensor([1.0, -2.0, 0.5]))
    model = nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.5), nn.Linear(8, 1))  # dropout: RNG must resume

    def loss(m: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        mse = (m(batch[0]).squeeze(1) - batch[1]).pow(2).mean()
        return {"loss": mse, "mse": mse}

    def evaluate(m: nn.Module, run) -> dict[str, float]:
        if fail_eval:
            raise RuntimeError("evaluation crashed")
        return {"score": 1.0 / (1.0 + loss(m, data.tensors)["mse"].item())}

    return TaskParts(
        model=model,
        evaluate=evaluate,
        train_set=data,
        loss=loss,
        epoch_batches=lambda e: shuffled_batches(16, cfg.train.batch_size, seed=cfg.train.seed, epoch=e),
    )


def test_layer_decay_groups() -> None:
    vit = timm.create_model(
        "vit_tiny_patch16_224", depth=2, embed_dim=16, num_heads=2, img_size=(32, 16), num_classes=0
    )
    model = nn.ModuleDict({"backbone": vit, "head": nn.Linear(16, 5)})
    cfg = load_config(EvalConfig, None, ["optim.layer_decay=0.5"]).optim
    opt = build_optimizer(model, vit, cfg)
    scale = {id(p): g["lr_scale"] for g in opt.param_groups for p in g["params"]}
    decay = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    # timm's grouping: stem 0, block i -> i + 1, the final norm with the last block
    assert scale[id(vit.patch_embed.proj.weight)] == pytest.approx(0.5**2)
    assert scale[id(vit.blocks[0].mlp.fc1.weight)] == pytest.approx(0.5)
    assert scale[id(vit.blocks[1].mlp.fc1.weight)] == scale[id(vit.norm.weight)] == 1.0
    assert scale[id(model["head"].weight)] == 1.0
    assert decay[id(vit.pos_embed)] == 0.0 and decay[id(model["head"].bias)] == 0.0
    assert decay[id(model["head"].weight)] == cfg.weight_decay
    assert len(scale) == sum(1 for _ in model.parameters())


def test_schedule_ignores_max_steps(tmp_path) -> None:
    short = Schedule.from_config(_cfg(tmp_path, "train.max_steps=2"), steps_per_epoch=4)
    full = Schedule.from_config(_cfg(tmp_path), steps_per_epoch=4)
    assert short == full and full.total == 8 and full.warmup == 2
    assert full.lr(0) == pytest.approx(0.05) and full.lr(1) == pytest.approx(0.1)
    assert full.lr(5) == pytest.approx(1e-6 + 0.5 * (0.1 - 1e-6) * (1 + math.cos(math.pi * 3 / 6)))


def test_head_only_schedule(tmp_path) -> None:
    # total 8, warm-up 2, head alone for 3 steps: the backbone then runs warm-up 2 + cosine over 5
    plain = Schedule.from_config(_cfg(tmp_path), steps_per_epoch=4)
    lpft = Schedule.from_config(_cfg(tmp_path, "optim.head_only_steps=3"), steps_per_epoch=4)
    assert (
        [lpft.lr(s) for s in range(8)]
        == [plain.lr(s) for s in range(8)]
        == [plain.backbone_lr(s) for s in range(8)]
    )
    assert [lpft.backbone_lr(s) for s in range(3)] == [0.0, 0.0, 0.0]
    assert lpft.backbone_lr(3) == pytest.approx(0.05) and lpft.backbone_lr(4) == pytest.approx(0.1)
    assert lpft.backbone_lr(6) == pytest.approx(
        1e-6 + 0.5 * (0.1 - 1e-6) * (1 + math.cos(math.pi * 1 / 3))
    )  # (6 - 3 - 2) / (5 - 2)
    with pytest.raises(ValueError, match="head_only_steps"):
        Schedule.from_config(_cfg(tmp_path, "optim.head_only_steps=8"), steps_per_epoch=4)


def test_head_only_steps_keep_the_backbone(tmp_path) -> None:
    cfg = _cfg(tmp_path, "optim.head_only_steps=3", "train.max_steps=3")
    parts = _toy_parts(cfg)
    parts.backbone = parts.model[0]
    before = [p.detach().clone() for p in parts.model.parameters()]
    run_task(parts, cfg, open_run(cfg), device=torch.device("cpu"))
    after = list(parts.model.parameters())
    assert all(
        torch.equal(a, b) for a, b in zip(before[:2], after[:2], strict=True)
    )  # backbone: lr 0, so no decay either
    assert not torch.equal(before[2], after[2])  # the head trained
    logged = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["lr_backbone"] for r in logged if "lr_backbone" in r] == [0.0, 0.0, 0.0]


def test_resume_is_exact(tmp_path) -> None:
    cfg = _cfg(tmp_path / "a")
    whole = _toy_parts(cfg)
    run_task(whole, cfg, open_run(cfg), device=torch.device("cpu"))
    cfg_b = _cfg(tmp_path / "b", "train.max_steps=3")
    first = _toy_parts(cfg_b)
    run_task(first, cfg_b, open_run(cfg_b), device=torch.device("cpu"))
    torch.manual_seed(123)  # the resumed process starts from another RNG state
    cfg_b.train.max_steps = 0
    resumed = _toy_parts(cfg_b)
    metrics = run_task(resumed, cfg_b, open_run(cfg_b), device=torch.device("cpu"), resume="auto")
    for a, b in zip(whole.model.parameters(), resumed.model.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    log_a = [json.loads(ln) for ln in (tmp_path / "a" / "run" / "log.jsonl").read_text().splitlines()]
    log_b = [json.loads(ln) for ln in (tmp_path / "b" / "run" / "log.jsonl").read_text().splitlines()]
    losses_b = [r["loss"] for r in log_b if "loss" in r]
    assert [r["loss"] for r in log_a if "loss" in r] == losses_b and len(losses_b) == 8
    assert [r["step"] for r in log_b if "loss" in r] == list(range(1, 9))  # resumed steps logged once
    run = tmp_path / "b" / "run"
    assert json.loads((run / "metrics.json").read_text()) == metrics and 0 < metrics["score"] <= 1
    assert (run / "config.yaml").is_file() and (run / "checkpoints" / "last.pt").is_file()


def test_no_metrics_when_evaluation_fails(tmp_path) -> None:
    cfg = _cfg(tmp_path, "train.max_steps=1")
    run = open_run(cfg)
    run.write_json("metrics.json", {"score": 0.5})  # a stale result from an earlier run
    run.close()  # releases the run directory's lock
    run = open_run(cfg)
    assert not (run.path / "metrics.json").exists()
    with pytest.raises(RuntimeError, match="evaluation crashed"):
        run_task(_toy_parts(cfg, fail_eval=True), cfg, run, device=torch.device("cpu"))
    assert not (run.path / "metrics.json").exists()


def test_eval_run_directory_has_one_writer(tmp_path) -> None:
    cfg = _cfg(tmp_path)
    run = open_run(cfg)
    with pytest.raises(RunDirBusy, match="in use by another run"):
        open_run(cfg)
    (run.path / "log.jsonl").write_text('{"step": 3, "loss": 1.0}\n')  # a killed run's row
    parts = TaskParts(model=nn.Linear(1, 1), evaluate=lambda m, r: {"mAP": 0.5})
    run_task(parts, cfg, run, device=torch.device("cpu"), train=False)  # closes the run
    assert [json.loads(line) for line in (run.path / "log.jsonl").read_text().splitlines()] == [
        {"step": 0, "eval_mAP": 0.5}
    ]
    open_run(cfg).close()


@pytest.mark.parametrize("bad", [95.2, float("nan"), [0.5, -0.1]])
def test_metrics_must_be_fractions(tmp_path, bad) -> None:
    cfg = _cfg(tmp_path)
    parts = TaskParts(model=nn.Linear(1, 1), evaluate=lambda m, r: {"mAP": bad})
    with pytest.raises(RuntimeError, match="not a fraction"):
        run_task(parts, cfg, open_run(cfg), device=torch.device("cpu"), train=False)
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_metrics_none_and_lists(tmp_path) -> None:
    cfg = _cfg(tmp_path)
    result = {"mIoU": np.float32(0.25), "APm": None, "per_class_iou": [0.5, None, 1]}
    parts = TaskParts(model=nn.Linear(1, 1), evaluate=lambda m, r: result)
    metrics = run_task(parts, cfg, open_run(cfg), device=torch.device("cpu"), train=False)
    assert metrics == {"mIoU": 0.25, "APm": None, "per_class_iou": [0.5, None, 1.0]}
    assert json.loads((tmp_path / "run" / "metrics.json").read_text()) == metrics


def test_bad_device() -> None:
    with pytest.raises(ValueError, match="unknown device"):
        select_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            select_device("cuda")


def test_shuffled_batches_deterministic() -> None:
    a = shuffled_batches(10, 3, seed=1, epoch=2)
    assert a == shuffled_batches(10, 3, seed=1, epoch=2) != shuffled_batches(10, 3, seed=1, epoch=3)
    assert len(a) == 3 and all(len(b) == 3 for b in a) and len({i for b in a for i in b}) == 9


def test_pk_batches() -> None:
    pids = [0] * 5 + [1] * 4 + [2] * 1 + [3] * 8
    batches = pk_batches(pids, p=2, k=4, seed=0, epoch=0)
    # chunks of 4: pid0 1, pid1 1, pid2 1 (drawn with replacement), pid3 2 -> 5 chunks -> 2 batches of 2
    assert len(batches) == 2
    for batch in batches:
        ids = [pids[i] for i in batch]
        assert len(batch) == 8 and len(set(ids)) == 2 and all(ids.count(p) == 4 for p in set(ids))
    with pytest.raises(ValueError, match="identities"):
        pk_batches([0, 0, 0], p=2, k=2, seed=0, epoch=0)


def test_eval_backbone_drop_path_keeps_weights() -> None:
    model = load_config(EvalConfig, None, ["model.img_size=[32,16]", "model.drop_path=0.2"]).model
    frozen = load_eval_backbone(model, finetune=False)
    tuned = load_eval_backbone(model, finetune=True)
    assert isinstance(tuned.model.blocks[-1].drop_path1, DropPath)
    assert not isinstance(frozen.model.blocks[-1].drop_path1, DropPath)
    assert tuned.model.pos_embed.shape == frozen.model.pos_embed.shape  # the (2, 1) grid + class token


def test_same_seed_same_random_init() -> None:
    """`--weights none --seed N` must start from the same initialisation every time."""
    import argparse

    from saip.models.backbone import create_backbone
    from saip.tasks.config import ReidConfig, load_eval_config

    def init(seed: int) -> torch.Tensor:
        args = argparse.Namespace(data="root", seed=seed, overrides=[])
        load_eval_config(ReidConfig, args)
        return create_backbone("vit_micro", (64, 32)).model.blocks[0].attn.qkv.weight.detach().clone()

    torch.manual_seed(123)
    first = init(3)
    torch.manual_seed(456)
    assert torch.equal(first, init(3))
    assert not torch.equal(first, init(4))


def test_shuffled_epochs_is_shuffled_batches_per_epoch() -> None:
    epochs = shuffled_epochs(10, 3, seed=7)
    assert [epochs(e) for e in range(3)] == [shuffled_batches(10, 3, seed=7, epoch=e) for e in range(3)]
    assert epochs(0) != epochs(1)  # a new order each epoch

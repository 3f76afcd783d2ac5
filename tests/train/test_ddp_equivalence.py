"""2 gloo processes equal 1 process with `train.accum_steps=2` whose micro-batches are the ranks' shards.

The ranks draw the batch-level randomness of the accumulated micro-batches (keyed on rank x accum +
micro), DDP averages the gradients the single process accumulates, and the CSM centre averages
over ranks what the single process averages over micro-batches: the weights must agree to float
tolerance. TinyViT's BatchNorm running statistics are the exception, checked for what they are.
"""

from __future__ import annotations

from itertools import islice
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from saip.config import PretrainConfig, load_config
from saip.data.pipeline import build_pretrain_loader
from saip.train import step as step_module
from saip.train.loop import Dist, build_context
from saip.train.step import StepContext, train_step

pytestmark = pytest.mark.slow

WORLD = 2
MOMENTUM = 0.9


def _config(overrides: list[str], backbone: str, accum: int) -> PretrainConfig:
    return load_config(
        PretrainConfig, None, [*overrides, f"model.backbone={backbone}", f"train.accum_steps={accum}"]
    )


def _shard(cfg: PretrainConfig, rank: int, steps: int) -> list[dict[str, torch.Tensor]]:
    """Rank `rank`'s first `steps` batches, as the 2-process loader deals them."""
    return list(islice(build_pretrain_loader(cfg, rank=rank, world_size=WORLD), steps))


def _context(cfg: PretrainConfig, d: Dist) -> StepContext:
    """The training context with plain SGD: AdamW's first update is lr * sign(g) wherever |g| >> eps,
    which turns float noise in a near-zero gradient into a 2 lr difference; SGD keeps the weights
    linear in the gradients, so comparing them compares the gradients."""
    ctx = build_context(cfg, torch.device("cpu"), d)
    ctx.optimizer = torch.optim.SGD(ctx.module.parameters(), lr=1e-3)
    return ctx


def _state(ctx: StepContext) -> dict[str, torch.Tensor]:
    return {
        **{f"student.{k}": v.clone() for k, v in ctx.module.state_dict().items()},
        **{f"teacher.{k}": v.clone() for k, v in ctx.teacher.state_dict().items()},
        "center": ctx.center.center.clone(),
    }


def _rank_run(rank: int, overrides: list[str], backbone: str, steps: int, folder: str) -> None:
    """One rank of the 2-process run; writes its final state to `folder/rank<r>.pt`."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{folder}/group", rank=rank, world_size=WORLD)
    try:
        cfg = _config(overrides, backbone, accum=1)
        ctx = _context(cfg, Dist(rank, WORLD))
        for step, batch in enumerate(_shard(cfg, rank, steps)):
            train_step(ctx, [batch], step, momentum=MOMENTUM, seed=cfg.train.seed)
        torch.save(_state(ctx), f"{folder}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _single_run(cfg: PretrainConfig, micro_batches: list[list[dict[str, torch.Tensor]]]) -> StepContext:
    ctx = _context(cfg, Dist())
    for step, batches in enumerate(micro_batches):
        train_step(ctx, batches, step, momentum=MOMENTUM, seed=cfg.train.seed)
    return ctx


def _bn_stat(key: str) -> bool:
    return key.endswith(("running_mean", "running_var"))


# vit_micro has no buffers: its whole state must agree after two steps (the second one starts from
# a centre and teacher that the first updated). TinyViT is checked after one step: its teacher
# runs in eval mode on running statistics, which legitimately differ (see below), so from the
# second step on its targets, and hence its weights, do too.
@pytest.mark.parametrize(
    ("backbone", "steps", "criterion"),
    [("vit_micro", 2, "prototypes"), ("tiny_vit_5m", 1, "prototypes"), ("vit_micro", 1, "contrastive")],
)
def test_two_ranks_equal_one_process_accumulating_their_shards(
    tmp_path: Path,
    tiny_overrides: list[str],
    backbone: str,
    steps: int,
    criterion: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Contrastive CSM too: each rank, like each micro-batch, is its own set of negatives."""
    tiny_overrides = [*tiny_overrides, f"csm.criterion={criterion}"]
    mp.spawn(_rank_run, args=(tiny_overrides, backbone, steps, str(tmp_path)), nprocs=WORLD, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]
    shards = [_shard(_config(tiny_overrides, backbone, accum=1), r, steps) for r in range(WORLD)]
    init = _state(_context(_config(tiny_overrides, backbone, accum=1), Dist()))
    accumulated = [list(micro) for micro in zip(*shards, strict=True)]  # step -> [rank 0's, rank 1's]
    single = _state(_single_run(_config(tiny_overrides, backbone, accum=2), accumulated))

    for key, value in ranks[0].items():
        torch.testing.assert_close(ranks[1][key], value, rtol=0, atol=0, msg=f"ranks differ in {key}")
    moved = [k for k, v in single.items() if v.is_floating_point() and not torch.equal(v, init[k])]
    assert any(k.startswith("student.") for k in moved) and any(k.startswith("teacher.") for k in moved)
    assert ("center" in moved) == (criterion == "prototypes")
    for key, value in single.items():  # num_batches_tracked counts forwards: 1 per rank, 2 here
        if not _bn_stat(key) and "num_batches_tracked" not in key:
            torch.testing.assert_close(ranks[0][key], value, rtol=1e-4, atol=1e-6, msg=f"{key} differs")

    stats = [k for k in single if _bn_stat(k)]
    assert bool(stats) == (backbone == "tiny_vit_5m")
    if stats:
        # Running statistics are an EMA over forward passes: the single process folds in its two
        # micro-batches one after the other, the ranks fold in one each and train_step averages
        # them (timm's distribute_bn), so they are the mean of what each shard alone gives.
        alone = []
        for rank, shard in enumerate(shards):  # rank r alone, drawing rank r's views
            monkeypatch.setattr(step_module, "_rank", lambda rank=rank: rank)
            alone.append(_state(_single_run(_config(tiny_overrides, backbone, accum=1), [shard[:1]])))
        for key in stats:
            expected = (alone[0][key] + alone[1][key]) / 2
            torch.testing.assert_close(ranks[0][key], expected, rtol=1e-5, atol=1e-6, msg=key)

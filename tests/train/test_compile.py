"""Regional torch.compile (`train.compile`): a compiled step computes what the eager step does, and
every state dict keeps the eager parameter names (checkpoints, EMA, exports).

The step runs the `aot_eager` backend: Dynamo's graphs of every region and AOTAutograd's forward
and backward graphs, without inductor's C++ code generation, which on a 2-core CPU takes minutes
for the graphs of one step (this test with inductor: within rtol 1e-4, 167 s cold under load)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from itertools import islice

import pytest
import torch
import torch._dynamo

from saip.config import PretrainConfig, load_config
from saip.data.pipeline import build_pretrain_loader
from saip.train import loop
from saip.train.compile import compile_enabled, compile_regions, compiled_graphs
from saip.train.step import StepContext, train_step


@pytest.fixture
def fresh_dynamo() -> Iterator[None]:
    """Compiled graphs are process-wide: start from none, leave none behind for other tests."""
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _context(overrides: list[str], setting: str) -> StepContext:
    cfg = load_config(PretrainConfig, None, [*overrides, f"train.compile={setting}"])
    return loop.build_context(cfg, torch.device("cpu"), loop.Dist())


@pytest.mark.parametrize(
    ("setting", "cpu", "cuda"),
    [("auto", False, True), ("True", True, True), ("false", False, False)],
)
def test_auto_compiles_on_cuda_only(setting: str, cpu: bool, cuda: bool) -> None:
    assert compile_enabled(setting, torch.device("cpu")) is cpu
    assert compile_enabled(setting, torch.device("cuda")) is cuda


def test_compiled_steps_match_eager_with_the_same_names(
    tiny_overrides: list[str], fresh_dynamo: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loop, "compile_regions", partial(compile_regions, backend="aot_eager"))
    # One rescale factor: fewer view shapes, so fewer graphs to trace.
    overrides = [*tiny_overrides, "views.rescale_factors=[1.0]"]
    eager, compiled = _context(overrides, "false"), _context(overrides, "true")
    before = compiled_graphs()
    batches = list(islice(build_pretrain_loader(eager.cfg), 2))
    for step, batch in enumerate(batches):
        want = train_step(eager, [batch], step, momentum=0.9, seed=0)
        got = train_step(compiled, [batch], step, momentum=0.9, seed=0)
        assert got.finite and set(got.terms) == set(want.terms)
        for key in want.terms:
            torch.testing.assert_close(got.terms[key], want.terms[key], rtol=1e-4, atol=1e-5)
    assert compiled_graphs() > before  # the steps really ran compiled regions
    for name in ("module", "teacher"):  # teacher: two EMA updates over the cached tensor lists
        mine, theirs = getattr(compiled, name).state_dict(), getattr(eager, name).state_dict()
        assert list(mine) == list(theirs) and not any("_orig_mod" in k for k in mine)
        for key, value in theirs.items():
            torch.testing.assert_close(mine[key], value, rtol=1e-4, atol=1e-5)

"""Regional `torch.compile` of the pretraining networks (`train.compile`: auto = on for CUDA).

Regions: each transformer block of the ViT backbones (each stage of TinyViT and ConvNeXt), of
the student's and of the teacher's, the CSR decoder's blocks and the CSS decoder's query blocks,
cross-attention block and mask head. Why regional: blocks of one kind share one compiled graph
per input (Dynamo passes parameters as graph inputs), so compile time is that of a few blocks,
and the Python around them (view grouping, taps, masking, losses) stays eager. Why in place
(`nn.Module.compile`): `state_dict` keys stay the eager ones, with no `_orig_mod.` prefix, so
checkpoints, the EMA's tensor lists, DistributedDataParallel and the exports see the same names.

Why `dynamic=False`: the views come in a finite set of shapes (the global, local and scene views,
the two cross-scale views at each rescale factor alone or batched together, CSR's masked view),
and that set stays the same for the whole run. So each region gets a graph per shape (and per
grad mode and train/eval mode: the teacher, pictures and the probe), with static kernels and no
symbolic sizes. A recipe run compiles about 30 graphs with ViT-Tiny, 85 with the staged backbones,
most in its first steps (docs/benchmarks.md). Regions of one class share Dynamo's cache of their
forward, whose default limit of 8 graphs would send most shapes back to eager, so the limit is
raised to cover the set. Blocks that saip runs piece by piece (the last ViT block when it returns
q, k, v; the CSS query's last block, on the class token only) run eagerly there.
"""

from __future__ import annotations

import logging

import torch
import torch._dynamo
from torch import nn

from saip.models.backbone import Backbone, ViTBackbone
from saip.models.saip import SAIPStudent
from saip.models.teacher import ExpertEncoder

log = logging.getLogger("saip.pretrain")

# Graphs per cached forward (ConvNeXt's stage: 71 at the recipe shapes), with room to spare.
RECOMPILE_LIMIT = 128


def compile_enabled(setting: str, device: torch.device) -> bool:
    """`train.compile` (auto, true or false; `resolve_config` refuses others) on `device`."""
    setting = setting.lower()  # YAML's true / false reach a str field as True / False
    return setting == "true" or (setting == "auto" and device.type == "cuda")


def _backbone_regions(backbone: Backbone) -> list[nn.Module]:
    model = backbone.model
    return list(model.blocks if isinstance(backbone, ViTBackbone) else model.stages)


def compile_regions(student: SAIPStudent, teacher: ExpertEncoder, backend: str = "inductor") -> int:
    """Compile the regions of `student` and `teacher` in place; returns how many.

    Call it after the teacher is built: a deep copy of a compiled module would call the
    original's compiled forward. `backend="aot_eager"` traces the same graphs without inductor's
    code generation (the CPU tests: seconds instead of minutes)."""
    regions = _backbone_regions(student.backbone) + _backbone_regions(teacher.backbone)
    if student.csr_decoder is not None:
        regions += list(student.csr_decoder.blocks)
    if (css := student.css_decoder) is not None:
        regions += [*css.query_blocks[:-1], css.cross, css.mask_head]
    config = torch._dynamo.config
    config.recompile_limit = max(config.recompile_limit, RECOMPILE_LIMIT)
    for region in regions:
        region.compile(dynamic=False, backend=backend)
    log.info("torch.compile (%s): %d regions, dynamic=False; the first steps compile", backend, len(regions))
    return len(regions)


def compiled_graphs() -> int:
    """Graphs Dynamo compiled in this process so far: the count behind `compile_s`."""
    return int(torch._dynamo.utils.counters["stats"]["unique_graphs"])

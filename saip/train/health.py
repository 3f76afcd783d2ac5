"""Health of a DINO-style run read off its log: near-uniform teacher targets and prototype collapse.

Why these two: a teacher whose entropy stays near ln K gives targets that teach nothing (the
failure the small-batch runs showed), and a teacher that uses few of its K prototypes has
collapsed towards one answer; a falling loss hides both.
"""

from __future__ import annotations

import math
from typing import Any

UNIFORM_FRACTION = 0.95  # teacher entropy above this fraction of ln K counts as near-uniform
UNIFORM_STEPS = 0.20  # ... warned about when it holds for more than this share of the steps after warm-up
COLLAPSE_FRACTION = 0.01  # prototypes in use below this fraction of K: collapse


def health_warnings(records: list[dict[str, Any]], prototypes: int, warmup_steps: int) -> list[str]:
    """Warnings for the logged records after `warmup_steps` (empty: healthy, or nothing logged)."""
    after = [r for r in records if r.get("step", 0) > warmup_steps and "teacher_entropy" in r]
    if not after:
        return []
    warnings = []
    limit = UNIFORM_FRACTION * math.log(prototypes)
    uniform = sum(r["teacher_entropy"] > limit for r in after) / len(after)
    if uniform > UNIFORM_STEPS:
        warnings.append(
            f"teacher entropy stayed above {UNIFORM_FRACTION:.0%} of ln K = {limit:.2f} in {uniform:.0%} "
            f"of the logged steps after warm-up: its targets are nearly uniform (raise the lr, lower "
            f"csm.out_dim or csm.teacher_temp)"
        )
    low = [r for r in after if r.get("teacher_perplexity", prototypes) < COLLAPSE_FRACTION * prototypes]
    if low:
        warnings.append(
            f"the teacher used fewer than {COLLAPSE_FRACTION:.0%} of the K = {prototypes} prototypes "
            f"(perplexity {min(r['teacher_perplexity'] for r in low):.1f} at worst, first at step "
            f"{low[0]['step']}): collapse (a higher csm.teacher_temp or a lower csm.center_momentum "
            f"counteracts it)"
        )
    return warnings

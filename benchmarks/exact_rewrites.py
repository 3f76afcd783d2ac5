"""Milliseconds of each exact rewrite of issue 15 against the path it replaced, in one process,
calls alternated (old, new, old, new, ...), median of the rounds; forward + backward where the
student trains through it. Recipe sizes: ViT-Tiny/16, K = 65536, 10 student views and 2 teacher
views per sample, CSS decoder 512 over a 1 + 128-token query. (The one-qkv rewrite is a FLOP
saving, seen in `pretrain_step.py`'s gflop_per_img.)

    python benchmarks/exact_rewrites.py --rounds 7 --threads 1
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from saip.models.backbone import create_backbone
from saip.models.css_decoder import CSSDecoder
from saip.models.heads import CSMHead
from saip.models.teacher import ExpertEncoder


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _backward(fn: Callable[[], torch.Tensor]) -> Callable[[], None]:
    return lambda: fn().sum().backward()


class _Student(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = create_backbone("vit_tiny")
        self.csm_head = CSMHead(192, 65536)


def _state_dict_ema(teacher: ExpertEncoder, student: torch.nn.Module, momentum: float) -> None:
    """The EMA as it was: both state dicts rebuilt, then one foreach lerp, then `train(False)`."""
    pairs = [
        (t, s)
        for name in ("backbone", "csm_head")
        for t, s in zip(
            getattr(teacher, name).state_dict().values(),
            getattr(student, name).state_dict().values(),
            strict=True,
        )
    ]
    floats = [(t, s) for t, s in pairs if t.is_floating_point()]
    torch._foreach_lerp_([t for t, _ in floats], [s.detach() for _, s in floats], 1.0 - momentum)
    teacher.train(False)


def _fresh_norms(head: CSMHead) -> CSMHead:
    """As in a step: the teacher's norms are computed once per EMA update, so once per call here."""
    head._norms = None
    return head


def cases(batch: int) -> dict[str, tuple[Callable[[], object], Callable[[], object]]]:
    torch.manual_seed(0)
    student = _Student()
    teacher = ExpertEncoder(student)
    head, z = student.csm_head, torch.randn(10 * batch, 192)
    ref_head = lambda h, x: h.last_layer(F.normalize(h.mlp(x), dim=-1))  # noqa: E731
    css = CSSDecoder(192, 512, 2, 16, 3)
    query = torch.randn(2 * batch, 1 + 128, 192)

    with torch.no_grad():
        teacher.update(student, 0.996)  # gathers the cached lists
    return {
        "prototype layer, student fwd+bwd": (
            _backward(lambda: ref_head(head, z)),
            _backward(lambda: head(z)),
        ),
        "prototype layer, teacher fwd": (
            torch.no_grad()(lambda: ref_head(teacher.csm_head, z[: 2 * batch])),
            torch.no_grad()(lambda: _fresh_norms(teacher.csm_head)(z[: 2 * batch])),
        ),
        "EMA update (ViT-Tiny + head)": (
            torch.no_grad()(lambda: _state_dict_ema(teacher, student, 0.996)),
            torch.no_grad()(lambda: teacher.update(student, 0.996)),
        ),
        "CSS query blocks fwd+bwd": (
            _backward(lambda: css.query_blocks(css.query_embed(query))[:, :1]),
            _backward(lambda: css.query_class_token(query)),
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", default="", help="run the cases whose name contains this")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for name, (old, new) in cases(args.batch).items():
        if args.only not in name:
            continue
        old(), new()  # warm-up
        times: dict[str, list[float]] = {"old": [], "new": []}
        for _ in range(args.rounds):
            times["old"].append(_timed(old))
            times["new"].append(_timed(new))
        ms = {k: 1000 * statistics.median(v) for k, v in times.items()}
        ratios = statistics.median(o / n for o, n in zip(times["old"], times["new"], strict=True))
        print(
            json.dumps(
                {
                    "case": name,
                    "batch": args.batch,
                    "old_ms": ms["old"],
                    "new_ms": ms["new"],
                    "ratio_median": ratios,
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()

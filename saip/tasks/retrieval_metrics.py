"""ReID retrieval metrics with the Market-1501 protocol: mAP, CMC rank-k and mINP, vectorised.

Protocol (Zheng et al. 2015, as every ReID codebase evaluates it):
- for each query, gallery entries with the query's identity *and* camera are removed (the same
  person seen by the same camera is too easy), and junk entries (identity -1) are ignored;
- distractors (identity 0) stay in the gallery as negatives;
- queries with no valid match left are skipped (averages are over the queries that have one);
- AP is the mean of precision at each true match; CMC rank-k is 1 when a true match is among the
  first k valid entries; INP (Ye et al. 2021) is #matches / rank of the hardest match.
Ties in distance keep gallery order (stable sort), so results never depend on the sort algorithm.

Vectorised over chunks of queries, so a Market-sized problem (3,368 x 15,913) takes a few seconds
in bounded memory.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

log = logging.getLogger(__name__)

JUNK_PID = -1
ArrayLike = np.ndarray | Tensor | Sequence[int]


def cosine_distance(query: Tensor, gallery: Tensor) -> Tensor:
    """1 - cosine similarity [Q, G] between [Q, D] and [G, D] features (fp32)."""
    q = torch.nn.functional.normalize(query.float(), dim=1)
    g = torch.nn.functional.normalize(gallery.float(), dim=1)
    return 1.0 - q @ g.T


def _as_long(x: ArrayLike) -> Tensor:
    return torch.as_tensor(np.asarray(x), dtype=torch.long)


def retrieval_metrics(dist: Tensor | np.ndarray, q_pids: ArrayLike, g_pids: ArrayLike, q_camids: ArrayLike,
                      g_camids: ArrayLike, *, ranks: Sequence[int] = (1, 5, 10),
                      chunk: int = 256) -> dict[str, float]:
    """`{"mAP", "rank1", "rank5", "rank10", "mINP"}` (fractions) for a [Q, G] distance matrix."""
    dist = torch.as_tensor(dist).float().cpu()
    q_pids, g_pids, q_camids, g_camids = map(_as_long, (q_pids, g_pids, q_camids, g_camids))
    n_q, n_g = dist.shape if dist.ndim == 2 else (-1, -1)
    if (n_q, n_g) != (len(q_pids), len(g_pids)) or len(q_camids) != n_q or len(g_camids) != n_g:
        raise ValueError(f"distance matrix {tuple(dist.shape)} does not match {len(q_pids)} query and "
                         f"{len(g_pids)} gallery labels ({len(q_camids)}, {len(g_camids)} cameras)")
    sums = torch.zeros(len(ranks) + 2, dtype=torch.float64)  # AP, INP, CMC at each rank
    valid_queries = 0
    for start in range(0, n_q, chunk):
        stop = min(start + chunk, n_q)
        order = torch.argsort(dist[start:stop], dim=1, stable=True)  # [c, G]
        pid, cam = g_pids[order], g_camids[order]
        qp, qc = q_pids[start:stop, None], q_camids[start:stop, None]
        valid = (pid != JUNK_PID) & ~((pid == qp) & (cam == qc))
        match = (pid == qp) & valid
        num_rel = match.sum(1)
        has = num_rel > 0
        if not has.any():
            continue
        position = valid.cumsum(1) - 1  # rank among valid entries, from 0
        hits = match.cumsum(1)
        precision_at_hit = torch.where(match, hits / (position + 1), 0.0)
        ap = precision_at_hit.sum(1) / num_rel.clamp(min=1)
        first = torch.where(match, position, n_g).amin(1)
        hardest = torch.where(match, position, -1).amax(1)
        inp = num_rel / (hardest + 1).clamp(min=1)
        cmc = torch.stack([(first < k) for k in ranks], 1).double()
        per_query = torch.cat([ap[:, None], inp[:, None], cmc], 1)[has]
        sums += per_query.sum(0)
        valid_queries += int(has.sum())
    if valid_queries == 0:
        raise ValueError("no query has a valid match in the gallery (same identity from another camera)")
    if valid_queries < n_q:
        log.info("%d of %d queries have no valid gallery match and are skipped", n_q - valid_queries, n_q)
    means = (sums / valid_queries).tolist()
    return {"mAP": means[0], **{f"rank{k}": v for k, v in zip(ranks, means[2:])}, "mINP": means[1]}

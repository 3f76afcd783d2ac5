"""Retrieval metrics, vectorised: mAP, CMC rank-k and mINP, for ReID and text-to-person retrieval.

Protocol (Zheng et al. 2015, as every ReID codebase evaluates it):
- for each query, gallery entries with the query's identity *and* camera are removed (the same
  person seen by the same camera is too easy), and junk entries (identity -1) are ignored;
- distractors (identity 0) stay in the gallery as negatives;
- queries with no valid match left are skipped (averages are over the queries that have one);
- AP is the mean of precision at each true match; CMC rank-k is 1 when a true match is among the
  first k valid entries; INP (Ye et al. 2021) is #matches / rank of the hardest match.
Ties in distance keep gallery order (as a stable sort would), so results never depend on the sort.
Text-to-person retrieval (`text_retrieval_metrics`) has no cameras and no junk: every caption is a
query against every test image, a match being the same person id (R@k is CMC rank-k).

Why no per-query sort: only the ranks of the few true matches matter. Each (distance, gallery
index) pair becomes one integer key that orders exactly like a stable sort; the true matches'
keys are sorted (a few per query), and every valid gallery entry is binary-searched among them,
which counts how many valid entries precede each match. That is O(G log M) per query instead of
O(G log G), all in a handful of NumPy calls per chunk of queries.
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
_ROW_BITS, _INDEX_BITS = 7, 24  # key = row (7 bits) | ordered float32 (32 bits) | gallery index (24 bits)
_CHUNK = 1 << _ROW_BITS


def cosine_distance(query: Tensor, gallery: Tensor) -> Tensor:
    """1 - cosine similarity [Q, G] between [Q, D] and [G, D] features (fp32)."""
    q = torch.nn.functional.normalize(query.float(), dim=1)
    g = torch.nn.functional.normalize(gallery.float(), dim=1)
    return 1.0 - q @ g.T


def _as_int(x: ArrayLike) -> np.ndarray:
    return np.asarray(x.cpu() if isinstance(x, Tensor) else x).astype(np.int64).ravel()


def _order_keys(dist: np.ndarray) -> np.ndarray:
    """[c, G] int64 keys whose order is (row, distance, gallery index): a stable sort per row."""
    bits = (dist + np.float32(0.0)).view(np.int32).astype(np.int64)  # + 0.0 turns -0.0 into 0.0
    ordered = np.where(bits >= 0, bits, bits ^ 0x7FFFFFFF) + (1 << 31)  # monotone map to 0 .. 2^32 - 1
    rows = np.arange(dist.shape[0], dtype=np.int64)[:, None] << (32 + _INDEX_BITS)
    return rows | (ordered << _INDEX_BITS) | np.arange(dist.shape[1], dtype=np.int64)[None, :]


def _chunk_rows(
    dist: np.ndarray,
    q_pids: np.ndarray,
    q_cams: np.ndarray | None,
    g_pids: np.ndarray,
    g_cams: np.ndarray | None,
    ranks: Sequence[int],
    junk_pid: int | None,
) -> np.ndarray:
    """[valid queries, 2 + len(ranks)]: (AP, INP, CMC@k...) of each chunk query with a valid match.
    No cameras: nothing is removed for being seen by the query's camera; `junk_pid` None: no junk."""
    same_pid = g_pids[None, :] == q_pids[:, None]
    valid = np.broadcast_to((g_pids != junk_pid) if junk_pid is not None else True, same_pid.shape).copy()
    if q_cams is not None and g_cams is not None:
        valid &= ~(same_pid & (g_cams[None, :] == q_cams[:, None]))
    good = same_pid & valid
    keys = _order_keys(dist)
    match_keys = np.sort(keys[good])  # grouped by row, each row by (distance, index)
    if match_keys.size == 0:
        return np.zeros((0, len(ranks) + 2))
    # valid entries at or below each match key, cumulated over the chunk (rows are key-ordered)
    below = np.cumsum(np.bincount(np.searchsorted(match_keys, keys[valid]), minlength=match_keys.size + 1))
    row = match_keys >> (32 + _INDEX_BITS)
    valid_before_row = np.concatenate([[0], np.cumsum(valid.sum(1))])[row]
    position = below[: match_keys.size] - valid_before_row - 1  # rank among the row's valid entries, from 0
    num_rel = good.sum(1)
    first_match = np.concatenate([[0], np.cumsum(num_rel)])[row]
    hits = np.arange(match_keys.size) - first_match + 1  # this match is the n-th of its row
    has = num_rel > 0
    ap = np.bincount(row, weights=hits / (position + 1), minlength=len(num_rel))[has] / num_rel[has]
    first_pos = position[hits == 1]  # one per row that has a match, in row order
    last_pos = position[hits == num_rel[row]]
    inp = num_rel[has] / (last_pos + 1)
    cmc = [first_pos < k for k in ranks]
    return np.stack([ap, inp, *cmc], axis=1).astype(np.float64)


def _as_matrix(x: Tensor | np.ndarray) -> np.ndarray:
    if isinstance(x, Tensor):
        return np.ascontiguousarray(x.detach().float().cpu().numpy())
    return np.ascontiguousarray(np.asarray(x, dtype=np.float32))


def per_query_metrics(
    dist: Tensor | np.ndarray,
    q_pids: ArrayLike,
    g_pids: ArrayLike,
    q_camids: ArrayLike | None,
    g_camids: ArrayLike | None,
    *,
    ranks: Sequence[int] = (1, 5, 10),
    junk_pid: int | None = JUNK_PID,
) -> dict[str, np.ndarray]:
    """Per-query `{"AP", "INP", "rank1", ...}` arrays, in query order, over the queries with a valid
    match (which depend on the labels only: arrays of two models on one split pair up, for
    bootstrap intervals over queries). Cameras None: no same-camera removal; `junk_pid` None:
    every gallery entry counts."""
    dist = _as_matrix(dist)
    q_pids, g_pids = _as_int(q_pids), _as_int(g_pids)
    q_cams, g_cams = (
        (None, None) if q_camids is None or g_camids is None else map(_as_int, (q_camids, g_camids))
    )
    n_q, n_g = dist.shape if dist.ndim == 2 else (-1, -1)
    cams = "" if q_cams is None else f" ({len(q_cams)}, {len(g_cams)} cameras)"
    if (n_q, n_g) != (len(q_pids), len(g_pids)) or (
        q_cams is not None and (len(q_cams), len(g_cams)) != (n_q, n_g)
    ):
        raise ValueError(
            f"distance matrix {dist.shape} does not match {len(q_pids)} query and {len(g_pids)} gallery labels{cams}"
        )
    if n_g >= 1 << _INDEX_BITS:
        raise ValueError(f"gallery of {n_g} images exceeds the {1 << _INDEX_BITS} supported")
    rows = []
    for start in range(0, n_q, _CHUNK):
        part = slice(start, start + _CHUNK)
        part_cams = None if q_cams is None else q_cams[part]
        rows.append(_chunk_rows(dist[part], q_pids[part], part_cams, g_pids, g_cams, ranks, junk_pid))
    table = np.concatenate(rows) if rows else np.zeros((0, len(ranks) + 2))
    if len(table) == 0:
        raise ValueError(
            "no query has a valid match in the gallery (same identity, from another camera if any)"
        )
    if len(table) < n_q:
        log.info("%d of %d queries have no valid gallery match and are skipped", n_q - len(table), n_q)
    names = ["AP", "INP", *(f"rank{k}" for k in ranks)]
    return {name: table[:, i] for i, name in enumerate(names)}


def retrieval_metrics(
    dist: Tensor | np.ndarray,
    q_pids: ArrayLike,
    g_pids: ArrayLike,
    q_camids: ArrayLike | None,
    g_camids: ArrayLike | None,
    *,
    ranks: Sequence[int] = (1, 5, 10),
    junk_pid: int | None = JUNK_PID,
) -> dict[str, float]:
    """`{"mAP", "rank1", "rank5", "rank10", "mINP"}` (fractions) for a [Q, G] distance matrix.

    Cameras None: no same-camera removal; `junk_pid` None: every gallery entry counts."""
    per_query = per_query_metrics(dist, q_pids, g_pids, q_camids, g_camids, ranks=ranks, junk_pid=junk_pid)
    cmc = {f"rank{k}": float(per_query[f"rank{k}"].mean()) for k in ranks}
    return {"mAP": float(per_query["AP"].mean()), **cmc, "mINP": float(per_query["INP"].mean())}


def text_retrieval_metrics(
    sim: Tensor | np.ndarray, caption_pids: ArrayLike, image_pids: ArrayLike
) -> dict[str, float]:
    """`{"R1", "R5", "R10", "mAP", "mINP"}` (fractions) for a [captions, images] similarity matrix:
    every caption against every image, a match being the same person id, no cameras, no junk."""
    m = retrieval_metrics(-_as_matrix(sim), caption_pids, image_pids, None, None, junk_pid=None)
    return {"R1": m["rank1"], "R5": m["rank5"], "R10": m["rank10"], "mAP": m["mAP"], "mINP": m["mINP"]}

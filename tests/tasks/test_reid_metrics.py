"""Retrieval metrics: hand-computed golden cases and a per-query loop reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from saip.tasks.retrieval_metrics import cosine_distance, retrieval_metrics


def _loop_reference(dist, q_pids, g_pids, q_cams, g_cams) -> dict[str, float]:
    """The protocol written as a plain loop over queries (slow, obviously right)."""
    aps, inps, cmc = [], [], []
    for i in range(len(q_pids)):
        order = np.argsort(dist[i], kind="stable")
        keep = [
            j for j in order if g_pids[j] != -1 and not (g_pids[j] == q_pids[i] and g_cams[j] == q_cams[i])
        ]
        matches = [g_pids[j] == q_pids[i] for j in keep]
        if not any(matches):
            continue
        hit_ranks = [r for r, m in enumerate(matches) if m]
        aps.append(np.mean([(n + 1) / (r + 1) for n, r in enumerate(hit_ranks)]))
        inps.append(len(hit_ranks) / (hit_ranks[-1] + 1))
        cmc.append([hit_ranks[0] < k for k in (1, 5, 10)])
    cmc_mean = np.mean(cmc, 0)
    return {
        "mAP": np.mean(aps),
        "rank1": cmc_mean[0],
        "rank5": cmc_mean[1],
        "rank10": cmc_mean[2],
        "mINP": np.mean(inps),
    }


def test_golden_camera_filter_junk_distractor_and_unmatched_query() -> None:
    # gallery:        same-cam  negative  match   junk   distractor  match   pid 3 same cam
    g_pids = np.array([1, 2, 1, -1, 0, 1, 3])
    g_cams = np.array([0, 1, 1, 1, 2, 2, 0])
    dist = np.array(
        [
            [0.1, 0.2, 0.3, 0.35, 0.4, 0.5, 0.9],  # pid 1: valid list neg, HIT, neg, HIT
            [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.0],  # pid 3: its only gallery image is same-camera -> skipped
            [0.9, 0.1, 0.9, 0.9, 0.9, 0.9, 0.9],  # pid 2: first valid entry is the match
        ]
    )
    q_pids, q_cams = np.array([1, 3, 2]), np.array([0, 0, 0])
    m = retrieval_metrics(dist, q_pids, g_pids, q_cams, g_cams)
    # query pid 1: AP = (1/2 + 2/4) / 2 = 0.5, first hit at rank 2, INP = 2 / 4; query pid 2: all 1
    assert m == pytest.approx({"mAP": 0.75, "rank1": 0.5, "rank5": 1.0, "rank10": 1.0, "mINP": 0.75})


def test_ties_keep_gallery_order() -> None:
    dist = np.array([[0.5, 0.5]])
    first_negative = retrieval_metrics(dist, [1], [2, 1], [0], [1, 1])
    first_match = retrieval_metrics(dist, [1], [1, 2], [0], [1, 1])
    assert first_negative["mAP"] == 0.5 and first_negative["rank1"] == 0.0
    assert first_match["mAP"] == 1.0 and first_match["rank1"] == 1.0


@pytest.mark.parametrize("levels", [None, 5])
def test_matches_loop_reference(levels: int | None) -> None:
    """Random problems over several query chunks (128 queries each); `levels` quantises distances
    (including negative ones) so that most of them tie."""
    rng = np.random.default_rng(0)
    q_pids, g_pids = rng.integers(0, 8, 300), rng.integers(-1, 8, 90)
    q_cams, g_cams = rng.integers(0, 3, 300), rng.integers(0, 3, 90)
    dist = rng.random((300, 90)).astype(np.float32) * 2 - 1
    if levels:
        dist = np.round(dist * levels) / levels
    ours = retrieval_metrics(torch.from_numpy(dist), q_pids, g_pids, q_cams, g_cams)
    assert ours == pytest.approx(_loop_reference(dist, q_pids, g_pids, q_cams, g_cams), rel=1e-12)


def test_cosine_distance() -> None:
    q = torch.tensor([[1.0, 0.0], [3.0, 3.0]])
    g = torch.tensor([[2.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    expected = torch.tensor([[0.0, 1.0, 2.0], [1 - 2**-0.5, 1 - 2**-0.5, 1 + 2**-0.5]])
    torch.testing.assert_close(cosine_distance(q, g), expected)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="does not match"):
        retrieval_metrics(np.zeros((2, 3)), [1, 2], [1, 2], [0, 0], [1, 1])
    with pytest.raises(ValueError, match="no query has a valid match"):
        retrieval_metrics(np.zeros((1, 2)), [1], [1, 2], [0], [0, 1])

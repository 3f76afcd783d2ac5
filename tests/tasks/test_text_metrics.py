"""Text-to-person retrieval metrics: a hand-computed golden case, ties, and a loop reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from saip.tasks.retrieval_metrics import retrieval_metrics, text_retrieval_metrics


def _loop_reference(sim: np.ndarray, caption_pids: np.ndarray, image_pids: np.ndarray) -> dict[str, float]:
    """Each caption ranks every image by similarity (ties: image order); plain Python."""
    aps, inps, cmc = [], [], []
    for i in range(len(caption_pids)):
        order = sorted(range(len(image_pids)), key=lambda j: (-sim[i, j], j))
        hits = [r for r, j in enumerate(order) if image_pids[j] == caption_pids[i]]
        aps.append(np.mean([(n + 1) / (r + 1) for n, r in enumerate(hits)]))
        inps.append(len(hits) / (hits[-1] + 1))
        cmc.append([hits[0] < k for k in (1, 5, 10)])
    r1, r5, r10 = np.mean(cmc, 0)
    return {"R1": r1, "R5": r5, "R10": r10, "mAP": np.mean(aps), "mINP": np.mean(inps)}


def test_golden_case() -> None:
    image_pids = np.array([7, 3, 7, 5, 3, 9])
    sim = np.array(
        [
            [0.9, 0.8, 0.1, 0.0, 0.2, 0.3],  # pid 7: matches at ranks 1 and 5 (0-based 0 and 4)
            [0.9, 0.1, 0.2, 0.3, 0.4, 0.5],  # pid 3: matches at ranks 6 and 3 (0-based 5 and 2)
            [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],  # pid 9: its only image ranks first
        ]
    )
    m = text_retrieval_metrics(sim, [7, 3, 9], image_pids)
    # caption 0: order 0(7) 1(3) 5(9) 4(3) 2(7) 3(5): hits at positions 0 and 4 -> AP (1/1 + 2/5) / 2 = 0.7,
    #   INP 2 / 5; caption 1: order 0(7) 5(9) 4(3) 3(5) 2(7) 1(3): hits at 2 and 5 -> AP (1/3 + 2/6) / 2,
    #   INP 2 / 6, first hit at rank 3; caption 2: AP 1, INP 1.
    expected = {
        "R1": 2 / 3,
        "R5": 1.0,
        "R10": 1.0,
        "mAP": (0.7 + 1 / 3 + 1.0) / 3,
        "mINP": (2 / 5 + 2 / 6 + 1.0) / 3,
    }
    assert m == pytest.approx(expected, abs=1e-12)
    assert text_retrieval_metrics(torch.from_numpy(sim), [7, 3, 9], image_pids) == pytest.approx(expected)


def test_rank_one_fails_when_a_different_person_wins() -> None:
    m = text_retrieval_metrics(np.array([[0.2, 0.9]]), [1], [1, 2])
    assert m == pytest.approx({"R1": 0.0, "R5": 1.0, "R10": 1.0, "mAP": 0.5, "mINP": 0.5})


def test_ties_keep_image_order() -> None:
    assert text_retrieval_metrics(np.array([[0.5, 0.5]]), [1], [2, 1])["R1"] == 0.0
    assert text_retrieval_metrics(np.array([[0.5, 0.5]]), [1], [1, 2])["R1"] == 1.0


def test_no_camera_or_junk_filtering() -> None:
    """Id -1 and shared cameras would be filtered by the ReID protocol; here every image counts."""
    sim = np.array([[0.9, 0.1]])
    assert text_retrieval_metrics(sim, [-1], [-1, 2])["R1"] == 1.0
    reid = retrieval_metrics(-sim, [1], [1, 1], [0], [0, 1])  # ReID drops the same-camera match
    assert reid["rank1"] == 1.0 and reid["mAP"] == 1.0
    no_cams = retrieval_metrics(-sim, [1], [1, 2], None, None, junk_pid=None)
    assert no_cams["rank1"] == 1.0


@pytest.mark.parametrize("levels", [None, 4])
def test_matches_loop_reference(levels: int | None) -> None:
    """Several query chunks (128 captions each); `levels` quantises similarities so many tie."""
    rng = np.random.default_rng(1)
    image_pids = rng.integers(0, 30, 70)
    caption_pids = image_pids[rng.integers(0, 70, 260)]  # every caption's person has an image
    sim = rng.standard_normal((260, 70)).astype(np.float32)
    if levels:
        sim = np.round(sim * levels) / levels
    ours = text_retrieval_metrics(sim, caption_pids, image_pids)
    assert ours == pytest.approx(_loop_reference(sim, caption_pids, image_pids), rel=1e-12)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="does not match"):
        text_retrieval_metrics(np.zeros((2, 3)), [1, 2], [1, 2])
    with pytest.raises(ValueError, match="no query has a valid match"):
        text_retrieval_metrics(np.zeros((1, 2)), [5], [1, 2])

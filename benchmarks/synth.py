"""SynthHumans speed and difficulty: crops/s per core, scenes/s, and a colour-histogram ReID probe.

Usage:
    python benchmarks/synth.py [--crops 500] [--scenes 30] [--reid]

Speed is measured in one process (one core) in CPU seconds (process_time), in 5 rounds: the best
round is the least disturbed by other processes, the median is printed too, and the wall-clock
rate shows what a shared machine gave. `--reid` scores a colour-histogram matcher
that is even given the person's mask, at three difficulty settings: how far colour alone gets,
and how much the difficulty knobs take away.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from saip.synth import Difficulty, render_person
from saip.synth.appearance import Appearance, near_duplicate, sample_identity
from saip.synth.camera import sample_camera
from saip.synth.person import render_crop
from saip.synth.scene import render_scene, scene_size


def _rates(fn: Callable[[int], object], count: int, rounds: int = 5) -> tuple[float, float, float]:
    """Items per CPU second in `rounds` rounds of count / rounds items: (best, median) rounds,
    and the overall wall-clock rate. The best round is the one least disturbed by other processes
    (the same reasoning as timeit's min)."""
    per_round = max(1, count // rounds)
    rates, wall = [], time.perf_counter()
    for r in range(rounds):
        cpu = time.process_time()
        for i in range(r * per_round, (r + 1) * per_round):
            fn(i)
        rates.append(per_round / (time.process_time() - cpu))
    return max(rates), float(np.median(rates)), per_round * rounds / (time.perf_counter() - wall)


def bench_crops(count: int) -> tuple[float, float, float]:
    render_person(0)  # warm caches (noise tiles)
    return _rates(lambda i: render_person(i, (256, 128)), count)


def bench_scenes(count: int) -> tuple[tuple[float, float, float], float]:
    sizes = [scene_size(np.random.default_rng([5, i])) for i in range(count)]

    def one(i: int) -> None:
        render_scene(np.random.default_rng([5, i]), sizes[i])

    one(0)
    return _rates(one, count), float(np.mean([h * w for h, w in sizes])) ** 0.5


def _histogram(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Sqrt-normalised 8x8x8 colour histogram [512] of the pixels under `mask`, after grey-world
    normalisation by the whole image's per-channel mean and std (cancels most camera colour casts)."""
    flat = image.reshape(-1, 3).astype(np.float64)
    z = (image[mask].astype(np.float64) - flat.mean(0)) / (flat.std(0) + 1e-6)
    q = np.clip(((z + 2.5) / 5 * 8).astype(np.int64), 0, 7)
    hist = np.bincount(q[:, 0] * 64 + q[:, 1] * 8 + q[:, 2], minlength=512).astype(np.float64)
    return np.sqrt(hist / max(hist.sum(), 1.0))


def reid_probe(difficulty: Difficulty, identities: int = 60, seed: int = 0) -> tuple[float, float]:
    """mAP and rank-1 (%) of colour histograms of the person's own pixels (given the true mask).

    Query: camera 1; gallery: cameras 2-4 plus near-duplicate distractors. Crops are rendered as
    the reid preset renders them (same identity and camera profiles).
    """
    feats, ids, cams = [], [], []

    def add(app: Appearance, pid: int, cam: int, rng: np.random.Generator) -> None:
        camera = sample_camera(np.random.default_rng([seed, 31, cam]))
        rendered, image = render_crop(app, rng, (128, 64), camera, difficulty)
        feats.append(_histogram(np.asarray(image), rendered.instances == 1))
        ids.append(pid)
        cams.append(cam)

    for pid in range(identities):
        app = sample_identity(seed, pid, difficulty)
        for cam in range(1, 5):
            add(app, pid, cam, np.random.default_rng([seed, 32, pid, cam]))
    rng = np.random.default_rng([seed, 33])
    for k in range(int(identities * difficulty.near_duplicates)):
        add(near_duplicate(sample_identity(seed, k, difficulty), rng), -2, int(rng.integers(2, 5)), rng)
    f, pid_arr, cam_arr = np.stack(feats), np.array(ids), np.array(cams)
    query, gallery = np.flatnonzero(cam_arr == 1), np.flatnonzero(cam_arr != 1)
    aps, top1 = [], []
    for q in query:
        order = gallery[np.argsort(-(f[gallery] @ f[q]), kind="stable")]
        match = pid_arr[order] == pid_arr[q]
        hits = np.flatnonzero(match)
        aps.append(float(np.mean((np.arange(len(hits)) + 1) / (hits + 1))))
        top1.append(bool(match[0]))
    return 100 * float(np.mean(aps)), 100 * float(np.mean(top1))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--crops", type=int, default=500)
    parser.add_argument("--scenes", type=int, default=30)
    parser.add_argument("--reid", action="store_true", help="also run the colour-histogram ReID probe")
    args = parser.parse_args()
    best, median, wall = bench_crops(args.crops)
    print(
        f"person crops 256x128: {best:.0f}/s per core (best of 5 rounds, CPU time), median {median:.0f}/s, "
        f"{wall:.0f}/s wall, n={args.crops}"
    )
    (best, median, wall), side = bench_scenes(args.scenes)
    print(
        f"scenes (long side 512-1024, mean side {side:.0f} px, 1-8 people): {best:.1f}/s per core (best round), "
        f"median {median:.1f}/s, {wall:.1f}/s wall, n={args.scenes}"
    )
    if args.reid:
        easy = Difficulty(shared_garments=0.0, near_duplicates=0.0, occlusion=0.0, clutter=0.0)
        hard = Difficulty(shared_garments=0.8, near_duplicates=1.0, occlusion=0.6, clutter=1.0)
        for name, difficulty in (("all knobs 0", easy), ("default", Difficulty()), ("hard", hard)):
            m, r1 = reid_probe(difficulty)
            print(
                f"masked colour-histogram ReID ({name}, 60 ids, 4 cameras): mAP {m:.1f} %, rank-1 {r1:.1f} %"
            )


if __name__ == "__main__":
    main()

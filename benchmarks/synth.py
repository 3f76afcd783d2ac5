"""SynthHumans speed and difficulty: crops/s per core, scenes/s, and a colour-histogram ReID probe.

Usage:
    python benchmarks/synth.py [--crops 500] [--scenes 30] [--reid]

Speed is measured in one process (one core): CPU seconds (process_time) and wall seconds, so a
loaded machine still gives an honest per-core number. `--reid` scores a colour-histogram matcher
that is even given the person's mask, at three difficulty settings: how far colour alone gets,
and how much the difficulty knobs take away.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from saip.synth import Difficulty, render_person
from saip.synth.appearance import near_duplicate, sample_identity
from saip.synth.camera import sample_camera
from saip.synth.person import render_crop
from saip.synth.scene import render_scene, scene_size


def _rate(fn, count: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(count):
        fn(i)
    return count / (time.process_time() - cpu), count / (time.perf_counter() - wall)


def bench_crops(count: int) -> tuple[float, float]:
    render_person(0)  # warm caches (noise tile)
    return _rate(lambda i: render_person(i, (256, 128)), count)


def bench_scenes(count: int) -> tuple[float, float, float]:
    sizes = [scene_size(np.random.default_rng([5, i])) for i in range(count)]

    def one(i: int) -> None:
        render_scene(np.random.default_rng([5, i]), sizes[i])

    cpu, wall = _rate(one, count)
    return cpu, wall, float(np.mean([h * w for h, w in sizes])) ** 0.5


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

    def add(app, pid: int, cam: int, rng: np.random.Generator) -> None:  # type: ignore[no-untyped-def]
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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crops", type=int, default=500)
    parser.add_argument("--scenes", type=int, default=30)
    parser.add_argument("--reid", action="store_true", help="also run the colour-histogram ReID probe")
    args = parser.parse_args()
    cpu, wall = bench_crops(args.crops)
    print(f"person crops 256x128: {cpu:.0f}/s per core (CPU time), {wall:.0f}/s wall, n={args.crops}")
    cpu, wall, side = bench_scenes(args.scenes)
    print(f"scenes (long side 512-1024, mean side {side:.0f} px, 1-8 people): {cpu:.1f}/s per core (CPU time), {wall:.1f}/s wall")
    if args.reid:
        easy = Difficulty(shared_garments=0.0, near_duplicates=0.0, occlusion=0.0, clutter=0.0)
        hard = Difficulty(shared_garments=0.8, near_duplicates=1.0, occlusion=0.6, clutter=1.0)
        for name, difficulty in (("all knobs 0", easy), ("default", Difficulty()), ("hard", hard)):
            m, r1 = reid_probe(difficulty)
            print(f"masked colour-histogram ReID ({name}, 60 ids, 4 cameras): mAP {m:.1f} %, rank-1 {r1:.1f} %")


if __name__ == "__main__":
    main()

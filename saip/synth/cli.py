"""`saip synth --preset NAME --out DIR [--seed N] [--workers N] [--limit N] [--scale X]`."""

from __future__ import annotations

import argparse

from saip.synth.generate import generate, preset_names


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--preset",
        required=True,
        choices=preset_names(),
        help="dataset to write, in that task's real format; 'all' writes one subfolder per preset",
    )
    parser.add_argument("--out", required=True, help="output folder (created if missing)")
    parser.add_argument("--seed", type=int, default=0, help="same seed and options give byte-identical files")
    parser.add_argument(
        "--workers", type=int, default=1, help="rendering processes; the output does not depend on it"
    )
    parser.add_argument("--limit", type=int, default=None, help="at most N images per split (quick checks)")
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply every split's size (identities for reid and text), e.g. 10 for a trainable set",
    )


def run(args: argparse.Namespace) -> int:
    out = generate(
        args.preset, args.out, seed=args.seed, workers=args.workers, limit=args.limit, scale=args.scale
    )
    print(f"wrote synthetic preset {args.preset!r} to {out}")
    return 0

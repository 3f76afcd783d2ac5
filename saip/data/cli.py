"""`saip data pack FOLDER --out DIR --shard-size N [--pattern P] [--seed N | --keep-order] [--workers N]`."""

from __future__ import annotations

import argparse

from saip.config import DataConfig
from saip.data.pack import pack


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    pack = actions.add_parser(
        "pack", help="write a folder of person images as WebDataset shards + index.json"
    )
    pack.add_argument("folder", help="a folder of images (recursive) or a .txt list, as --data takes them")
    pack.add_argument(
        "--out", required=True, help="output folder for the shards and index.json (empty or new)"
    )
    pack.add_argument(
        "--shard-size", type=int, default=5000, help="samples per shard; aim for 100 MB to 1 GB shards"
    )
    pack.add_argument("--pattern", default="shard-%06d.tar", help="shard file names (one %%0Nd field, .tar)")
    pack.add_argument("--seed", type=int, default=0, help="seed of the shuffle before packing")
    pack.add_argument("--keep-order", action="store_true", help="keep the sorted order (no shuffle)")
    pack.add_argument("--workers", type=int, default=1, help="processes that read and check the images")
    pack.add_argument(
        "--min-side",
        type=int,
        default=DataConfig.min_side,
        help="skip images with a smaller side (data.min_side)",
    )
    pack.add_argument(
        "--max-pixels", type=int, default=DataConfig.max_pixels, help="skip bigger images (data.max_pixels)"
    )
    pack.add_argument("-v", "--verbose", action="store_true", help="debug logging (each skipped file)")


def run(args: argparse.Namespace) -> int:
    packed = pack(
        args.folder,
        args.out,
        shard_size=args.shard_size,
        pattern=args.pattern,
        seed=None if args.keep_order else args.seed,
        workers=args.workers,
        min_side=args.min_side,
        max_pixels=args.max_pixels,
    )
    skipped = ", ".join(f"{n} {why}" for why, n in sorted(packed.skipped.items())) or "none"
    print(
        f"packed {packed.images} images into {packed.shards} shard(s), skipped {skipped}; "
        f"index {packed.index}; train with --data '{packed.pattern}'"
    )
    return 0

"""Presets: one small, ready-to-use dataset per downstream task, in that task's real format."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from saip.synth.formats.cihp import write_cihp
from saip.synth.formats.coco import write_pose, write_wholebody
from saip.synth.formats.crowdhuman import write_crowdhuman
from saip.synth.formats.fashion import write_fashion
from saip.synth.formats.lip import write_lip
from saip.synth.formats.market import write_market
from saip.synth.formats.pa100k import write_pa100k
from saip.synth.formats.pedes import write_pedes
from saip.synth.formats.pretrain import write_demo, write_pretrain

# A writer fills a folder with one dataset: (out, seed, workers, limit, scale).
Writer = Callable[[Path, int, int, "int | None", float], None]

PRESETS: dict[str, Writer] = {
    "reid": write_market,
    "attributes": write_pa100k,
    "pose": write_pose,
    "wholebody": write_wholebody,
    "parsing": write_lip,
    "detection": write_crowdhuman,
    "mhp": write_cihp,
    "text": write_pedes,
    "fashion": write_fashion,
    "pretrain": write_pretrain,
    "demo": write_demo,
}

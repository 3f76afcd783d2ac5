"""SynthHumans: procedural labelled people and multi-person scenes, written in real dataset formats.

`render_person` and `render_background` draw single images on the fly (the built-in pretraining
set); `generate` writes whole datasets in the layouts of Market-1501, PA-100K, COCO,
COCO-WholeBody, LIP, CrowdHuman, CIHP, CUHK-PEDES and Fashionpedia (see docs/synth.md).
"""

from saip.synth.background import render_background
from saip.synth.difficulty import Difficulty
from saip.synth.generate import generate, preset_names
from saip.synth.person import render_person

__all__ = ["Difficulty", "generate", "preset_names", "render_background", "render_person"]

"""Data: image sources, odd-image decoding, multi-crop views, CSS scenes and the pretraining loader."""

from saip.data.images import Loaded, load_rgb
from saip.data.pipeline import PretrainLoader, build_pretrain_loader
from saip.data.sources import DataError

__all__ = [
    "DataError",
    "Loaded",
    "PretrainLoader",
    "build_pretrain_loader",
    "load_rgb",
]

"""Pretraining objectives: each loss and its targets, no backbone code (see docs/objectives.md)."""

from saip.objectives.csm import (
    AttentionDistillLoss,
    CSMCenter,
    CSMLoss,
    relation_kl,
    relation_maps,
    teacher_probs,
)
from saip.objectives.csr import CSRLoss, patchify, unpatchify
from saip.objectives.css import CSSLoss

__all__ = [
    "AttentionDistillLoss",
    "CSMCenter",
    "CSMLoss",
    "CSRLoss",
    "CSSLoss",
    "patchify",
    "relation_kl",
    "relation_maps",
    "teacher_probs",
    "unpatchify",
]

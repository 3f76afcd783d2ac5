"""Backbone weights in and out: safetensors in timm's key layout, plus a JSON that rebuilds the model.

Export writes `backbone.safetensors` (the wrapped timm model's own state dict), `backbone.json`
(`{"timm_model", "timm_kwargs", "input_size", "saip_backbone", "source", "taps_file"}`), so that
`timm.create_model(j["timm_model"], **j["timm_kwargs"]).load_state_dict(load_file(...), strict=True)`
works with no saip installed, and `backbone_taps.safetensors`: saip's own pretrained tensors
outside timm's model (the `mid_norm` of the intermediate tap; TinyViT's CSR mask token), so that a
loaded backbone's taps are the pretrained ones, not freshly initialised norms.

`export_timm_folder` writes the same weights as a folder that timm's own loader reads
(`timm.create_model("local-dir:FOLDER", pretrained=True)`): `model.safetensors`, `config.json`
(architecture, `model_args`, and a `pretrained_cfg` with saip's preprocessing, so that
`timm.data.resolve_data_config` gives it), `README.md` (a model card) and `saip/taps.safetensors`:
in a subfolder because timm < 1.0.24 refuses a folder holding a second `*.safetensors`.
`load_backbone` reads all of these, our checkpoints, or a timm name.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from saip.models.backbone import BACKBONES, Backbone, create_backbone
from saip.train.checkpoint import load_checkpoint

log = logging.getLogger(__name__)

BACKBONE_PREFIX = "backbone."
MODEL_PREFIX = "model."
TAPS_SUFFIX = "_taps"
TIMM_WEIGHTS = "model.safetensors"
TIMM_CONFIG = "config.json"
FOLDER_TAPS = "saip/taps.safetensors"


class WeightsError(ValueError):
    """Weights that cannot be found or do not fit the backbone."""


def split_state(backbone: Backbone) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(the timm model's state dict, saip's own tensors outside it), detached CPU copies."""
    state = {k: v.detach().cpu().contiguous() for k, v in backbone.state_dict().items()}
    timm_state = {k[len(MODEL_PREFIX) :]: v for k, v in state.items() if k.startswith(MODEL_PREFIX)}
    return timm_state, {k: v for k, v in state.items() if not k.startswith(MODEL_PREFIX)}


def _save_safetensors(state: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(state, str(tmp), metadata={"format": "pt", **metadata})
    os.replace(tmp, path)


def export_backbone(
    backbone: Backbone, out_dir: str | Path, *, source: str = "teacher", stem: str = "backbone"
) -> Path:
    """Write `<stem>.safetensors`, `<stem>_taps.safetensors` and `<stem>.json` into `out_dir`;
    returns the timm weights' path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    timm_state, taps = split_state(backbone)
    meta = {
        "timm_model": backbone.spec.timm_name,
        "timm_kwargs": backbone.export_kwargs(),
        "input_size": list(backbone.img_size),
        "saip_backbone": backbone.name,
        "source": source,
        "taps_file": f"{stem}{TAPS_SUFFIX}.safetensors",
    }
    path = out_dir / f"{stem}.safetensors"
    _save_safetensors(timm_state, path, {"timm_model": meta["timm_model"]})
    _save_safetensors(taps, out_dir / meta["taps_file"], {"saip_backbone": backbone.name})
    (out_dir / f"{stem}.json").write_text(json.dumps(meta, indent=2) + "\n")
    return path


def timm_config(backbone: Backbone, *, source: str = "teacher") -> dict[str, Any]:
    """`config.json` for timm's `local-dir:` loader: how to rebuild the model, and the preprocessing
    saip trains with (ImageNet mean/std at the training size, bilinear resizing, no crop: timm's
    default crop_pct 0.9 would cut off heads and feet). The `saip` entry is ignored by timm."""
    defaults = backbone.model.pretrained_cfg
    h, w = backbone.img_size
    return {
        "architecture": backbone.spec.timm_name,
        "num_classes": 0,
        "num_features": backbone.embed_dim,
        "model_args": {k: v for k, v in backbone.export_kwargs().items() if k != "num_classes"},
        "pretrained_cfg": {
            "tag": "saip",
            "custom_load": False,
            "input_size": [3, h, w],
            "fixed_input_size": False,
            "interpolation": "bilinear",
            "crop_pct": 1.0,
            "crop_mode": "center",
            "mean": list(IMAGENET_DEFAULT_MEAN),
            "std": list(IMAGENET_DEFAULT_STD),
            "num_classes": 0,
            "first_conv": defaults.get("first_conv"),
            "classifier": defaults.get("classifier"),
        },
        "saip": {"backbone": backbone.name, "source": source, "taps_file": FOLDER_TAPS},
    }


def export_timm_folder(
    backbone: Backbone, out_dir: str | Path, *, source: str = "teacher", card: str
) -> Path:
    """Write `out_dir` as a timm `local-dir:` model with `card` as its README.md; returns `out_dir`."""
    out_dir = Path(out_dir)
    (out_dir / FOLDER_TAPS).parent.mkdir(parents=True, exist_ok=True)
    timm_state, taps = split_state(backbone)
    _save_safetensors(timm_state, out_dir / TIMM_WEIGHTS, {})
    _save_safetensors(taps, out_dir / FOLDER_TAPS, {"saip_backbone": backbone.name})
    (out_dir / TIMM_CONFIG).write_text(json.dumps(timm_config(backbone, source=source), indent=2) + "\n")
    (out_dir / "README.md").write_text(card)
    return out_dir


def backbone_state_from_checkpoint(ckpt: dict[str, Any], which: str = "teacher") -> dict[str, torch.Tensor]:
    """The whole backbone's weights (timm model and tap norms, `Backbone.state_dict()` keys) inside
    a saip pretraining checkpoint."""
    if which not in ckpt:
        raise WeightsError(f"checkpoint has no {which!r} weights (keys: {', '.join(sorted(ckpt))})")
    return {k[len(BACKBONE_PREFIX) :]: v for k, v in ckpt[which].items() if k.startswith(BACKBONE_PREFIX)}


def _name_for_timm(timm_name: str) -> str:
    for name, spec in BACKBONES.items():
        if spec.timm_name == timm_name:
            return name
    raise WeightsError(
        f"timm model {timm_name!r} is not a saip backbone; known: "
        + ", ".join(s.timm_name for s in BACKBONES.values())
    )


def _load_into(backbone: Backbone, state: dict[str, torch.Tensor], origin: str) -> Backbone:
    """Load `state` (`Backbone.state_dict()` keys). The timm model's keys must all fit; saip's tap
    tensors that `state` lacks (an older export) stay freshly initialised, with a warning."""
    own = backbone.state_dict()
    model_keys = {k for k in own if k.startswith(MODEL_PREFIX)}
    missing = sorted(model_keys - set(state))
    unexpected = sorted(set(state) - set(own))
    bad = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or unexpected or bad:
        raise WeightsError(
            f"{origin} does not fit {backbone.spec.timm_name}: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}, shape mismatch {bad[:5]}"
        )
    absent = sorted(set(own) - model_keys - set(state))
    if absent:
        log.warning(
            "%s has no pretrained %s (an export older than the tap sidecar): freshly initialised",
            origin,
            ", ".join(absent),
        )
    backbone.load_state_dict({**own, **state}, strict=True)
    return backbone


def _with_prefix(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {MODEL_PREFIX + k: v for k, v in state.items()}


def _at_size(backbone: Backbone, img_size: tuple[int, int] | None) -> Backbone:
    """Move a loaded ViT to another anchor size; timm resamples pos_embed in 2-D from the true grid."""
    if img_size is None:
        return backbone
    img_size = tuple(img_size)
    if img_size != backbone.img_size and backbone.spec.kind == "vit":
        backbone.model.set_input_size(img_size=img_size)
        backbone.img_size = img_size
        backbone.timm_kwargs["img_size"] = list(img_size)
    return backbone


def load_backbone(
    weights: str,
    *,
    backbone: str = "vit_tiny",
    img_size: tuple[int, int] | None = None,
    which: str = "teacher",
    drop_path: float = 0.0,
) -> Backbone:
    """Build a backbone from `weights`: `none` (random init of `backbone`), an exported
    `.safetensors` (its `.json` beside it), a timm folder from `export_timm_folder`, a saip
    checkpoint `.pt`, a run directory (its last checkpoint, else its `export/` folder, else its
    `backbone.safetensors`), or a timm model name (weights only from the local cache; nothing is
    downloaded). `which` picks the network of a checkpoint; exports hold one network only.

    `img_size` (H, W) is the anchor size to use; None keeps the size the weights were trained at
    (256x128 for `none` and timm names). ViT position embeddings are resampled in 2-D.
    `drop_path` is the stochastic depth for fine-tuning (it changes no weights)."""
    make = functools.partial(create_backbone, drop_path=drop_path)
    if weights == "none":
        return make(backbone, img_size or (256, 128))
    path = Path(weights)
    if path.is_dir() and (path / TIMM_CONFIG).is_file():
        return _load_timm_folder(path, img_size, make)
    if path.is_dir():
        for candidate in (path / "checkpoints" / "last.pt", path / "export", path / "backbone.safetensors"):
            if candidate.is_file() or (candidate / TIMM_CONFIG).is_file():
                return load_backbone(
                    str(candidate), backbone=backbone, img_size=img_size, which=which, drop_path=drop_path
                )
        raise WeightsError(f"no checkpoints/last.pt, export/{TIMM_CONFIG} or backbone.safetensors in {path}")
    if path.name == TIMM_WEIGHTS and (path.parent / TIMM_CONFIG).is_file():
        return _load_timm_folder(path.parent, img_size, make)
    if path.suffix == ".safetensors":
        return _load_safetensors(path, img_size, make)
    if path.suffix in (".pt", ".pth"):
        ckpt = load_checkpoint(path)
        model = make(ckpt.get("backbone", backbone), tuple(ckpt.get("img_size", img_size or (256, 128))))
        _load_into(model, backbone_state_from_checkpoint(ckpt, which), str(path))
        return _at_size(model, img_size)
    if path.suffix or os.sep in weights:
        raise WeightsError(
            f"weights not found or not understood: {weights} "
            "(expected none, a .safetensors, a .pt checkpoint, a run directory or a timm name)"
        )
    return _load_timm(weights, img_size, make)


def _load_safetensors(
    path: Path, img_size: tuple[int, int] | None, make: Callable[..., Backbone]
) -> Backbone:
    if not path.is_file():
        raise WeightsError(f"weights not found: {path}")
    meta_path = path.with_suffix(".json")
    if not meta_path.is_file():
        raise WeightsError(f"{path} has no {meta_path.name} beside it saying which timm model it is")
    meta = json.loads(meta_path.read_text())
    name = meta.get("saip_backbone") or _name_for_timm(meta["timm_model"])
    size = tuple(meta.get("input_size", img_size or (256, 128)))
    taps = path.parent / meta.get("taps_file", f"{path.stem}{TAPS_SUFFIX}.safetensors")
    return _load_files(make(name, size), path, taps, img_size)


def _load_timm_folder(
    folder: Path, img_size: tuple[int, int] | None, make: Callable[..., Backbone]
) -> Backbone:
    config = json.loads((folder / TIMM_CONFIG).read_text())
    meta = config.get("saip", {})
    name = meta.get("backbone") or _name_for_timm(config["architecture"])
    model = make(name, tuple(config["pretrained_cfg"]["input_size"][1:]))
    return _load_files(model, folder / TIMM_WEIGHTS, folder / meta.get("taps_file", FOLDER_TAPS), img_size)


def _load_files(model: Backbone, weights: Path, taps: Path, img_size: tuple[int, int] | None) -> Backbone:
    """timm's weights, then the tap norms when their file exists (older exports have none)."""
    state = _with_prefix(load_file(str(weights)))
    if taps.is_file():
        state |= load_file(str(taps))
    _load_into(model, state, str(weights))
    return _at_size(model, img_size)


def _load_timm(timm_name: str, img_size: tuple[int, int] | None, make: Callable[..., Backbone]) -> Backbone:
    """A timm name (optionally `name.tag`): weights from the local Hugging Face cache only."""
    import timm
    from huggingface_hub import try_to_load_from_cache

    arch = timm_name.split(".")[0]
    model = make(_name_for_timm(arch), img_size or (256, 128))
    hub_id = timm.models.get_pretrained_cfg(timm_name).hf_hub_id if timm.is_model_pretrained(arch) else None
    cached = try_to_load_from_cache(hub_id, "model.safetensors") if hub_id else None
    if not isinstance(cached, str):
        raise WeightsError(
            f"no local weights for {timm_name} (nothing is downloaded); use --weights none for a random init"
        )
    state = load_file(cached)
    if "pos_embed" in state and model.spec.kind == "vit":
        from timm.models.vision_transformer import checkpoint_filter_fn

        state = checkpoint_filter_fn(state, model.model)
    state = {k: v for k, v in state.items() if not k.startswith("head.")}
    return _load_into(model, _with_prefix(state), cached)

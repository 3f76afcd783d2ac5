"""Run configuration: nested dataclasses are the schema, YAML files are diffs, `key=value` wins.

Why OmegaConf structured configs: a typo in a key or a wrong type is an error before any work
starts, and the resolved config saved in the run directory is the whole description of a run.
"""

from __future__ import annotations

import dataclasses
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

T = TypeVar("T")


class ConfigError(ValueError):
    """A config file or override that does not fit the schema."""


@dataclass
class ModelConfig:
    # Backbone registered in saip.models.backbone.BACKBONES (timm names underneath).
    backbone: str = "vit_tiny"
    # Anchor input size (H, W): position embeddings are stored for this grid and resampled in 2-D.
    img_size: tuple[int, int] = (256, 128)
    # Index (from 0) of the intermediate tap feeding CSR and CSS; None: the backbone's default
    # (ViT: block 7 of 12; TinyViT and ConvNeXt: stage 3, the stride-16 grid).
    mid_block: int | None = None
    drop_path: float = 0.0


@dataclass
class DataConfig:
    # Sources of unlabelled person images: folders (recursive), .txt file lists, or WebDataset
    # shard patterns (`shards-{000..099}.tar`, local paths or URLs). Empty: built-in synthetic people.
    sources: list[str] = field(default_factory=list)
    # Background images for the CSS scenes; empty means other images of the same sources.
    backgrounds: list[str] = field(default_factory=list)
    # Size of the built-in synthetic set when `sources` is empty.
    synthetic_images: int = 256
    # Built-in synthetic people added to folder or list `sources` (0: none). Each is a new
    # person on a new background under a new camera: diversity a small real set lacks.
    mix_synthetic: int = 0
    num_workers: int = 2
    # Images smaller than this (either side) are skipped and counted: they carry no person.
    min_side: int = 16
    # Images with more pixels than this are refused (decompression bombs, panoramas).
    max_pixels: int = 64_000_000
    # Images per epoch of WebDataset shards; 0: the shards' index.json (`saip data pack` writes it),
    # else local shards are counted once. Remote shards without an index need it.
    epoch_size: int = 0
    # (H, W) of the built-in synthetic people: the global view's size, so crops need no upsampling.
    synthetic_size: tuple[int, int] = (256, 128)
    # (H, W): JPEGs larger than this decode at 1/2..1/8 scale (never below it), which saves most of
    # the decode time of big photos; twice the global view keeps small local crops sharp.
    decode_size: tuple[int, int] = (512, 256)


@dataclass
class ViewsConfig:
    global_size: tuple[int, int] = (256, 128)
    global_scale: tuple[float, float] = (0.8, 1.0)
    local_size: tuple[int, int] = (128, 64)
    local_scale: tuple[float, float] = (0.05, 0.8)
    # Aspect ratio w/h of the random-resized crops (person crops are about 0.5).
    aspect: tuple[float, float] = (0.4, 0.6)
    # Random local crops; the last one is the cross-scale `roi` view (recipe: 7 = 6 plain + 1).
    num_local: int = 7
    # Factors for the two cross-scale views (roi crop and half-size global view 1), one per view
    # per batch; rescaled sides are rounded to the nearest multiple of the patch size (ties up).
    rescale_factors: list[float] = field(default_factory=lambda: [0.75, 0.875, 1.125, 1.25])
    # Photometric augmentation, DINO's recipe: colour jitter (brightness, contrast, saturation,
    # hue) with probability jitter_p, grayscale gray_p, Gaussian blur on global view 1, global
    # view 2 and the local crops, solarisation on global view 2. Colour is a strong identity cue
    # for people: weaker jitter and no grayscale keep it in the features (docs/objectives.md).
    color_jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.2, 0.1)
    jitter_p: float = 0.8
    # With the jitter, per-channel gains drawn in [1 - g, 1 + g]: a camera's white balance (its
    # colour cast), the nuisance that separates one camera's people from another's. 0: the recipe.
    channel_gain: float = 0.0
    gray_p: float = 0.2
    blur_p: tuple[float, float, float] = (1.0, 0.1, 0.5)
    solarize_p: float = 0.2
    # Probability, per view, of compositing the person image over another image (a random image
    # of the backgrounds, or of the same sources) through a soft matte that keeps the central
    # vertical band, before cropping: views of one person then differ in background, so the
    # features must ignore it (on a two-camera set the background names the camera). 0: the recipe.
    background_swap: float = 0.0
    # Half-width of the kept band as a fraction of the image width (person crops: about 0.22).
    swap_band: float = 0.22


@dataclass
class SceneConfig:
    size: tuple[int, int] = (224, 224)
    # `recipe`: two 128x64 pastes side by side (alpha 0.7). `rich`: k people at random scales,
    # occlusion order, targets that follow what stays visible.
    mode: str = "recipe"
    alpha: float = 0.7
    # rich mode only: number of extra distractor people and the paste-height range (fraction of H).
    max_distractors: int = 3
    scale_range: tuple[float, float] = (0.35, 0.75)
    # A target cell is positive when at least this fraction of it is covered by the paste.
    cell_coverage: float = 0.5
    # Target grid cell in pixels: the backbone's patch size, so targets are (H / cell, W / cell).
    cell: int = 16


@dataclass
class CSMConfig:
    enabled: bool = True
    weight: float = 1.0
    # Weight of the last-block attention + value-relation KL on the two same-view pairs.
    attn_weight: float = 1.0
    out_dim: int = 65536
    hidden_dim: int = 2048
    bottleneck_dim: int = 256
    student_temp: float = 0.1
    # Teacher temperature: anything above 0.07 risks collapse early on (DINO's advice).
    teacher_temp: float = 0.04
    # The teacher temperature rises linearly from warmup_teacher_temp to teacher_temp over this
    # many epochs (DINO: 0.04 -> 0.07 over 30); 0 keeps teacher_temp throughout (the recipe).
    warmup_teacher_temp: float = 0.04
    warmup_teacher_temp_epochs: float = 0.0
    center_momentum: float = 0.9
    # Weight of the KoLeo regulariser on the student's global class tokens (DINOv2 uses 0.1; the
    # recipe 0): it keeps a young network's embeddings from drifting together.
    koleo_weight: float = 0.0
    # How teacher logits become targets: `center` (the recipe: subtract a running mean, then
    # sharpen) or `sinkhorn` (DINOv2's Sinkhorn-Knopp equipartition over the batch; the centre is
    # then unused). Sinkhorn suits small batches and short runs (docs/objectives.md).
    teacher_norm: str = "center"
    # What the student matches: `prototypes` (the recipe: cross-entropy to the teacher's targets
    # over K prototypes) or `contrastive` (InfoNCE: each student view must pick its own image's
    # teacher global-view embedding among the batch's, MoCo-style; no prototypes, no centre, so
    # out_dim, teacher_norm and the teacher temperatures are unused). Why: with few images and a
    # young network, prototype targets cluster by the easiest cue (the camera), while in-batch
    # negatives from the same camera make that cue useless (docs/objectives.md).
    criterion: str = "prototypes"
    contrastive_temp: float = 0.2


@dataclass
class CSRConfig:
    enabled: bool = True
    weight: float = 1.0
    mask_ratio: float = 0.75
    # Upscale factor of global view 2 before masking (recipe: 1.25 -> 320x160).
    scale: float = 1.25
    decoder_dim: int = 512
    decoder_depth: int = 8
    decoder_heads: int = 16
    norm_pix_loss: bool = True
    # Also feed the masked view's own (intermediate) class token to the decoder, before the anchor's,
    # as the research code does; method.md names only the anchor's (docs/objectives.md measures both).
    masked_cls: bool = False


@dataclass
class CSSConfig:
    enabled: bool = True
    inst_weight: float = 1.0
    roi_weight: float = 1.0
    dim: int = 512
    query_depth: int = 2
    heads: int = 16
    mask_convs: int = 3


@dataclass
class TeacherConfig:
    # EMA momentum follows a cosine from this value to 1.0 over all optimizer steps.
    momentum: float = 0.996


@dataclass
class OptimConfig:
    # lr = base_lr * effective_batch / 256 (effective = batch x world size x accumulation).
    base_lr: float = 2.5e-4
    min_lr: float = 0.0
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_epochs: float = 10.0
    # 0 disables clipping.
    clip_grad: float = 0.0


@dataclass
class TrainConfig:
    epochs: int = 300
    # When > 0, the schedule length in optimizer steps; overrides epochs x steps per epoch.
    total_steps: int = 0
    batch_size: int = 64
    accum_steps: int = 1
    seed: int = 0
    device: str = "auto"
    # Autocast on CUDA: bf16 (no loss scaling needed), fp16 (with a grad scaler) or fp32.
    # CPU always runs fp32.
    precision: str = "bf16"
    # Regional torch.compile of the blocks and decoders (saip/train/compile.py): auto (on for CUDA,
    # off for CPU), true or false. The first steps compile; `compile_s` in summary.json.
    compile: str = "auto"
    log_every: int = 10
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    picture_every: int = 500
    # Consecutive non-finite losses after which the run stops (the last good checkpoint stays).
    max_nonfinite: int = 10
    # Export the teacher ("expert encoder") or the student backbone at the end of the run.
    export: str = "teacher"
    # Labelled probe set (Market-1501 layout) for the online frozen ReID probe; empty disables it;
    # "synth" generates a small synthetic one (saip.synth, preset reid) in the run directory.
    probe_data: str = ""
    probe_every: int = 1000


@dataclass
class PretrainConfig:
    name: str = "saip"
    out: str = ""
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    views: ViewsConfig = field(default_factory=ViewsConfig)
    scene: SceneConfig = field(default_factory=SceneConfig)
    csm: CSMConfig = field(default_factory=CSMConfig)
    csr: CSRConfig = field(default_factory=CSRConfig)
    css: CSSConfig = field(default_factory=CSSConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


CHECKOUT_CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def bundled_config_dirs() -> list[Path]:
    """Where saip's own configs are: a source checkout's `configs/`, else the copy that the wheel
    installs under `<prefix>/share/saip/configs` (pyproject's data-files; `--user` installs too)."""
    schemes = {sysconfig.get_default_scheme(), sysconfig.get_preferred_scheme("user")}
    installed = [Path(sysconfig.get_path("data", s)) / "share" / "saip" / "configs" for s in sorted(schemes)]
    return [d for d in dict.fromkeys([CHECKOUT_CONFIGS, *installed]) if d.is_dir()]


def find_config(file: str | Path) -> Path:
    """`file` when it exists, else the bundled config it names, so that the README's commands work
    outside a checkout: `demo`, `demo.yaml`, `configs/demo.yaml`, `reid_cpu`, `eval/reid_cpu.yaml`."""
    path = Path(file)
    if path.is_file():
        return path
    rel = Path(*path.parts[1:]) if path.parts[:1] == ("configs",) else path
    if not path.is_absolute():
        names = [rel, rel.with_name(rel.name + ".yaml")] if rel.suffix != ".yaml" else [rel]
        for folder in bundled_config_dirs():
            for name in names:
                for candidate in (folder / name, folder / "eval" / name):
                    if candidate.is_file():
                        return candidate
    where = ", ".join(str(d) for d in bundled_config_dirs()) or "none found"
    raise ConfigError(f"config file not found: {path} (nor among saip's configs: {where})")


def load_config(schema: type[T], file: str | Path | None = None, overrides: list[str] = ()) -> T:
    """Merge schema defaults, an optional YAML file, then `key=value` overrides, with type checks.

    `file` is a path or the name of a bundled config (`find_config`). Returns an OmegaConf object
    typed as the schema (attribute access, `OmegaConf.to_yaml`).
    `key=` sets the empty string (OmegaConf alone reads null, which a `str` field refuses).
    """
    cfg = OmegaConf.structured(schema)
    try:
        if file is not None:
            cfg = OmegaConf.merge(cfg, OmegaConf.load(find_config(file)))
        bad = [o for o in overrides if "=" not in o]
        if bad:
            raise ConfigError(f"overrides must be key=value, got: {' '.join(bad)}")
        # One at a time: a dotlist keeps only the last value of a repeated key, so a bad value
        # overridden later (e.g. `train.batch_size=abc` then `--batch-size 4`) would go unchecked.
        for o in overrides:
            try:
                cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist([f"{o}''" if o.endswith("=") else o]))
            except OmegaConfBaseException as err:
                raise ConfigError(f"bad override {o}: {err}".splitlines()[0]) from err
    except OmegaConfBaseException as err:
        raise ConfigError(f"bad config: {err}".splitlines()[0]) from err
    return cfg  # type: ignore[return-value]


def to_yaml(cfg: Any) -> str:
    return OmegaConf.to_yaml(cfg)


def to_dict(cfg: Any) -> dict[str, Any]:
    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    return dataclasses.asdict(cfg)

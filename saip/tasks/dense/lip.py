"""LIP (Look Into Person, Gong et al., CVPR 2017) human parsing as distributed.

Layout: `ROOT/TrainVal_images/{train,val}_images/<id>.jpg`,
`ROOT/TrainVal_parsing_annotations/{train,val}_segmentations/<id>.png` (class index per pixel,
20 classes, 255 ignored) and the id lists `ROOT/{train,val}_id.txt`. Samples are the whole image
fitted into the input (aspect kept, padding ignored); training adds random scale, rotation and a
mirror that swaps the left/right classes. Evaluation predicts on that crop and warps the logits
back to the original image, where the confusion matrix is counted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from torch import Tensor
from torch.utils.data import Dataset
from torchvision.transforms.v2 import functional as TF

from saip.errors import DataError
from saip.tasks.data.checks import decode_image, header_size, missing_files
from saip.tasks.dense.affine import box_to_region, region_matrix, warp_image
from saip.tasks.dense.flip import swap_index

LIP_CLASSES = (
    "background",
    "hat",
    "hair",
    "glove",
    "sunglasses",
    "upper_clothes",
    "dress",
    "coat",
    "socks",
    "pants",
    "jumpsuits",
    "scarf",
    "skirt",
    "face",
    "left_arm",
    "right_arm",
    "left_leg",
    "right_leg",
    "left_shoe",
    "right_shoe",
)
LIP_PAIRS = ((14, 15), (16, 17), (18, 19))
IGNORE = 255


def lip_files(root: str | Path, split: str) -> list[tuple[Path, Path]]:
    """(image, label) paths of a split, checked to exist; raises naming the first thing missing."""
    root = Path(root)
    ids_file = root / f"{split}_id.txt"
    image_dir = root / "TrainVal_images" / f"{split}_images"
    label_dir = root / "TrainVal_parsing_annotations" / f"{split}_segmentations"
    for need in (ids_file, image_dir, label_dir):
        if not need.exists():
            raise ValueError(f"{root} is not in the LIP layout: {need} is missing")
    ids = [line.strip() for line in ids_file.read_text().splitlines() if line.strip()]
    if not ids:
        raise ValueError(f"{ids_file} lists no images")
    pairs = [(image_dir / f"{i}.jpg", label_dir / f"{i}.png") for i in ids]
    missing_files([p for pair in pairs for p in pair], f"LIP {split}")
    sizes = [(header_size(image), header_size(label)) for image, label in pairs]
    mismatched = [k for k, (image, label) in enumerate(sizes) if image != label]
    if mismatched:
        (image, label), (image_size, label_size) = pairs[mismatched[0]], sizes[mismatched[0]]
        raise DataError(
            f"LIP {split}: {len(mismatched)} labels differ in size from their image, first {label} "
            f"is {label_size} (W, H) but {image} is {image_size}"
        )
    return pairs


def load_label(path: Path) -> np.ndarray:
    """A label map [H, W] as class indices, refused (naming the file) when a value is not a LIP
    class or IGNORE: cross-entropy would otherwise fail on the device without saying where."""
    with Image.open(path) as lab:
        label = np.asarray(lab.convert("L") if lab.mode not in ("L", "P") else lab, dtype=np.int64)
    bad = np.unique(label[(label >= len(LIP_CLASSES)) & (label != IGNORE)])
    if bad.size:
        raise DataError(
            f"{path}: label values {bad[:5].tolist()} outside 0..{len(LIP_CLASSES) - 1} and {IGNORE}"
        )
    return label


def check_pair(pair: tuple[Path, Path]) -> None:
    """`--check-data`: the image decodes and its label loads with in-range values at its size."""
    image, label = pair
    if decode_image(image) != load_label(label).shape[::-1]:
        raise DataError(f"{label}: its size differs from its image {image}")


class LIPDataset(Dataset):
    """{"image" [3, H, W], "label" [H, W] int64 (255 ignored), "index"}; with `train`, random scale
    (std `scale`, clipped to +-2 std), rotation (std `rotation` degrees, p 0.6) and mirror."""

    num_classes = len(LIP_CLASSES)

    def __init__(
        self,
        files: list[tuple[Path, Path]],
        input_size: tuple[int, int],
        *,
        train: bool = False,
        scale: float = 0.25,
        rotation: float = 30.0,
    ) -> None:
        self.files = files
        self.input_size = tuple(input_size)
        self.train = train
        self.scale = scale
        self.rotation = rotation
        self.swap = torch.as_tensor(np.append(swap_index(self.num_classes, LIP_PAIRS), IGNORE))

    def __len__(self) -> int:
        return len(self.files)

    def geometry(self, image_size: tuple[int, int]) -> tuple[np.ndarray, bool]:
        """[2, 3] image -> input affine for an image of size (H, W), and whether it mirrors."""
        # the whole image: pixel centres 0..W-1 span [-0.5, W - 0.5]
        center, size = box_to_region((-0.5, -0.5, image_size[1], image_size[0]), self.input_size, padding=1.0)
        if not self.train:
            return region_matrix(center, size, self.input_size), False
        scale = 1.0 + self.scale * float(torch.randn(()).clamp(-2, 2))
        rotation = self.rotation * float(torch.randn(()).clamp(-2, 2)) if float(torch.rand(())) < 0.6 else 0.0
        flip = float(torch.rand(())) < 0.5
        return region_matrix(center, size * scale, self.input_size, rotation, flip), flip

    def __getitem__(self, index: int) -> dict[str, Tensor | int]:
        image_path, label_path = self.files[index]
        with Image.open(image_path) as img:
            image = img.convert("RGB")
        label = Image.fromarray(load_label(label_path).astype(np.uint8))
        if label.size != image.size:
            raise DataError(f"{label_path} is {label.size} (W, H) but its image is {image.size}")
        matrix, flip = self.geometry((image.height, image.width))
        crop = warp_image(image, matrix, self.input_size)
        target = torch.from_numpy(
            np.asarray(
                warp_image(label, matrix, self.input_size, nearest=True, fill=IGNORE), dtype=np.int64
            ).copy()
        )
        if flip:  # a left arm now looks like a right arm; `swap` maps slot num_classes to IGNORE
            target = self.swap[torch.where(target == IGNORE, self.num_classes, target)]
        tensor = TF.normalize(
            TF.to_dtype(TF.to_image(crop), torch.float32, scale=True),
            list(IMAGENET_DEFAULT_MEAN),
            list(IMAGENET_DEFAULT_STD),
        )
        return {"image": tensor, "label": target, "index": index}

    def original(self, index: int) -> tuple[Tensor, np.ndarray]:
        """Full-resolution label [H, W] of sample `index` and its image -> input affine (eval sets only)."""
        if self.train:
            raise ValueError("original() is for evaluation sets: a training sample's geometry is random")
        label = torch.from_numpy(load_label(self.files[index][1]))
        return label, self.geometry((label.shape[0], label.shape[1]))[0]

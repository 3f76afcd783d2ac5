"""Dataset checks that turn a bad file into one `DataError` line, and the `--check-data` scan.

Readers validate what is cheap before any work (annotation records, that every listed file exists,
image header sizes); decoding every image is left to `saip eval TASK --check-data`, which runs
`scan` over the whole set without building a model.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from PIL import Image

from saip.errors import DataError

log = logging.getLogger(__name__)
T = TypeVar("T")
SHOWN = 3  # problems named in a failed scan's message


def read_json(path: Path) -> Any:
    """`json.load`, a truncated or non-JSON file failing with its name and where parsing stopped."""
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise DataError(
            f"{path}: not valid JSON at line {err.lineno}, column {err.colno} ({err.msg})"
        ) from err
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not a text (JSON) file") from err


def decode_image(path: Path) -> tuple[int, int]:
    """Decode the whole image (a header can be intact over truncated pixels); its (W, H)."""
    try:
        with Image.open(path) as im:
            im.load()
            return im.size
    except OSError as err:  # PIL's UnidentifiedImageError and truncated-data errors are OSErrors
        raise DataError(f"{path}: does not decode ({err})") from err


def header_size(path: Path) -> tuple[int, int]:
    """(W, H) from the image header alone, without decoding the pixels."""
    try:
        with Image.open(path) as im:
            return im.size
    except OSError as err:
        raise DataError(f"{path}: not a readable image ({err})") from err


def missing_files(paths: Sequence[Path], what: str) -> None:
    """Fail before work when any listed file is absent, naming the first and the count."""
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise DataError(
            f"{what}: {len(missing)} of {len(paths)} listed files are missing, first {missing[0]}"
        )


def scan(items: Sequence[T], check: Callable[[T], object], what: str) -> None:
    """`--check-data`: run `check` on every item; a summary line, else a `DataError` naming the first
    problems (the whole set is scanned so the count is the real one)."""
    problems = []
    for item in items:
        try:
            check(item)
        except DataError as err:
            problems.append(str(err))
    if problems:
        raise DataError(
            f"{what}: {len(problems)} of {len(items)} samples are bad: {'; '.join(problems[:SHOWN])}"
        )
    log.info("%s: all %d samples decode and their labels are in range", what, len(items))

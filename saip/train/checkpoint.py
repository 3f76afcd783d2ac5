"""Checkpoints that survive a kill at any moment and load with `weights_only=True`.

Why atomic: a run killed while writing must leave the previous `last.pt` intact, so we write a
temporary file in the same folder, fsync it, then `os.replace` it over the target (atomic on POSIX).
Why plain types: `torch.load(weights_only=True)` refuses arbitrary pickles, so RNG states are
stored as tensors and lists.
"""

from __future__ import annotations

import os
import pickle
import random
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import torch

from saip.errors import DISK_FULL, DiskFullError
from saip.train.faults import fault_point

TMP_SUFFIX = ".tmp"  # temporary files are `.<name>.<random>.tmp` beside their target


def _new_file_mode() -> int:
    """The mode `open()` gives a new file (0o666 less the umask); mkstemp's 0o600 would hide
    checkpoints from the group that shares the run directory."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def save_atomic(obj: Any, path: str | Path) -> Path:
    """`torch.save` to `path` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        os.fchmod(fd, _new_file_mode())
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        fault_point("checkpoint_before_rename")
        os.replace(tmp, path)
    except BaseException as err:
        _failed(err, Path(tmp), path)
    return path


def _failed(err: BaseException, tmp: Path, path: Path) -> NoReturn:
    """Remove the temporary file of a failed write; a full disk becomes a one-line error."""
    tmp.unlink(missing_ok=True)
    if isinstance(err, OSError) and err.errno in DISK_FULL:
        raise DiskFullError(
            f"no space left on the device writing {path}; the previous {path.name}, if any, is intact"
        ) from err
    raise err


def link_atomic(src: str | Path, dst: str | Path) -> Path:
    """Make `dst` a second name of `src`'s file, replacing `dst` atomically.

    A hard link: the same state is not serialised and written twice. Safe because checkpoints are
    never written in place (`save_atomic` renames a new file over its target). Where the filesystem
    has no hard links, a copy."""
    src, dst = Path(src), Path(dst)
    tmp = dst.with_name(f".{dst.name}.{secrets.token_hex(6)}{TMP_SUFFIX}")
    try:
        try:
            os.link(src, tmp)
        except OSError:  # EPERM, EXDEV, ENOTSUP: no hard links here
            shutil.copyfile(src, tmp)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        os.replace(tmp, dst)
    except BaseException as err:
        _failed(err, tmp, dst)
    return dst


def remove_stale_temps(folder: str | Path) -> list[Path]:
    """Delete the temporary files of writes killed before their rename; returns them."""
    stale = sorted(Path(folder).glob(f".*{TMP_SUFFIX}"))
    for tmp in stale:
        tmp.unlink(missing_ok=True)
    return stale


class CheckpointError(ValueError):
    """A checkpoint file that cannot be loaded: a one-line user error, not a traceback."""


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint written by `save_atomic` on CPU, never unpickling arbitrary objects.

    Always CPU: RNG states must be CPU ByteTensors, and `load_state_dict` moves the rest. Errors
    name the file; torch's own advice (load with weights_only=False, i.e. run its code) is dropped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"{path}: refused, not plain tensors and data (corrupt, or holding Python objects that "
            "saip never unpickles: only saip checkpoints load)"
        ) from err
    except (EOFError, OSError, RuntimeError) as err:  # OSError: a seek past the end of a cut file
        raise CheckpointError(
            f"{path}: unreadable, truncated or corrupt ({path.stat().st_size} bytes)"
        ) from err


def rng_state() -> dict[str, Any]:
    """Every RNG the run uses, as tensors and lists (weights_only-safe)."""
    version, keys, gauss = random.getstate()
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(keys), gauss],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, keys, gauss = state["python"]
    random.setstate((version, tuple(keys), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def prune_checkpoints(folder: str | Path, keep: int, pattern: str = "step_*.pt") -> None:
    """Keep the `keep` newest periodic checkpoints (names sort by step); `last.pt` is never touched."""
    files = sorted(Path(folder).glob(pattern))
    for old in files[: max(len(files) - keep, 0)]:
        old.unlink(missing_ok=True)

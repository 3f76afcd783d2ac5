"""The run directory: resolved config, JSON-lines log, plain-text log, TensorBoard events, pictures,
checkpoints.

One folder holds everything about a run (DINOv2-style), so a run can be read, resumed and
exported from its directory alone. Only rank 0 writes.
"""

from __future__ import annotations

import fcntl
import json
import logging
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from PIL import Image

from saip.config import to_yaml
from saip.errors import OutputDirError, RunDirBusy, make_output_dir
from saip.train.checkpoint import remove_stale_temps
from saip.train.faults import fault_point

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _git_sha() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def write_text_atomic(path: Path, text: str) -> None:
    """Write through a temporary file and a rename, so readers never see half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def lock_run_dir(path: Path) -> IO[str]:
    """Hold an exclusive `flock` on `path/.lock` (with our pid inside) until the returned file closes.

    Two writers would interleave `log.jsonl` rows and remove each other's checkpoint temporaries.
    The kernel drops the lock when the holder dies (even by kill -9), so `--resume auto` works
    after a kill; a RunDir dropped without `close()` releases it when garbage-collected."""
    lock = path / ".lock"
    try:
        f = open(lock, "a+")  # held open for the run's lifetime
    except OSError as err:
        raise OutputDirError(f"run directory {path}: cannot create {lock.name} ({err.strerror})") from err
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read(32).strip() or "unknown"
        f.close()
        raise RunDirBusy(
            f"run directory {path} is in use by another run (pid {holder}); wait for it or choose another --out"
        ) from None
    f.truncate(0)
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f


def _plain(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/inf; keep the information as text
    return value


class RunDir:
    """Paths and writers of one run; every writer is a no-op on ranks other than 0.

    `log_file` (e.g. `train.log`): saip's log records, INFO and up, are appended there as plain
    lines (no progress bar) until `close()`, whatever level the console shows."""

    def __init__(
        self, path: str | Path, *, rank: int = 0, tensorboard: bool = True, log_file: str | None = None
    ) -> None:
        self.path = Path(path)
        self.is_main = rank == 0
        self.checkpoints = self.path / "checkpoints"
        self.pictures = self.path / "pictures"
        self._tb: Any = None
        self._tensorboard = tensorboard and self.is_main
        self._purge_step: int | None = None  # set by `begin_log`
        self._lock: IO[str] | None = None
        self._config_text: str | None = None  # for TensorBoard, once its writer opens
        self._file_log: tuple[logging.Handler, int] | None = None  # (handler, saip's previous level)
        if self.is_main:
            make_output_dir(self.path)
            self._lock = lock_run_dir(self.path)  # before touching anything another run may own
            for folder in (self.checkpoints, self.pictures):
                make_output_dir(folder)
            for stale in remove_stale_temps(self.checkpoints):
                log.info("removed %s, left by a checkpoint write that was killed", stale)
            if log_file:
                self._file_log = _attach_file_log(self.path / log_file)

    def save_config(self, cfg: Any) -> None:
        if not self.is_main:
            return
        versions = f"# saip git {_git_sha()}, torch {torch.__version__}, python {sys.version.split()[0]}\n"
        self._config_text = versions + to_yaml(cfg)
        (self.path / "config.yaml").write_text(self._config_text)

    def begin_log(self, resumed_step: int | None) -> None:
        """Make the run record hold exactly the steps before this process's first: up to
        `resumed_step` when resuming, nothing on a fresh start.

        A killed run leaves rows (and TensorBoard events) past its last checkpoint, and maybe a
        partial last line: `log.jsonl` is rewritten atomically, TensorBoard purges the rest."""
        if not self.is_main:
            return
        keep = -1 if resumed_step is None else resumed_step
        kept = [json.dumps(r) + "\n" for r in self.read_log() if r.get("step", 0) <= keep]
        write_text_atomic(self.path / "log.jsonl", "".join(kept))
        self._purge_step = keep + 1

    def _writer(self) -> Any:
        """The TensorBoard writer, opened on first use (after `begin_log` set the purge step)."""
        if self._tb is None and self._tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(self.path / "tb"), purge_step=self._purge_step)
            if self._config_text is not None:  # indented: Markdown shows it verbatim
                config = "".join(f"    {line}\n" for line in self._config_text.splitlines())
                self._tb.add_text("config", config, self._purge_step or 0)
        return self._tb

    def log(self, record: dict[str, Any], *, step: int) -> None:
        """Append one JSON object to `log.jsonl` and mirror scalars to TensorBoard."""
        if not self.is_main:
            return
        record = {"step": step, **{k: _plain(v) for k, v in record.items()}}
        with open(self.path / "log.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        fault_point("after_log_row")
        writer = self._writer()
        if writer is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    writer.add_scalar(key, value, step)

    def add_picture(self, png: Path, *, step: int, tag: str | None = None) -> None:
        """Mirror a PNG the run wrote (`pictures/...`) to TensorBoard's image tab (tag: its stem)."""
        writer = self._writer() if self.is_main else None
        if writer is not None:
            with Image.open(png) as image:
                pixels = np.asarray(image.convert("RGB"))
            writer.add_image(tag or png.stem, pixels, step, dataformats="HWC")

    def read_log(self) -> list[dict[str, Any]]:
        """The log's rows; a line that is not JSON (cut short by a kill mid-write) is skipped."""
        path = self.path / "log.jsonl"
        if not path.exists():
            return []
        records = []
        for line in path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                if line.strip():
                    log.warning("%s: skipping a line that is not JSON: %.60s", path, line)
        return records

    def write_json(self, name: str, data: Any) -> Path:
        path = self.path / name
        if self.is_main:
            write_json_atomic(path, data)
        return path

    def close(self) -> None:
        """Flush TensorBoard, close the log file and release the run directory's lock."""
        if self._file_log is not None:
            _detach_file_log(*self._file_log)
            self._file_log = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _attach_file_log(path: Path) -> tuple[logging.Handler, int]:
    """Append saip's records to `path`; the `saip` logger is lowered to INFO meanwhile (a caller
    that shows only warnings then sees saip's INFO lines on its console handlers too)."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter(LOG_FORMAT, datefmt="%Y-%m-%d %H:%M:%S"))
    logger = logging.getLogger("saip")
    previous = logger.level
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    return handler, previous


def _detach_file_log(handler: logging.Handler, previous: int) -> None:
    logger = logging.getLogger("saip")
    logger.removeHandler(handler)
    logger.setLevel(previous)
    handler.close()

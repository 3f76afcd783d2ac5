"""saip: scale-aware self-supervised pretraining of small person backbones.

The Python API (`create_backbone`, `load_backbone`, `pretrain`, `evaluate`; see `saip.api`; and
`evaluate_all`, see `saip.suite`) is imported on first use, so that `import saip` and `saip synth` stay free of torch.
"""

from __future__ import annotations

import importlib
import re
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from saip.api import create_backbone, evaluate, load_backbone, pretrain
    from saip.suite import evaluate_all

__all__ = ["__version__", "create_backbone", "evaluate", "evaluate_all", "load_backbone", "pretrain"]
# Public name -> the module defining it.
_API = {name: "saip.api" for name in __all__[1:]} | {"evaluate_all": "saip.suite"}


def _version() -> str:
    """The installed distribution's version; a source checkout on PYTHONPATH reads pyproject.toml."""
    try:
        return metadata.version("saip")
    except metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        text = pyproject.read_text() if pyproject.is_file() else ""
        found = re.search(r'^version = "([^"]+)"', text, re.MULTILINE)
        return found.group(1) if found else "0+unknown"


__version__ = _version()


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'saip' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})

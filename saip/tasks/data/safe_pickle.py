"""Reading the split pickles that attribute toolkits ship, without running arbitrary code.

Why: `pickle.load` executes whatever a file names; a split file downloaded from a toolkit must
only ever produce plain containers and numpy arrays. `easydict.EasyDict` (how the toolkits store
their splits) is read as a plain dict.
"""

from __future__ import annotations

import builtins
import codecs
import copyreg
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np


class _AttrDict(dict):
    """Stands in for `easydict.EasyDict`: a dict whose pickled attribute state is accepted and dropped."""

    def __setstate__(self, state: Any) -> None:
        pass


# The callables numpy's own pickles name (their module moved from numpy.core to numpy._core in 2.0).
_NUMPY = {
    "_reconstruct": np.ndarray((0,)).__reduce__()[0],
    "_frombuffer": np.ones(1).__reduce_ex__(5)[0],
    "scalar": np.float64(0).__reduce__()[0],
    "dtype": np.dtype,
    "ndarray": np.ndarray,
}
_ALLOWED: dict[tuple[str, str], Any] = {
    **{
        ("builtins", n): getattr(builtins, n) for n in ("dict", "list", "tuple", "set", "frozenset", "object")
    },
    ("easydict", "EasyDict"): _AttrDict,
    ("copyreg", "_reconstructor"): copyreg._reconstructor,
    ("_codecs", "encode"): codecs.encode,  # how protocols 0-2 spell bytes (numpy array buffers)
}

_PY2_MODULES = {"copy_reg": "copyreg", "__builtin__": "builtins"}  # names in protocol 0-2 pickles


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        module = _PY2_MODULES.get(module, module)
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module.split(".")[0] == "numpy" and name in _NUMPY:
            return _NUMPY[name]
        raise pickle.UnpicklingError(
            f"refusing to load {module}.{name}: only plain containers and numpy arrays"
        )


def load_plain_pickle(path: str | Path) -> Any:
    """Unpickle `path`, admitting only dict / list / tuple / set / numbers / strings / numpy arrays."""
    data = Path(path).read_bytes()
    try:
        return _RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except pickle.UnpicklingError as err:
        raise ValueError(f"{path}: {err}") from err

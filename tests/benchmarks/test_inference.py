"""The inference benchmark runs every non-compiled variant side by side and reports parity."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
ROOT = Path(__file__).resolve().parents[2]


def _benchmark():
    """benchmarks/inference.py as a module (benchmarks/ is not a package)."""
    if "inference_benchmark" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "inference_benchmark", ROOT / "benchmarks" / "inference.py"
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules["inference_benchmark"] = module
        spec.loader.exec_module(module)
    return sys.modules["inference_benchmark"]


def test_inference_benchmark_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    rows = _benchmark().main(
        ["--backbone", "vit_micro", "--img-size", "32", "32", "--batches", "1", "2", "--threads", "1"]
        + ["--rounds", "2", "--variants", "eager", "onnx", "int8", "--reid", ""]
    )
    assert [(r["batch"], r["variant"]) for r in rows] == [
        (b, v) for b in (1, 2) for v in ("eager", "onnx", "int8")
    ]
    by_variant = {r["variant"]: r for r in rows}
    assert by_variant["eager"]["speedup"] == 1.0 and by_variant["eager"]["max_diff"] == 0.0
    assert by_variant["onnx"]["max_diff"] < 1e-4 and by_variant["onnx"]["cos_min"] > 0.9999
    assert all(r["ms_per_img"] > 0 for r in rows)
    assert "| 1 | 2 | int8 |" in capsys.readouterr().out

"""ONNX export: one graph for any batch and input size, selectable outputs, and its int8 twin."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from saip.cli import main
from saip.export.weights import export_backbone
from saip.models.backbone import Backbone

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
onnx = pytest.importorskip("onnx")

from saip.export.int8 import feature_cosine, quantize_int8  # noqa: E402 (after the skips)
from saip.export.onnx import Outputs, ParityError, export_onnx, max_difference, session  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, trained_like: Backbone):  # noqa: ANN201
    return export_onnx(trained_like, tmp_path_factory.mktemp("onnx") / "backbone.onnx", outputs="both")


def test_dynamic_graph_matches_eager(exported, trained_like: Backbone) -> None:  # noqa: ANN001
    assert exported.outputs == ("embedding", "tokens") and exported.max_diff < 1e-4
    sess = session(exported.path)
    batch, _, h, w = sess.get_inputs()[0].shape
    assert isinstance(batch, str) and isinstance(h, str) and isinstance(w, str)  # symbolic, not frozen
    # Sizes the export never saw: tall, wide, square, one patch row; pos-embed resampled in the graph.
    sizes = [(5, 32, 48), (2, 48, 48), (1, 16, 64)]
    model = Outputs(trained_like, exported.outputs).eval()
    assert max_difference(model, sess, sizes) < 1e-4
    emb, tokens = sess.run(None, {"images": np.zeros((2, 3, 48, 32), np.float32)})
    assert emb.shape == (2, 48) and tokens.shape == (2, 3 * 2, 48)


def test_int8_close_to_fp32_and_smaller(exported) -> None:  # noqa: ANN001
    images = torch.randn(16, 3, 64, 32, generator=torch.Generator().manual_seed(3)).numpy()
    q = quantize_int8(exported.path, images)
    assert q.path.name == "backbone_int8.onnx" and q.path.parent == exported.path.parent
    assert q.cosine_mean >= 0.99 and q.cosine_min >= 0.98
    ops = Counter(n.op_type for n in onnx.load(str(q.path)).graph.node)
    assert ops["DynamicQuantizeMatMul"] + ops["MatMulInteger"] >= 4 * 4  # qkv, proj, fc1, fc2 per block
    # int8 matrices; the fp32 conv stem is a quarter of vit_micro's weights (3 % of ViT-Tiny's).
    assert q.path.stat().st_size < 0.7 * exported.path.stat().st_size
    # Other sizes and batches: still int8 features close to fp32's.
    x = {"images": torch.randn(3, 3, 96, 48).numpy()}
    cos = feature_cosine(session(exported.path).run(None, x), session(q.path).run(None, x))
    assert cos.mean() >= 0.99
    with pytest.raises(ParityError, match="cosine mean"):
        quantize_int8(exported.path, images, min_mean=1.0)


def test_cli_onnx_tokens_and_int8(tmp_path: Path, trained_like: Backbone, capsys) -> None:  # noqa: ANN001
    export_backbone(trained_like, tmp_path / "w")
    source = str(tmp_path / "w" / "backbone.safetensors")
    out = tmp_path / "cli"
    assert main(["export", source, "--out", str(out), "--onnx-output", "tokens", "--int8"]) == 0
    assert "cosine to fp32" in capsys.readouterr().out
    for name in ("backbone.onnx", "backbone_int8.onnx"):
        assert [o.name for o in session(out / name).get_outputs()] == ["tokens"]

"""`saip eval text` end to end on a tiny generated CUHK-PEDES set: fine-tune with resume, the frozen
protocol with the bag-of-words encoder, the saved similarity, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from saip.cli import main
from saip.config import load_config
from saip.synth import generate
from saip.tasks.retrieval_metrics import text_retrieval_metrics
from saip.tasks.text import FORMATS, PROTOCOLS, TextConfig

TINY = [
    "--device",
    "cpu",
    "--batch-size",
    "8",
    "--log-every",
    "1",
    "model.backbone=vit_micro",
    "model.img_size=[64,32]",
    "model.drop_path=0",
    "text.width=16",
    "text.depth=1",
    "text.heads=2",
    "text.embed_dim=16",
    "train.num_workers=0",
    "train.eval_batch_size=32",
]
CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "eval"
KEYS = {"R1", "R5", "R10", "mAP", "mINP"}


@pytest.fixture(scope="module")
def pedes_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CUHK-PEDES layout: 24 images per split (2 to 3 per identity), two captions per image."""
    return generate("text", tmp_path_factory.mktemp("pedes"), seed=0, limit=24)


def _eval(root: Path, out: Path, *extra: str) -> int:
    return main(["eval", "text", "--data", str(root), "--weights", "none", "--out", str(out), *TINY, *extra])


@pytest.mark.slow
def test_finetune_resume_and_similarity(pedes_root, tmp_path) -> None:
    out = tmp_path / "finetune"
    assert _eval(pedes_root, out, "--max-steps", "1", "text.itc_weight=0.5") == 0
    tokenizer = (out / "tokenizer.json").read_text()
    assert (
        _eval(
            pedes_root,
            out,
            "--max-steps",
            "2",
            "--resume",
            "auto",
            "--save-similarity",
            "text.itc_weight=0.5",
        )
        == 0
    )
    assert (out / "tokenizer.json").read_text() == tokenizer  # reloaded, not retrained
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss_sdm" in r] == [1, 2]
    assert all(
        {"loss_id", "loss_itc"} <= set(r) and np.isfinite(r["loss"]) for r in records if "loss_sdm" in r
    )
    assert torch.load(out / "checkpoints" / "last.pt", weights_only=True)["step"] == 2
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == KEYS and all(0.0 <= v <= 1.0 for v in metrics.values())
    saved = np.load(out / "similarity.npz")
    assert saved["sim"].shape == (len(saved["caption_pids"]), len(saved["image_pids"]))
    assert saved["sim"].shape[0] == 2 * saved["sim"].shape[1] and np.abs(saved["sim"]).max() <= 1 + 1e-5
    again = text_retrieval_metrics(saved["sim"], saved["caption_pids"], saved["image_pids"])
    assert again == pytest.approx(metrics)  # the saved similarities are the ones the metrics came from
    assert (out / "pictures" / "text_retrieval.png").is_file()


@pytest.mark.slow
def test_frozen_bag_of_words_trains_only_the_text_side(pedes_root, tmp_path) -> None:
    out = tmp_path / "frozen"
    args = [
        "--protocol",
        "frozen",
        "--max-steps",
        "3",
        "text.encoder=bow",
        "text.picture_captions=0",
        "text.split=val",
    ]
    assert _eval(pedes_root, out, *args) == 0
    state = torch.load(out / "checkpoints" / "last.pt", weights_only=True)["model"]
    assert not any(k.startswith("backbone.") for k in state)  # the frozen backbone is not trained
    assert "text_encoder.token_embed.weight" in state and not any("encoder.layers" in k for k in state)
    assert set(json.loads((out / "metrics.json").read_text())) == KEYS


def test_bad_input_fails_before_anything_is_written(pedes_root, tmp_path, caplog) -> None:
    out = tmp_path / "bad"
    assert _eval(tmp_path, out) == 2
    assert "not in the cuhk_pedes layout" in caplog.text
    assert _eval(pedes_root, out, "text.encoder=lstm") == 2
    assert "unknown text.encoder 'lstm'" in caplog.text
    assert _eval(pedes_root, out, "--batch-size", "1000") == 2
    assert "exceeds the" in caplog.text
    broken = tmp_path / "broken"
    (broken / "imgs").mkdir(parents=True)
    records = json.loads((pedes_root / "reid_raw.json").read_text())
    records[3]["id"] = "x7"
    (broken / "reid_raw.json").write_text(json.dumps(records))
    assert _eval(broken, out) == 2
    assert f"reid_raw.json: record 3 ({records[3]['file_path']!r}): id 'x7' is not an integer" in caplog.text
    assert not out.exists()


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("text_*.yaml")), ids=lambda p: p.stem)
def test_configs_load(path) -> None:
    cfg = load_config(TextConfig, path)
    assert cfg.format in FORMATS and cfg.protocol in PROTOCOLS and cfg.text.width % cfg.text.heads == 0

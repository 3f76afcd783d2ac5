"""Text-retrieval readers (CUHK-PEDES, ICFG-PEDES, RSTPReid), bad input, the caption sampler,
the BPE tokenizer and the text encoders."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from saip.tasks.data.caption_pairs import trim_padding
from saip.tasks.data.pedes_sets import read_pedes
from saip.tasks.data.samplers import caption_batches
from saip.tasks.text_encoders import TEXT_ENCODERS, TextEncoderSpec, create_text_encoder
from saip.tasks.text_tokenizer import PAD_ID, encode, load_tokenizer, train_tokenizer

CAPTIONS = ["A man in a red shirt and blue trousers.", "The man wears a red shirt."]


def _write(root: Path, name: str, records: list[dict], path_key: str = "file_path") -> Path:
    for r in records:
        image = root / "imgs" / r[path_key]
        image.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 16), (120, 30, 30)).save(image)
    (root / name).write_text(json.dumps(records))
    return root


def _records(splits: list[str], path_key: str = "file_path") -> list[dict]:
    return [
        {"split": s, "captions": list(CAPTIONS), path_key: f"{s}/{i:03d}.jpg", "id": i // 2 + 1}
        for i, s in enumerate(splits)
    ]


def test_cuhk_pedes(tmp_path) -> None:
    root = _write(tmp_path, "reid_raw.json", _records(["train"] * 4 + ["val"] * 2 + ["test"] * 2))
    sets = read_pedes(root, "cuhk_pedes")
    assert [len(s.paths) for s in (sets.train, sets.val, sets.test)] == [4, 2, 2]
    assert sets.train.captions[:2] == CAPTIONS and sets.train.caption_image.tolist() == [
        0,
        0,
        1,
        1,
        2,
        2,
        3,
        3,
    ]
    assert sets.train.caption_pids.tolist() == [1, 1, 1, 1, 2, 2, 2, 2]
    assert sets.train.relabelled().pids.tolist() == [0, 0, 1, 1]
    assert sets.test.paths[0] == root / "imgs" / "test" / "006.jpg"


def test_rstpreid_uses_img_path(tmp_path) -> None:
    root = _write(tmp_path, "data_captions.json", _records(["train", "val", "test"], "img_path"), "img_path")
    sets = read_pedes(root, "rstpreid")
    assert [len(s.paths) for s in (sets.train, sets.val, sets.test)] == [1, 1, 1]


def test_icfg_holds_out_validation_identities(tmp_path) -> None:
    records = _records(["train"] * 40 + ["test"] * 4)  # 20 training identities
    root = _write(tmp_path, "ICFG-PEDES.json", records)
    sets = read_pedes(root, "icfg_pedes", val_fraction=0.1)
    assert len(np.unique(sets.val.pids)) == 2 and len(np.unique(sets.train.pids)) == 18
    assert not set(sets.val.pids) & set(sets.train.pids)
    again = read_pedes(root, "icfg_pedes", val_fraction=0.1)
    assert again.val.pids.tolist() == sets.val.pids.tolist()  # a fixed draw
    bad = [dict(r, split="val") for r in records[:1]] + records[1:]
    (root / "ICFG-PEDES.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=r"record 0 .*split 'val' is not one of train, test"):
        read_pedes(root, "icfg_pedes")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("captions"), r"record 1 \('train/001.jpg'\) lacks captions"),
        (lambda r: r.update(id="12"), r"record 1 \('train/001.jpg'\): id '12' is not an integer"),
        (lambda r: r.update(id=1.5), r"record 1 .*: id 1.5 is not an integer"),
        (lambda r: r.update(captions="a man"), "record 1 .*: captions must be a list of strings"),
        (lambda r: r.update(split="dev"), "record 1 .*: split 'dev' is not one of"),
    ],
)
def test_bad_records_name_file_and_record(tmp_path, change, message) -> None:
    records = _records(["train", "train", "test"])
    root = _write(tmp_path, "reid_raw.json", records)
    change(records[1])
    (root / "reid_raw.json").write_text(json.dumps(records))
    with pytest.raises(ValueError, match=message) as err:
        read_pedes(root)
    assert "reid_raw.json" in str(err.value) and "\n" not in str(err.value)


def test_missing_image_and_non_utf8_text(tmp_path) -> None:
    records = _records(["train", "train", "test"])
    root = _write(tmp_path, "reid_raw.json", records)
    (root / "imgs" / "train" / "001.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"record 1 names an image that is not there"):
        read_pedes(root)
    _write(root, "reid_raw.json", records)
    raw = json.dumps(records).replace("The man wears", "The man w\\u00e9ars").encode()
    (root / "reid_raw.json").write_bytes(raw.replace(b"w\\u00e9ars", b"w\xe9ars", 1))  # Latin-1 byte
    with pytest.raises(ValueError, match=r"record 0 \('train/000.jpg'\): caption 1 is not UTF-8 text"):
        read_pedes(root)


def test_empty_captions_are_skipped_and_counted(tmp_path, caplog) -> None:
    records = _records(["train", "train", "test", "test"])
    records[0]["captions"] = ["", "  A man in red. "]
    records[3]["captions"] = []
    root = _write(tmp_path, "reid_raw.json", records)
    with caplog.at_level(logging.WARNING):
        sets = read_pedes(root)
    assert sets.train.captions[0] == "A man in red." and len(sets.train.captions) == 3
    assert len(sets.test.paths) == 2 and sets.test.caption_image.tolist() == [0, 0]  # still in the gallery
    assert "1 empty captions skipped; 1 images without a caption" in caplog.text


def test_layout_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="not in the cuhk_pedes layout"):
        read_pedes(tmp_path)
    with pytest.raises(ValueError, match="unknown text-retrieval format"):
        read_pedes(tmp_path, "flickr")
    (tmp_path / "imgs").mkdir()
    (tmp_path / "reid_raw.json").write_text("{not json")
    with pytest.raises(ValueError, match="reid_raw.json: not valid JSON"):
        read_pedes(tmp_path)


def test_caption_batches_one_caption_per_image() -> None:
    caption_image = np.repeat(np.arange(10), [2, 2, 2, 2, 2, 2, 2, 2, 3, 1])
    batches = caption_batches(caption_image, 4, seed=0, epoch=0)
    for b in batches:
        assert len(b) == 4 and len(set(caption_image[b])) == 4
    flat = [c for b in batches for c in b]
    assert len(flat) == len(set(flat)) == 16  # rounds of 10, 9 and 1 captions -> 2 + 2 + 0 batches
    assert batches == caption_batches(caption_image, 4, seed=0, epoch=0)
    assert batches != caption_batches(caption_image, 4, seed=0, epoch=1)


def test_tokenizer_round_trip(tmp_path) -> None:
    captions = CAPTIONS * 4 + ["A woman with long black hair, wearing a white dress."] * 2
    tokenizer = train_tokenizer(captions, vocab_size=200)
    ids, truncated = encode(tokenizer, ["A MAN in a red shirt.", "a man"], max_tokens=77)
    assert truncated == 0 and ids.dtype == torch.int64 and ids.shape[0] == 2
    tokens = tokenizer.encode("A MAN in a red shirt.").tokens
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and "man" in tokens  # lower-cased
    assert (ids[1] == PAD_ID).sum() > 0 and (ids[0] != PAD_ID).all()
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    again, _ = encode(load_tokenizer(tmp_path / "tokenizer.json"), ["A MAN in a red shirt.", "a man"], 77)
    assert torch.equal(ids, again)
    short, truncated = encode(tokenizer, captions[:1], max_tokens=4)
    assert truncated == 1 and short.shape == (1, 4) and short[0, -1] == tokenizer.token_to_id("[SEP]")
    assert trim_padding(ids).shape[1] == int((ids != PAD_ID).sum(1).max())


@pytest.mark.parametrize("name", list(TEXT_ENCODERS))
def test_text_encoders_ignore_padding(name) -> None:
    torch.manual_seed(0)
    encoder = create_text_encoder(
        name, TextEncoderSpec(vocab_size=50, width=16, depth=2, heads=2, max_tokens=12)
    ).eval()
    ids = torch.tensor([[2, 7, 9, 11, 3, 0, 0], [2, 5, 3, 0, 0, 0, 0]])
    out = encoder(ids)
    assert out.shape == (2, 16)
    torch.testing.assert_close(encoder(ids[:, :5]), out)  # more padding changes nothing
    torch.testing.assert_close(encoder(ids[1:, :3]), out[1:])
    assert not torch.allclose(out[0], out[1])
    if name == "transformer":
        with pytest.raises(ValueError, match="13 tokens exceed the encoder's 12"):
            encoder(torch.full((1, 13), 4))

"""End-to-end `saip pretrain` on CPU with tiny shapes: run directory, resume exactness, export,
bad images, the non-finite policy and the objective switches."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from PIL import Image
from safetensors.torch import load_file

from saip.cli import main
from saip.train import step as step_module
from saip.train.checkpoint import load_checkpoint
from saip.train.rundir import RunDir

pytestmark = pytest.mark.slow

TIMING = {"img_per_s"}  # the only logged values that depend on the machine's speed
LOSSES = ("loss_csm", "loss_attn", "loss_csr", "loss_css_inst", "loss_css_roi")


def pretrain(out: Path, overrides: list[str], *extra: str) -> int:
    return main(["pretrain", "--out", str(out), *extra, *overrides])


def read_log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def test_run_directory_and_export(tmp_path: Path, tiny_overrides: list[str]) -> None:
    out = tmp_path / "run"
    assert (
        pretrain(
            out,
            tiny_overrides,
            "--max-steps",
            "3",
            "train.picture_every=3",
            "train.probe_data=synth",
            "train.probe_every=3",
        )
        == 0
    )
    for name in (
        "config.yaml",
        "log.jsonl",
        "checkpoints/last.pt",
        "backbone.safetensors",
        "backbone.json",
        "export/model.safetensors",
        "export/config.json",
        "export/README.md",
        "export/saip/taps.safetensors",
        "summary.json",
        "report.md",
        "loss_curves.png",
        "pictures/step_0000003.png",
    ):
        assert (out / name).is_file(), name
    assert list((out / "tb").glob("events.out.tfevents.*"))
    log = read_log(out)
    assert [r["step"] for r in log] == [0, 1, 2, 3]
    # The online probe at step 0 (with the random-init reference) and at the probe step.
    assert set(log[0]) == {"step", "probe_mAP", "probe_rank1", "probe_mAP_random_init"}
    assert 0.0 < log[3]["probe_mAP"] <= 1.0 and 0.0 <= log[3]["probe_rank1"] <= 1.0
    assert "probe_mAP" not in log[1]
    for record in log[1:]:
        assert all(np.isfinite(record[k]) for k in LOSSES + ("loss", "lr", "img_per_s")), record
        assert 1.0 <= record["teacher_perplexity"] <= 32  # prototypes in use, at most K
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 3 and summary["images_seen"] == 12
    assert summary["images_skipped"] == 0 and summary["steps_skipped_nonfinite"] == 0
    assert summary["probe_set"] == "synth"
    assert (
        summary["probe_mAP_start"] == log[0]["probe_mAP"] and summary["probe_mAP_end"] == log[3]["probe_mAP"]
    )
    assert summary["probe_mAP_random_init"] == log[0]["probe_mAP_random_init"] > 0
    report = (out / "report.md").read_text()
    assert f"{summary['probe_mAP_random_init']:.4f}" in report and "random init" in report
    # The model card states the probe numbers with the random-init reference, and the licence.
    card = (out / "export" / "README.md").read_text()
    for key in ("probe_mAP_end", "probe_mAP_random_init"):
        assert f"{summary[key]:.4f}" in card
    assert "random initialisation" in card and "inherit the licence" in card and "CSS" in card
    # The probe set's absolute path is in the resolved config.
    assert str((out / "probe_reid").resolve()) in (out / "config.yaml").read_text()
    # The exported teacher backbone loads into plain timm, strictly, and matches the checkpoint.
    meta = json.loads((out / "backbone.json").read_text())
    model = timm.create_model(meta["timm_model"], **meta["timm_kwargs"])
    model.load_state_dict(load_file(out / "backbone.safetensors"), strict=True)
    teacher = load_checkpoint(out / "checkpoints" / "last.pt")["teacher"]
    torch.testing.assert_close(model.state_dict()["pos_embed"], teacher["backbone.model.pos_embed"])
    assert (
        "resolved" not in (out / "config.yaml").read_text()
        and "vit_micro" in (out / "config.yaml").read_text()
    )
    # The online probe scores the exported network exactly as the frozen evaluation does.
    ev = tmp_path / "eval"
    argv = ["eval", "reid", "--data", str(out / "probe_reid"), "--weights", str(out), "--out", str(ev)]
    assert main([*argv, "--protocol", "frozen", "reid.flip_test=false", "model.img_size=[64,32]"]) == 0
    assert json.loads((ev / "metrics.json").read_text())["mAP"] == pytest.approx(
        log[3]["probe_mAP"], abs=1e-6
    )
    # `saip export` of the run (or of its checkpoint) writes the same timm folder and model card.
    for source in (out, out / "checkpoints" / "last.pt"):
        again = tmp_path / f"again_{source.name}"
        assert main(["export", str(source), "--out", str(again)]) == 0
        assert (again / "export" / "README.md").read_text() == card
        assert (
            load_file(again / "export" / "model.safetensors").keys()
            == load_file(out / "export" / "model.safetensors").keys()
        )


def assert_same_log(a: list[dict], b: list[dict]) -> None:
    """Row by row, every key but the timing ones."""
    assert [r["step"] for r in a] == [r["step"] for r in b]
    for ra, rb in zip(a, b, strict=True):
        assert set(ra) == set(rb), ra["step"]
        for key in set(ra) - TIMING:
            assert ra[key] == pytest.approx(rb[key], abs=1e-5, rel=1e-5), (ra["step"], key)


def tensorboard_scalars(out: Path, tag: str) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "tb"))
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)]


def test_resume_matches_uninterrupted_run(tmp_path: Path, tiny_overrides: list[str]) -> None:
    # Logged every 2 steps, checkpointed every 3: the resumed step-4 row averages steps 3 and 4.
    overrides = [*tiny_overrides, "train.log_every=2", "train.checkpoint_every=3"]
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert pretrain(straight, overrides, "--max-steps", "6") == 0
    # Killed during step 6: step 3's checkpoint is the newest, the log and TensorBoard hold rows
    # past it, the last line was cut mid-write.
    shutil.copytree(straight, killed)
    checkpoints = killed / "checkpoints"
    shutil.copy(checkpoints / "step_0000003.pt", checkpoints / "last.pt")
    (checkpoints / "step_0000006.pt").unlink()
    with open(killed / "log.jsonl", "a") as f:
        f.write(json.dumps({"step": 5, "loss": 99.0}) + '\n{"step": 6, "lo')
    assert pretrain(killed, overrides, "--max-steps", "6", "--resume", "auto") == 0
    assert [r["step"] for r in read_log(killed)] == [2, 4, 6]
    assert_same_log(read_log(straight), read_log(killed))
    (steps, losses), (_, expected) = (
        zip(*tensorboard_scalars(o, "loss"), strict=True) for o in (killed, straight)
    )
    assert steps == (2, 4, 6) and losses == pytest.approx(expected)  # purged past step 3, then rewritten
    # Killed before its first checkpoint: the restart is a fresh run with a fresh log.
    early = tmp_path / "early"
    early.mkdir()
    (early / "log.jsonl").write_text('{"step": 1, "loss": 9}\n{"step": 2, "loss": 9}\n{"st')
    assert pretrain(early, overrides, "--max-steps", "2", "--resume", "auto") == 0
    assert_same_log(read_log(straight)[:1], read_log(early))
    # Across an epoch boundary (6 steps per epoch here) the data position is restored too.
    assert pretrain(killed, overrides, "--max-steps", "8", "--resume", "auto") == 0
    assert pretrain(straight, overrides, "--max-steps", "8", "--resume", "auto") == 0
    assert_same_log(read_log(straight), read_log(killed))
    assert json.loads((killed / "summary.json").read_text())["images_seen"] == 32


@pytest.mark.parametrize("enabled", [("csm",), ("csr",), ("css",), ("csm", "css"), ("csr", "css")])
def test_objective_switches(tmp_path: Path, tiny_overrides: list[str], enabled: tuple[str, ...]) -> None:
    switches = [f"{name}.enabled={name in enabled}" for name in ("csm", "csr", "css")]
    assert pretrain(tmp_path / "run", tiny_overrides + switches, "--max-steps", "1") == 0
    record = read_log(tmp_path / "run")[0]
    present = {k for k in LOSSES if k in record}
    expected = {
        "csm": {"loss_csm", "loss_attn"},
        "csr": {"loss_csr"},
        "css": {"loss_css_inst", "loss_css_roi"},
    }
    assert present == set().union(*(expected[n] for n in enabled))


def _odd_images(folder: Path) -> int:
    """Good person crops plus files that cannot be used; returns the number of unusable ones."""
    from saip.synth import render_person

    folder.mkdir()
    for i in range(9):
        render_person(i, (64, 32)).save(folder / f"good_{i}.png")
    rgb = np.asarray(render_person(99, (64, 32)))
    Image.fromarray(rgb).convert("CMYK").save(folder / "cmyk.jpg")
    Image.fromarray(rgb).convert("L").save(folder / "gray.png")
    Image.fromarray(rgb[..., 0].astype(np.uint16) * 257).save(folder / "sixteen.png")
    (folder / "zero.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("not an image")
    (folder / "truncated.jpg").write_bytes((folder / "good_0.png").read_bytes()[:60])
    Image.new("RGB", (4, 4)).save(folder / "tiny.png")
    return 4


def test_bad_images_are_counted_not_fatal(tmp_path: Path, tiny_overrides: list[str]) -> None:
    bad = _odd_images(tmp_path / "images")
    out = tmp_path / "run"
    # 16 files, batch 4: one epoch of 4 steps meets every file once.
    assert pretrain(out, tiny_overrides + ["train.epochs=1"], "--data", str(tmp_path / "images")) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 4
    assert summary["images_skipped"] >= bad
    assert all(np.isfinite(r["loss"]) for r in read_log(out))


def test_data_errors_before_any_work(tmp_path: Path, tiny_overrides: list[str]) -> None:
    (tmp_path / "empty").mkdir()
    for data in (tmp_path / "missing", tmp_path / "empty"):
        assert pretrain(tmp_path / "run", tiny_overrides, "--data", str(data)) == 2
        assert not (tmp_path / "run" / "checkpoints").exists()
    assert pretrain(tmp_path / "run", tiny_overrides + ["train.no_such_key=1"]) == 2
    assert (
        pretrain(
            tmp_path / "run", tiny_overrides + ["csm.enabled=false", "csr.enabled=false", "css.enabled=false"]
        )
        == 2
    )


def test_nonfinite_streak_changes_nothing_and_keeps_the_good_checkpoint(
    tmp_path: Path,
    tiny_overrides: list[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    out = tmp_path / "run"
    real, calls = step_module.teacher_forward, []

    def poisoned(*args, **kwargs):  # NaN teacher logits (and so a NaN loss) from step 4 on
        t = real(*args, **kwargs)
        calls.append(1)
        if len(calls) > 3:
            t.logits = t.logits * float("nan")
            t.probs = [p * float("nan") for p in t.probs]
        return t

    monkeypatch.setattr(step_module, "teacher_forward", poisoned)
    overrides = tiny_overrides + ["train.max_nonfinite=3", "train.keep_checkpoints=1"]
    assert pretrain(out, overrides, "--max-steps", "10") == 3
    assert (
        "the last good checkpoint is from step 2" in caplog.text
    )  # the exit message names the last good checkpoint
    # No checkpoint inside the streak (step 4 was due), so pruning kept the good one.
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["last.pt", "step_0000002.pt"]
    last = load_checkpoint(out / "checkpoints" / "last.pt")
    good = load_checkpoint(out / "checkpoints" / "step_0000002.pt")
    assert last["step"] == 2 and last["counters"]["nonfinite_streak"] == 0
    assert torch.isfinite(last["center"]["center"]).all() and last["center"]["center"].abs().sum() > 0
    for part in ("student", "teacher"):
        for key, value in last[part].items():
            assert not value.is_floating_point() or torch.isfinite(value).all(), (part, key)
            torch.testing.assert_close(good[part][key], value)


@pytest.mark.parametrize(
    ("name", "timm_name"), [("tiny_vit_5m", "tiny_vit_5m_224"), ("convnextv2_femto",) * 2]
)
def test_staged_backbones_pretrain(
    tmp_path: Path, tiny_overrides: list[str], name: str, timm_name: str
) -> None:
    """TinyViT-5M and ConvNeXt-V2 through all three objectives (docs/backbones.md), at small shapes."""
    out = tmp_path / "run"
    assert pretrain(out, tiny_overrides + [f"model.backbone={name}"], "--max-steps", "1") == 0
    record = read_log(out)[0]
    assert all(np.isfinite(record[k]) for k in LOSSES)
    meta = json.loads((out / "backbone.json").read_text())
    assert meta["timm_model"] == timm_name
    model = timm.create_model(meta["timm_model"], **meta["timm_kwargs"])
    model.load_state_dict(load_file(out / "backbone.safetensors"), strict=True)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_resume_on_cuda_with_fp16(tmp_path: Path, tiny_overrides: list[str]) -> None:
    """Checkpoints load on CPU; weights go to the GPU, RNG states stay CPU ByteTensors."""
    out, cuda = tmp_path / "run", [*tiny_overrides, "train.precision=fp16"]
    assert pretrain(out, cuda, "--device", "cuda", "--max-steps", "2") == 0
    assert pretrain(out, cuda, "--device", "cuda", "--max-steps", "4", "--resume", "auto") == 0
    assert [r["step"] for r in read_log(out)] == [1, 2, 3, 4]


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]


def test_untrusted_checkpoint_is_a_one_line_error(
    tmp_path: Path, tiny_overrides: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    evil = tmp_path / "elsewhere" / "checkpoints" / "evil.pt"
    evil.parent.mkdir(parents=True)
    torch.save({"step": 1, "obj": Path("x")}, evil)  # an arbitrary class: weights_only refuses it
    assert pretrain(tmp_path / "run", tiny_overrides, "--resume", str(evil)) == 2
    (error,) = _errors(caplog)
    assert error.startswith(str(evil)) and "\n" not in error and "weights_only" not in error


def test_resume_auto_falls_back_past_unreadable_checkpoints(
    tmp_path: Path, tiny_overrides: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="saip")
    out = tmp_path / "run"
    assert pretrain(out, tiny_overrides, "--max-steps", "4") == 0
    checkpoints = out / "checkpoints"
    last, step_4 = checkpoints / "last.pt", checkpoints / "step_0000004.pt"
    assert last.stat().st_ino == step_4.stat().st_ino  # the final state is written once, linked
    assert load_checkpoint(last)["step"] == load_checkpoint(step_4)["step"] == 4
    data = last.read_bytes()
    last.unlink()  # not in place: that would cut step_0000004.pt too, the same file
    last.write_bytes(data[:1000])  # truncated
    (checkpoints / "step_0000004.pt").write_bytes(b"")  # zero bytes
    assert pretrain(out, tiny_overrides, "--max-steps", "5", "--resume", "auto") == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("last.pt: unreadable" in w for w in warnings)
    assert any("step_0000004.pt: unreadable" in w for w in warnings)
    assert f"resumed from {checkpoints / 'step_0000002.pt'} at step 2" in caplog.text
    assert [r["step"] for r in read_log(out)] == [1, 2, 3, 4, 5]
    for path in checkpoints.glob("*.pt"):  # last.pt and the rewritten step_0000002/4.pt
        path.write_bytes(b"")
    caplog.clear()
    assert pretrain(out, tiny_overrides, "--max-steps", "6", "--resume", "auto") == 2
    assert "none of the" in _errors(caplog)[-1]


def test_second_pretrain_into_a_busy_run_directory_exits_2(
    tmp_path: Path, tiny_overrides: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "run"
    with RunDir(out, tensorboard=False):  # another run holds the directory
        assert pretrain(out, tiny_overrides, "--max-steps", "1") == 2
        (error,) = _errors(caplog)
        assert str(out) in error and f"pid {os.getpid()}" in error and "\n" not in error
        assert not (out / "log.jsonl").exists() and not (out / "config.yaml").exists()
    assert pretrain(out, tiny_overrides, "--max-steps", "1") == 0  # released: the run proceeds
    assert [r["step"] for r in read_log(out)] == [1]

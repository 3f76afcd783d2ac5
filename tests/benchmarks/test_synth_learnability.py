"""benchmarks/synth_learnability.py: `--reuse` reads a finished run only when its words match."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _script():
    """benchmarks/synth_learnability.py as a module (benchmarks/ is not a package)."""
    if "synth_learnability" not in sys.modules:
        path = ROOT / "benchmarks" / "synth_learnability.py"
        spec = importlib.util.spec_from_file_location("synth_learnability", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["synth_learnability"] = module
        spec.loader.exec_module(module)
    return sys.modules["synth_learnability"]


def test_reuse_reads_only_a_run_with_the_same_words(tmp_path: Path, monkeypatch) -> None:
    script = _script()
    calls: list[list[str]] = []

    def fake_saip(argv: list[str]) -> int:  # a run: its metrics are the number of runs so far
        calls.append(argv)
        out = Path(argv[argv.index("--out") + 1])
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps({"mAP": float(len(calls))}))
        return 0

    monkeypatch.setattr(script, "saip_main", fake_saip)
    argv = ["eval", "reid", "--out", str(tmp_path / "run"), "--seed", "0"]
    assert script.run_eval(argv, reuse=True) == {"mAP": 1.0}
    assert script.run_eval(argv, reuse=True) == {"mAP": 1.0} and len(calls) == 1  # read, not rerun
    assert script.run_eval(argv) == {"mAP": 2.0}  # without --reuse every run runs
    other = [*argv[:-1], "1"]  # same folder, other words: rerun
    assert script.run_eval(other, reuse=True) == {"mAP": 3.0}
    assert json.loads((tmp_path / "run" / "argv.json").read_text()) == other


def test_overrides_come_last_in_every_arm(tmp_path: Path) -> None:
    script = _script()
    args = argparse.Namespace(steps=0, init="none", device="cpu", backbone="", overrides=["optim.lr=1e-4"])
    for _, protocol, _ in script.arms("fashion"):
        argv = script.eval_argv("fashion", protocol, tmp_path, tmp_path / "run", args, seed=0)
        assert argv[-1] == "optim.lr=1e-4" and "optim.lr=1e-3" in argv  # the later value wins


def test_parallel_runs_land_in_their_arm_and_seed(tmp_path: Path, monkeypatch) -> None:
    """`--jobs 2 --threads 1`: every run goes to a subprocess with one thread, and each metrics
    file is read back into its own arm and seed, whatever order the runs finish in."""
    script = _script()
    seen: list[int] = []

    finished: list[tuple[int, bool]] = []

    def fake_run(words: list[str], log_file: Path, threads: int) -> None:
        seen.append(threads)
        out = Path(words[words.index("--out") + 1])
        out.mkdir(parents=True, exist_ok=True)
        seed = int(words[words.index("--seed") + 1])
        trained = words[words.index("--protocol") + 1] == "finetune"
        if (seed, trained) == (0, False):
            time.sleep(0.5)  # the first run finishes after its neighbour
        finished.append((seed, trained))
        (out / "metrics.json").write_text(json.dumps({"mAP": 10.0 * seed + trained}))

    monkeypatch.setattr(script, "generate", lambda *a, **k: tmp_path / "data")
    monkeypatch.setattr(script, "run_saip", fake_run)
    args = argparse.Namespace(
        steps=0, init="none", device="cpu", backbone="", overrides=[], seeds=[0, 1, 2], workers=1,
        limit=0, scale=0, reuse=False, jobs=2, threads=1,
    )  # fmt: skip
    results, _, commands = script.measure("reid", tmp_path, args)
    assert results == [
        [{"mAP": 0.0}, {"mAP": 10.0}, {"mAP": 20.0}],
        [{"mAP": 1.0}, {"mAP": 11.0}, {"mAP": 21.0}],
    ]
    assert seen == [1] * 6 and len(commands) == 6
    assert finished[0] != (0, False)  # the runs did finish out of order

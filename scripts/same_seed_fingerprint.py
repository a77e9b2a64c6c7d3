"""Same seed, same numbers, across a refactoring: fingerprint every algorithm's short training run, or compare
two fingerprints.

    python scripts/same_seed_fingerprint.py record OUT.json [--src SRC_DIR]
    python scripts/same_seed_fingerprint.py compare BEFORE.json AFTER.json

`record` trains each case below through the CLI (`python -m actorcritic.cli train ...`, one subprocess per
case, with `--src` put first on PYTHONPATH so that an older checkout's package can be fingerprinted by this
script) and stores, per case, the metrics.csv rows without timing columns and a SHA-256 per checkpoint
tensor. `compare` reports, per case, whether the metrics (up to the known column renames) and every
checkpoint tensor are identical, and exits 1 if any case differs.

To prove that a change keeps behaviour, run `record` on the commit before it (a `git worktree` of it, passed
as `--src WORKTREE/src`) and on the change, on the same machine, then `compare`.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from safetensors.torch import load_file

OFF_POLICY = [
    "--env",
    "Pendulum-v1",
    "--total-steps",
    "1500",
    "--learning-starts",
    "500",
    "--batch-size",
    "64",
    "--hidden-sizes",
    "64",
    "64",
    "--log-every",
    "250",
    "--eval-every",
    "750",
    "--eval-episodes",
    "2",
]

CASES: dict[str, list[str]] = {
    "ppo-cartpole": ["ppo", "--env", "CartPole-v1", "--total-steps", "2048"],
    "ppo-pendulum": [
        "ppo",
        "--env",
        "Pendulum-v1",
        "--total-steps",
        "4096",
        "--num-envs",
        "2",
        "--num-steps",
        "512",
        "--clip-value-loss",
        "--target-kl",
        "0.02",
    ],
    "reinforce-value-gae": ["reinforce", "--env", "CartPole-v1", "--total-steps", "12000", "--advantage", "gae"],
    "reinforce-optimal": [
        "reinforce",
        "--env",
        "CartPole-v1",
        "--total-steps",
        "8000",
        "--baseline",
        "optimal",
        "--epochs",
        "2",
    ],
    "reinforce-mean-pendulum": [
        "reinforce",
        "--env",
        "Pendulum-v1",
        "--total-steps",
        "4000",
        "--baseline",
        "mean",
        "--num-envs",
        "2",
        "--num-steps",
        "400",
    ],
    "trpo-cartpole": ["trpo", "--env", "CartPole-v1", "--total-steps", "4096"],
    "trpo-pendulum-kstep": [
        "trpo",
        "--env",
        "Pendulum-v1",
        "--total-steps",
        "4096",
        "--num-envs",
        "2",
        "--num-steps",
        "1024",
        "--advantage",
        "kstep",
        "--k",
        "3",
    ],
    "grpo-cartpole": [
        "grpo",
        "--env",
        "CartPole-v1",
        "--total-steps",
        "3000",
        "--group-size",
        "4",
        "--groups-per-update",
        "2",
        "--beta",
        "0.01",
    ],
    "grpo-pendulum": [
        "grpo",
        "--env",
        "Pendulum-v1",
        "--total-steps",
        "3200",
        "--group-size",
        "4",
        "--groups-per-update",
        "2",
    ],
    "td3": ["td3", *OFF_POLICY],
    "ddpg": ["ddpg", *OFF_POLICY],
    "td3-no-smoothing": ["td3", *OFF_POLICY, "--no-target-policy-smoothing", "--policy-delay", "3"],
    "sac": ["sac", *OFF_POLICY],
    "sac-fixed-alpha": ["sac", *OFF_POLICY, "--no-autotune-alpha", "--initial-alpha", "0.2", "--policy-delay", "2"],
    "grpo-lm": [
        "grpo-lm",
        "--task",
        "addition",
        "--digits",
        "1",
        "--warmup-steps",
        "20",
        "--total-steps",
        "6",
        "--prompts-per-step",
        "4",
        "--group-size",
        "4",
        "--d-model",
        "32",
        "--num-layers",
        "1",
        "--eval-prompts",
        "20",
        "--eval-every",
        "3",
        "--checkpoint-every",
        "2",
        "--beta",
        "0.05",
        "--num-iterations",
        "2",
    ],
}

SEED = 3
TIMING_COLUMNS = {"steps_per_second", "sampling_tokens_per_second"}
"""Wall-clock measurements: they differ between any two runs."""
RENAMED_COLUMNS = {"update": "updates"}
"""Columns renamed by the engine-contract change: old name -> new name."""


def record(out: Path, src: Path | None) -> None:
    env = dict(os.environ, MUJOCO_GL="egl")
    if src is not None:
        env["PYTHONPATH"] = f"{src}{os.pathsep}{env.get('PYTHONPATH', '')}"
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for name, args in CASES.items():
            run_dir = Path(scratch) / name
            command = [
                sys.executable,
                "-m",
                "actorcritic.cli",
                "train",
                *args,
                "--seed",
                str(SEED),
                "--run-dir",
                str(run_dir),
            ]
            completed = subprocess.run(command, env=env, capture_output=True, text=True)
            if completed.returncode != 0:
                raise SystemExit(f"{name} failed:\n{completed.stderr[-2000:]}")
            results[name] = fingerprint(run_dir)
            print(
                f"{name}: {len(results[name]['metrics'])} metric rows, {len(results[name]['tensors'])} tensors",
                flush=True,
            )
    out.write_text(json.dumps(results, indent=1))


def fingerprint(run_dir: Path) -> dict:
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = _untimed([{RENAMED_COLUMNS.get(k, k): v for k, v in row.items()} for row in csv.DictReader(f)])
    tensors = load_file(str(run_dir / "checkpoint" / "tensors.safetensors"))
    hashes = {
        name: hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()[:16] + f" {tuple(t.shape)}"
        for name, t in tensors.items()
    }
    summary = json.loads((run_dir / "summary.json").read_text())
    return {"metrics": rows, "tensors": hashes, "eval_returns": summary["eval_returns"]}


def compare(before_path: Path, after_path: Path) -> int:
    before, after = json.loads(before_path.read_text()), json.loads(after_path.read_text())
    failures = 0
    for name in before:
        if name not in after:
            print(f"{name}: missing after")
            failures += 1
            continue
        old, new = before[name], after[name]
        notes = []
        metrics_equal = _metrics_equal(_untimed(old["metrics"]), _untimed(new["metrics"]), notes)
        shared = sorted(set(old["tensors"]) & set(new["tensors"]))
        differing = [t for t in shared if old["tensors"][t] != new["tensors"][t]]
        only_before = sorted(set(old["tensors"]) - set(new["tensors"]))
        only_after = sorted(set(new["tensors"]) - set(old["tensors"]))
        evals_equal = old["eval_returns"] == new["eval_returns"]
        ok = metrics_equal and not differing and evals_equal and not only_after
        failures += not ok
        verdict = "IDENTICAL" if ok else "DIFFERENT"
        print(
            f"{name:26s} {verdict}: metrics {'equal' if metrics_equal else 'differ'} ({len(new['metrics'])} rows), "
            f"{len(shared) - len(differing)}/{len(shared)} tensors bit-identical, "
            f"final evaluation {'equal' if evals_equal else 'differs'}"
        )
        for line in notes + [f"    differing tensor {t}" for t in differing[:5]]:
            print(line)
        if only_before:
            print(f"    tensors no longer saved: {', '.join(only_before)}")
        if only_after:
            print(f"    new tensors: {', '.join(only_after)}")
    print(f"{len(before) - failures} of {len(before)} cases identical")
    return 1 if failures else 0


def _untimed(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIMING_COLUMNS} for row in rows]


def _metrics_equal(old: list[dict], new: list[dict], notes: list[str]) -> bool:
    """Equal rows, where a column added after the change may only hold empty cells (or, for the `seed`
    column that multi-seed runs brought, the run's seed)."""
    if len(old) != len(new):
        notes.append(f"    {len(old)} metric rows before, {len(new)} after")
        return False
    added = sorted(set(new[0]) - set(old[0])) if new else []
    removed = sorted(set(old[0]) - set(new[0])) if old else []
    if removed:
        notes.append(f"    columns removed: {', '.join(removed)}")
        return False
    if added:
        notes.append(f"    columns added (empty in every row, or the run's seed): {', '.join(added)}")
    for index, (a, b) in enumerate(zip(old, new)):
        if any(b[column] != ("" if column != "seed" else str(SEED)) for column in added):
            notes.append(f"    row {index}: an added column holds a value")
            return False
        differing = [column for column in a if a[column] != b[column]]
        if differing:
            notes.append(f"    row {index}: {', '.join(f'{c} {a[c]} -> {b[c]}' for c in differing[:4])}")
            return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    record_parser = commands.add_parser("record")
    record_parser.add_argument("out", type=Path)
    record_parser.add_argument(
        "--src", type=Path, help="the src/ directory of the checkout to fingerprint (default: the installed package)"
    )
    compare_parser = commands.add_parser("compare")
    compare_parser.add_argument("before", type=Path)
    compare_parser.add_argument("after", type=Path)
    options = parser.parse_args()
    if options.command == "record":
        record(options.out, options.src)
        return 0
    return compare(options.before, options.after)


if __name__ == "__main__":
    sys.exit(main())

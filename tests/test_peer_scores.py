"""scripts/peer_scores.py compare: reads every seed of our finished runs (a multi-seed run here: two seeds in
one metrics.csv, rows without an evaluation skipped) and the peer's seed-K.csv, and reports each seed's
final evaluation and late mean at the last step every seed reached. Its `train` takes hours; here only its
resume from a saved state, on a tiny SAC."""

import json
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest
import torch

from actorcritic.errors import ActorCriticError

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "peer_scores.py"


def write_csv(path: Path, header: str, rows: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n")


def compare(*arguments) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "compare", *map(str, arguments)], capture_output=True, text=True, timeout=300
    )


def write_our_run(run: Path) -> None:
    """A finished two-seed run: evaluations at steps 20 and 30 (100, 300 and 200, 500)."""
    rows = []
    for seed, (late, final) in enumerate([(100.0, 300.0), (200.0, 500.0)]):
        rows += [f"{seed},10,1.0,", f"{seed},20,1.0,{late}", f"{seed},30,1.0,{final}", f"{seed},40,1.0,"]
    write_csv(run / "metrics.csv", "seed,global_step,episode_return_mean,eval_return_mean", rows)
    (run / "config.json").write_text(json.dumps({"algo": "td3", "env": "Walker2d-v5", "seeds": [0, 1]}))
    (run / "summary.json").write_text("{}")


def test_compare_reads_both_formats_and_aligns_the_last_step(tmp_path):
    run = tmp_path / "ours"
    write_our_run(run)
    for seed, values in enumerate(
        [(10.0, 20.0, 30.0, 999.0), (40.0, 50.0, 60.0, 999.0)]
    ):  # the peer ran one step further
        write_csv(
            tmp_path / f"peer/seed-{seed}.csv",
            "step,eval_return_mean,eval_return_std",
            [f"{10 * (i + 1)},{value},0" for i, value in enumerate(values)],
        )
    figure = tmp_path / "figure.png"
    result = compare(run, tmp_path / "peer", "--late", "20", "--figure", figure)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "actorcritic, 2 seeds, at 30 steps"
    assert lines[1].startswith("  final evaluation per seed: 300, 500;")
    assert lines[2].startswith("  late mean (last 20 steps) per seed: 200, 350;")  # the evaluations at 20 and 30
    assert lines[3] == "SB3, 2 seeds, at 30 steps"  # step 40 is beyond our runs: left out
    assert lines[4].startswith("  final evaluation per seed: 30, 60;")
    assert lines[5].startswith("  late mean (last 20 steps) per seed: 25, 55;")
    assert lines[6].startswith("P(actorcritic run > SB3 run), late means: 1.00")
    assert figure.stat().st_size > 0


def test_compare_without_runs_says_so_in_one_line(tmp_path):
    (tmp_path / "peer").mkdir()
    write_our_run(tmp_path / "ours")
    for ours, fragment in (
        (tmp_path / "peer", "is neither a finished run"),
        (tmp_path / "ours", "no seed-K.csv under"),
    ):
        result = compare(ours, tmp_path / "peer")
        assert (
            result.returncode == 2 and result.stderr.startswith("peer_scores.py: error: ") and fragment in result.stderr
        )
        assert len(result.stderr.strip().splitlines()) == 1


def test_compare_refuses_bad_options_before_any_work(tmp_path):
    write_our_run(tmp_path / "ours")
    write_csv(tmp_path / "peer/seed-0.csv", "step,eval_return_mean,eval_return_std", ["10,1.0,0"])
    for options, fragment in ((["--late", "0"], "--late"), (["--figure", tmp_path / "missing/figure.png"], "--figure")):
        result = compare(tmp_path / "ours", tmp_path / "peer", *options)
        assert result.returncode == 2 and result.stdout == "" and fragment in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_compare_on_the_success_rate_of_goal_tasks(tmp_path):
    """--metric eval_success_rate reads our metrics.csv's and the peer's eval_success_rate columns (HER runs on
    Fetch tasks); a peer's file without the column is one line."""
    run = tmp_path / "ours"
    rows = [f"0,{step},-50,{rate}" for step, rate in ((10, 0.1), (20, 0.5), (30, 0.75))]
    write_csv(run / "metrics.csv", "seed,global_step,eval_return_mean,eval_success_rate", rows)
    (run / "config.json").write_text(json.dumps({"algo": "sac", "env": "FetchPush-v4", "seed": 0}))
    (run / "summary.json").write_text("{}")
    write_csv(
        tmp_path / "peer/seed-0.csv",
        "step,eval_return_mean,eval_return_std,eval_success_rate",
        ["10,-50,0,0.0", "20,-50,0,0.25", "30,-50,0,0.5"],
    )
    result = compare(run, tmp_path / "peer", "--late", "20", "--metric", "eval_success_rate")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].startswith("  final evaluation per seed: 0.75;") and lines[4].startswith(
        "  final evaluation per seed: 0.50;"
    )
    assert lines[2].startswith("  late mean (last 20 steps) per seed: 0.62;")  # (0.5 + 0.75) / 2, two decimals
    write_csv(tmp_path / "plain/seed-0.csv", "step,eval_return_mean,eval_return_std", ["10,1.0,0"])
    result = compare(run, tmp_path / "plain", "--metric", "eval_success_rate")
    assert result.returncode == 2 and "has no eval_success_rate column" in result.stderr


def test_compare_names_the_peer_library_its_runs_record(tmp_path):
    """sb3-contrib's TQC runs are labelled sb3-contrib; a --out mixing two libraries is refused in one line."""
    write_our_run(tmp_path / "ours")
    for seed in (0, 1):
        write_csv(tmp_path / f"peer/seed-{seed}.csv", "step,eval_return_mean,eval_return_std", ["30,10.0,0"])
        (tmp_path / f"peer/seed-{seed}.json").write_text(json.dumps({"library": "sb3-contrib"}))
    result = compare(tmp_path / "ours", tmp_path / "peer")
    assert result.returncode == 0, result.stderr
    assert "sb3-contrib, 2 seeds, at 30 steps" in result.stdout.splitlines()
    assert "P(actorcritic run > sb3-contrib run)" in result.stdout
    (tmp_path / "peer/seed-1.json").write_text(json.dumps({"library": "stable-baselines3"}))
    result = compare(tmp_path / "ours", tmp_path / "peer")
    assert result.returncode == 2 and "one library per --out" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_train_continues_an_interrupted_peer_run_from_its_last_evaluation(tmp_path, monkeypatch):
    """`train --scratch`: the peer's state (model, optimisers, replay buffer, evaluations) saved at every evaluation;
    a run stopped between two evaluations continues from the last one, and its state is deleted at the end."""
    sys.path.insert(0, str(SCRIPT.parent))
    import peer_scores

    threads = torch.get_num_threads()  # train_one_seed sets one thread, as a process of its own would
    tiny = dict(learning_starts=100, batch_size=16, hidden_sizes=[8])
    arguments = ("sac", "Pendulum-v1", 0, 600, 200, 1, tmp_path / "out")
    scratch = tmp_path / "scratch"
    (tmp_path / "out").mkdir()
    evaluate = peer_scores.evaluate

    def interrupted_at_400(model, env, episodes):
        if model.num_timesteps == 400:
            raise KeyboardInterrupt  # the process ends between the evaluations at 200 (saved) and 400
        return evaluate(model, env, episodes)

    try:
        monkeypatch.setattr(peer_scores, "evaluate", interrupted_at_400)
        with pytest.raises(KeyboardInterrupt):
            peer_scores.train_one_seed(*arguments, settings=tiny, scratch=scratch)
        first_row = (tmp_path / "out/seed-0.csv").read_text().splitlines()[1]
        assert json.loads((scratch / "state.json").read_text())["step"] == 200
        assert [path.name for path in scratch.glob("step-*")] == ["step-200"]
        state = json.loads((scratch / "state.json").read_text())
        model, rows, _ = peer_scores.load_state(scratch, state["run"], gym.make("Pendulum-v1"), gym.make("Pendulum-v1"))
        # the 200 stored transitions, and 100 updates (one per step after the 100 random ones) in its counters
        assert (model.num_timesteps, model.replay_buffer.size(), model._n_updates, len(rows)) == (200, 200, 100, 1)
        with pytest.raises(ActorCriticError, match="holds another run's state"):
            peer_scores.train_one_seed(*arguments, settings={**tiny, "batch_size": 32}, scratch=scratch)
        monkeypatch.setattr(peer_scores, "evaluate", evaluate)
        result = peer_scores.train_one_seed(*arguments, settings=tiny, scratch=scratch)
        # a run no longer than one evaluation interval saves no state: it ends as well, with nothing to delete
        short = peer_scores.train_one_seed(
            "sac", "Pendulum-v1", 1, 200, 200, 1, tmp_path / "out", tiny, scratch=scratch
        )
        assert short["total_steps"] == 200 and not scratch.exists()
    finally:
        torch.set_num_threads(threads)
    assert result["resumed_from_step"] == 200 and result["total_steps"] == 600
    lines = (tmp_path / "out/seed-0.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == ["200", "400", "600"] and lines[1] == first_row
    assert not scratch.exists()


def test_train_refuses_a_setting_the_algorithm_has_not_and_a_run_it_cannot_make(tmp_path):
    """CrossQ has no target networks: --tau is refused in one line before anything is written (a CrossQ setting
    for SAC too), as are a run shorter than one evaluation and HER for sb3-contrib's CrossQ (no Dict policy)."""
    for algo, options, fragment in (
        ("crossq", ["--tau", "0.01"], "train crossq takes no --tau"),
        ("sac", ["--policy-delay", "2"], "train sac takes no --policy-delay"),
        ("sac", ["--total-steps", "100", "--eval-every", "200"], "no evaluation"),
        ("crossq", ["--her-goals", "4"], "leave out --her-goals"),
    ):
        result = subprocess.run(
            [sys.executable, str(SCRIPT), "train", algo, "Pendulum-v1", "--out", str(tmp_path / "out"), *options],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 2 and fragment in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()

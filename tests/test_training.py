"""Run directories beyond metrics and checkpoints: periodic evaluation, the best model, early stopping,
learning curves, `learn(n)`, `predict`, and loading from a run directory."""

import json
import math
import sys

import numpy as np
import pytest
from conftest import assert_one_line_error

from actorcritic import PPO, TD3, PPOConfig, TD3Config
from actorcritic.analysis.reading import read_run
from actorcritic.cli.commands import main
from actorcritic.errors import ActorCriticError

PPO_FLAGS = [
    "--num-envs",
    "2",
    "--num-steps",
    "32",
    "--minibatch-size",
    "32",
    "--epochs",
    "2",
    "--hidden-sizes",
    "16",
    "--eval-episodes",
    "2",
]
TD3_FLAGS = [
    "--env",
    "Pendulum-v1",
    "--learning-starts",
    "100",
    "--batch-size",
    "32",
    "--hidden-sizes",
    "16",
    "--log-every",
    "100",
    "--eval-episodes",
    "1",
    "--num-threads",
    "1",
]


def test_periodic_evaluation_keeps_the_best_policy_and_evaluate_best_reads_it(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "td3", *TD3_FLAGS, "--total-steps", "600", "--eval-every", "200", "--run-dir", str(run)]) == 0
    _, curves = read_run(run)
    evaluations = curves["eval_return_mean"][0]
    assert [step for step, _ in evaluations] == [200, 400, 600]
    best = json.loads((run / "best.json").read_text())
    assert best["eval_return_mean"] == pytest.approx(
        max(value for _, value in evaluations), rel=1e-5
    )  # the CSV keeps 6 digits
    saved = json.loads((run / "checkpoint-best" / "state.json").read_text())
    assert (
        saved["counters"]["global_step"] == best["global_step"] and saved["counters"]["replay_buffer"] is None
    )  # policy only
    capsys.readouterr()
    assert main(["evaluate", str(run), "--best", "--episodes", "1"]) == 0
    assert f"after {best['global_step']:,d} steps" in capsys.readouterr().out


def test_evaluate_best_without_periodic_evaluations_is_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "ppo", "--env", "CartPole-v1", "--total-steps", "64", *PPO_FLAGS, "--run-dir", str(run)]) == 0
    capsys.readouterr()
    assert_one_line_error(capsys, main(["evaluate", str(run), "--best"]), "no checkpoint-best/", "--eval-every")


def test_a_resumed_run_keeps_the_best_of_its_earlier_part(tmp_path):
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "ppo",
                "--env",
                "CartPole-v1",
                "--total-steps",
                "128",
                "--eval-every",
                "64",
                *PPO_FLAGS,
                "--run-dir",
                str(run),
            ]
        )
        == 0
    )
    (run / "best.json").write_text(json.dumps({"eval_return_mean": 1e9, "global_step": 64}))  # unbeatable
    before = (run / "checkpoint-best" / "tensors.safetensors").read_bytes()
    assert main(["resume", str(run), "--total-steps", "256"]) == 0
    assert (run / "checkpoint-best" / "tensors.safetensors").read_bytes() == before


def test_stop_at_return_ends_training_at_the_first_evaluation_that_reaches_it(tmp_path):
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "ppo",
                "--env",
                "CartPole-v1",
                "--total-steps",
                "6400",
                "--eval-every",
                "128",
                "--stop-at-return",
                "5",
                *PPO_FLAGS,
                "--run-dir",
                str(run),
            ]
        )
        == 0
    )
    summary = json.loads((run / "summary.json").read_text())
    assert summary["total_steps"] == 128  # any policy lasts 5 steps of CartPole


def test_stop_at_return_needs_periodic_evaluations(capsys):
    assert_one_line_error(
        capsys, main(["train", "ppo", "--stop-at-return", "100"]), "--stop-at-return 100.0", "--eval-every"
    )
    with pytest.raises(ActorCriticError, match="finite"):
        PPOConfig(stop_at_return=math.inf, eval_every=10)


def test_every_run_leaves_its_learning_curves(tmp_path):
    run = tmp_path / "run"
    assert (
        main(
            [
                "train",
                "ppo",
                "--env",
                "CartPole-v1",
                "--total-steps",
                "128",
                "--eval-every",
                "64",
                *PPO_FLAGS,
                "--run-dir",
                str(run),
            ]
        )
        == 0
    )
    first = (run / "curves.png").read_bytes()
    assert first.startswith(b"\x89PNG")
    assert main(["resume", str(run), "--total-steps", "256"]) == 0
    assert (run / "curves.png").read_bytes() != first  # redrawn with the resumed part


def test_learn_n_trains_n_more_steps_and_never_shrinks_the_schedule():
    agent = PPO(
        PPOConfig(
            env="CartPole-v1",
            num_envs=2,
            num_steps=32,
            minibatch_size=32,
            epochs=1,
            hidden_sizes=(8,),
            total_steps=2_048,
        )
    )
    agent.learn(128)
    assert agent.global_step == 128 and agent.config.total_steps == 2_048
    assert agent.learner.optimizer.param_groups[0]["lr"] == pytest.approx(
        3e-4 * (1 - 64 / 2_048)
    )  # the schedule of 2,048 steps
    agent.learn(128)
    assert agent.global_step == 256
    agent.learn(4_096)
    assert agent.config.total_steps == 256 + 4_096 == agent.global_step  # the schedule stretched to the new end
    with pytest.raises(ActorCriticError, match="at least one"):
        agent.learn(0)


def test_predict_answers_like_stable_baselines3():
    agent = TD3(TD3Config(env="Pendulum-v1", hidden_sizes=(8,), buffer_size=1000, num_threads=1))
    obs = np.zeros((2, 3), dtype=np.float32)
    action, state = agent.predict(obs, deterministic=True)
    assert state is None and np.array_equal(action, agent.act(obs))


def test_load_accepts_a_run_directory_as_well_as_its_checkpoint(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "ppo", "--env", "CartPole-v1", "--total-steps", "64", *PPO_FLAGS, "--run-dir", str(run)]) == 0
    assert PPO.load(run).global_step == PPO.load(run / "checkpoint").global_step == 64


def test_an_off_policy_run_that_would_never_train_is_refused(capsys):
    assert_one_line_error(
        capsys,
        main(["train", "td3", "--env", "Pendulum-v1", "--total-steps", "500"]),
        "--learning-starts 1000 is not below --total-steps 500",
    )


@pytest.mark.parametrize("algo, env", [("ppo", "CartPole-v1"), ("td3", "Hopper-v5")])
def test_evaluate_records_a_video_of_each_episode_also_for_mujoco_headless(algo, env, tmp_path, capsys):
    run = tmp_path / "run"
    flags = (
        PPO_FLAGS
        if algo == "ppo"
        else ["--learning-starts", "50", "--batch-size", "16", "--hidden-sizes", "16", "--eval-episodes", "1"]
    )
    assert (
        main(
            [
                "train",
                algo,
                "--env",
                env,
                "--total-steps",
                "64" if algo == "ppo" else "100",
                *flags,
                "--run-dir",
                str(run),
            ]
        )
        == 0
    )
    assert main(["evaluate", str(run), "--episodes", "2", "--video", str(tmp_path / "videos")]) == 0
    videos = sorted(p.name for p in (tmp_path / "videos").iterdir())
    assert videos == [f"{algo}-{env}-episode-0.mp4", f"{algo}-{env}-episode-1.mp4"]
    assert all((tmp_path / "videos" / name).stat().st_size > 1000 for name in videos)


def test_a_video_on_a_headless_machine_prints_nothing_on_stderr(tmp_path):
    """In a fresh process (pygame starts once per process), with no display and no XDG_RUNTIME_DIR."""
    import os
    import subprocess
    import sys

    run = tmp_path / "run"
    assert main(["train", "ppo", "--env", "CartPole-v1", "--total-steps", "64", *PPO_FLAGS, "--run-dir", str(run)]) == 0
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DISPLAY", "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR", "SDL_VIDEODRIVER")
    }
    finished = subprocess.run(
        [sys.executable, "-m", "actorcritic", "evaluate", str(run), "--episodes", "1", "--video", str(tmp_path / "v")],
        capture_output=True,
        text=True,
        env=environment,
    )
    assert finished.returncode == 0 and finished.stderr == "", finished.stderr
    assert (tmp_path / "v" / "ppo-CartPole-v1-episode-0.mp4").exists()


def test_video_without_moviepy_names_the_extra(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    assert main(["train", "ppo", "--env", "CartPole-v1", "--total-steps", "64", *PPO_FLAGS, "--run-dir", str(run)]) == 0
    monkeypatch.setitem(sys.modules, "moviepy", None)
    capsys.readouterr()
    assert_one_line_error(
        capsys, main(["evaluate", str(run), "--video", str(tmp_path / "v")]), "moviepy", "actorcritic[video]"
    )
    (tmp_path / "file").write_text("x")
    assert_one_line_error(capsys, main(["evaluate", str(run), "--video", str(tmp_path / "file")]), "is a file")


def test_train_or_resume_finishes_a_run_killed_during_its_final_evaluation(tmp_path):
    # the final checkpoint is written before the final evaluation and summary.json: a kill in between leaves a
    # checkpoint at the total, which `resume` refuses (nothing to train) but an experiment or sweep must finish
    from actorcritic.runs.training import train_or_resume

    run = tmp_path / "run"
    assert main(["train", "ppo", "--env", "CartPole-v1", "--total-steps", "64", *PPO_FLAGS, "--run-dir", str(run)]) == 0
    finished = json.loads((run / "summary.json").read_text())
    (run / "summary.json").unlink()
    summary = train_or_resume("ppo", PPOConfig(env="CartPole-v1", total_steps=64), run)
    assert summary["total_steps"] == 64 and summary["resumed_from_step"] == 64
    assert summary["eval_return_mean"] == finished["eval_return_mean"]  # the same policy, evaluated the same way
    assert json.loads((run / "summary.json").read_text()) == summary

"""GRPO for language models: tokenizer, verifiers, KV cache, sampler vs training pass, the loss's pieces
on hand-computed cases, a CLI smoke run and one-line errors. Tiny sizes; the whole file runs in seconds."""

import csv
import json
import math

import pytest
import torch

from actorcritic.algorithms.grpo_lm import GRPOLM, GRPOLMConfig
from actorcritic.cli.commands import main
from actorcritic.errors import ActorCriticError
from actorcritic.language.model import TransformerLM
from actorcritic.language.objectives import (
    grpo_advantages,
    grpo_loss,
    importance_correction_weights,
    loss_normalization_weights,
    mismatch_metrics,
)
from actorcritic.language.sampler import Sampler, completion_log_probs, top_k_filter
from actorcritic.language.tasks import (
    Addition,
    Reverse,
    Sort,
    heldout_prompts,
    make_task,
)
from actorcritic.language.tokenizer import CharTokenizer

TINY = [
    "--d-model",
    "32",
    "--num-layers",
    "1",
    "--num-heads",
    "2",
    "--warmup-steps",
    "5",
    "--prompts-per-step",
    "4",
    "--group-size",
    "4",
    "--eval-prompts",
    "20",
    "--eval-every",
    "2",
    "--digits",
    "2",
]


def tiny_config(**overrides) -> GRPOLMConfig:
    fields = dict(
        digits=2,
        d_model=32,
        num_layers=1,
        num_heads=2,
        warmup_steps=5,
        total_steps=2,
        prompts_per_step=4,
        group_size=4,
        eval_prompts=20,
        eval_every=0,
        checkpoint_every=0,
    )
    return GRPOLMConfig(**{**fields, **overrides})


def assert_one_line_error(capsys, code, *fragments):
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("actorcritic: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def random_model(seed=0, width=32, layers=2, init_std=0.5) -> TransformerLM:
    """A model with large random weights, so that its next-token distributions are far from uniform."""
    torch.manual_seed(seed)
    model = TransformerLM(CharTokenizer().vocab_size, max_length=16, d_model=width, num_layers=layers, num_heads=4)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, init_std)
    return model


# ---------------------------------------------------------------- tokenizer and tasks


def test_tokenizer_round_trip_and_special_tokens():
    tokenizer = CharTokenizer()
    for text in ("042+317=359", "sort 3912=", "reverse 07="):
        assert tokenizer.decode(tokenizer.encode(text)) == text
    ids = tokenizer.encode("12") + [tokenizer.eos_id] + tokenizer.encode("99")
    assert tokenizer.decode(ids) == "12"  # stops at end-of-sequence
    assert tokenizer.decode([tokenizer.pad_id, *tokenizer.encode("7"), tokenizer.pad_id]) == "7"
    padded = tokenizer.encode_completions(["12", "3"], 4)
    assert padded.tolist()[1] == tokenizer.encode("3") + [tokenizer.eos_id, tokenizer.pad_id, tokenizer.pad_id]
    with pytest.raises(ActorCriticError, match="alphabet"):
        tokenizer.encode("1€2")


def test_verifiers_on_hand_cases():
    addition = Addition(3)
    assert addition.solve("042+317=") == "359" and addition.solve("999+999=") == "1998"
    assert addition.reward("042+317=", "359") == 1.0
    assert (
        addition.reward("042+317=", "0359") == 0.0
        and addition.reward("042+317=", "358") == 0.0
        and addition.reward("042+317=", "") == 0.0
    )
    assert Sort(4).solve("sort 3912=") == "1239" and Sort(4).reward("sort 3912=", "1239") == 1.0
    assert Reverse(4).solve("reverse 3912=") == "2193" and Reverse(4).reward("reverse 3912=", "3912") == 0.0
    for name in ("addition", "sort", "reverse"):
        task = make_task(name, 3)
        prompts = heldout_prompts(task, 50, seed=1)
        assert len(set(prompts)) == 50 and {len(p) for p in prompts} == {task.prompt_length}
        assert all(len(task.solve(p)) <= task.max_completion_length for p in prompts)


# ---------------------------------------------------------------- model and sampler


def test_kv_cached_decoding_gives_the_full_forward_logits():
    model = random_model(init_std=0.1).eval()
    tokens = torch.randint(2, CharTokenizer().vocab_size, (3, 12), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = model(tokens)
        cache = model.new_cache()
        pieces = [model(tokens[:, :5], cache)]  # prefill
        pieces += [model(tokens[:, t : t + 1], cache) for t in range(5, 9)]  # one token at a time
        pieces.append(model(tokens[:, 9:], cache))  # several new tokens after a filled cache
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=1e-5)


def sample_and_rescore(dtype: str):
    tokenizer = CharTokenizer()
    model = random_model(width=64)
    sampler = Sampler(model, dtype, tokenizer.eos_id, tokenizer.pad_id)
    prompts = tokenizer.encode_batch(["12+34=", "56+78="]).repeat_interleave(8, dim=0)
    sampled = sampler.generate(prompts, max_new_tokens=8, temperature=1.0, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        trainer = completion_log_probs(model, prompts, sampled.tokens, temperature=1.0)
    return mismatch_metrics(sampled.log_probs, trainer, sampled.mask)


def test_sampler_log_probs_match_the_training_pass_in_float32_and_not_in_bfloat16():
    exact = sample_and_rescore("float32")
    assert exact["mismatch_max_abs"] < 1e-4 and abs(exact["mismatch_kl"]) < 1e-5
    rounded = sample_and_rescore("bfloat16")
    assert rounded["mismatch_max_abs"] > 1e-3 and rounded["mismatch_kl_k3"] > 0.0


def test_sampler_stops_at_end_of_sequence_and_respects_top_k():
    log_probs = torch.log_softmax(torch.tensor([[0.0, 1.0, 3.0, 2.0]]), dim=-1)
    assert torch.isinf(top_k_filter(log_probs, 2)).tolist() == [[True, True, False, False]]
    tokenizer = CharTokenizer()
    sampler = Sampler(random_model(width=64), "float32", tokenizer.eos_id, tokenizer.pad_id)
    sampled = sampler.generate(
        tokenizer.encode_batch(["12+34="] * 16), max_new_tokens=8, generator=torch.Generator().manual_seed(1)
    )
    for row, mask in zip(sampled.tokens.tolist(), sampled.mask.tolist()):
        length = sum(mask)
        assert mask == [True] * length + [False] * (len(mask) - length)
        assert all(token == tokenizer.pad_id for token in row[length:])
        assert tokenizer.eos_id not in row[: length - 1]


# ---------------------------------------------------------------- the loss's pieces, by hand


def test_group_advantages_under_each_reward_scaling():
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0]])
    torch.testing.assert_close(
        grpo_advantages(rewards, "none"), torch.tensor([[0.5, -0.5, -0.5, 0.5], [0.0, 0.0, 0.0, 0.0]])
    )
    torch.testing.assert_close(grpo_advantages(rewards, "group", eps=0.0)[0], torch.tensor([1.0, -1.0, -1.0, 1.0]))
    assert grpo_advantages(rewards, "group")[1].abs().max() == 0.0  # an all-equal group gets no signal
    batch_std = rewards.std(correction=0)  # sqrt(0.75 · 0.25)
    torch.testing.assert_close(
        grpo_advantages(rewards, "batch", eps=0.0)[0], torch.tensor([0.5, -0.5, -0.5, 0.5]) / batch_std
    )


MASK = torch.tensor([[True, True, True, False], [True, False, False, False]])


def test_loss_normalizations_on_a_hand_computed_case():
    torch.testing.assert_close(
        loss_normalization_weights(MASK, "sequence", 4), torch.tensor([[1 / 6, 1 / 6, 1 / 6, 0], [1 / 2, 0, 0, 0]])
    )
    torch.testing.assert_close(loss_normalization_weights(MASK, "token", 4), MASK.float() / 4)
    torch.testing.assert_close(loss_normalization_weights(MASK, "constant", 4), MASK.float() / 8)
    # At ratio 1 the loss is -Σ w Â: completion 0 (3 tokens) has Â = +1, completion 1 (1 token) Â = -1
    log_probs = torch.zeros(2, 4)
    advantages = torch.tensor([1.0, -1.0])
    expected = {"sequence": -(3 / 6 - 1 / 2), "token": -(3 / 4 - 1 / 4), "constant": -(3 / 8 - 1 / 8)}
    for normalization, value in expected.items():
        weights = loss_normalization_weights(MASK, normalization, 4)
        loss, _ = grpo_loss(log_probs, log_probs, advantages, MASK, weights, 0.2, 0.2)
        assert loss.item() == pytest.approx(value, abs=1e-6), normalization


def test_clip_higher_raises_only_the_upper_clip():
    ratio = torch.tensor([[1.25]])
    log_probs, old = ratio.log(), torch.zeros(1, 1)
    mask, weights = torch.ones(1, 1, dtype=torch.bool), torch.ones(1, 1)
    symmetric, info = grpo_loss(log_probs, old, torch.tensor([1.0]), mask, weights, 0.2, 0.2)
    assert symmetric.item() == pytest.approx(-1.2) and info["clip_fraction"].item() == 1.0
    higher, info = grpo_loss(log_probs, old, torch.tensor([1.0]), mask, weights, 0.2, 0.28)
    assert higher.item() == pytest.approx(-1.25) and info["clip_fraction"].item() == 0.0
    low = torch.tensor([[0.7]]).log()  # a negative advantage is clipped at 1 - ε whatever ε_high is
    loss, _ = grpo_loss(low, old, torch.tensor([-1.0]), mask, weights, 0.2, 0.28)
    assert loss.item() == pytest.approx(0.8)


def test_kl_penalty_to_the_reference():
    log_probs, reference = torch.tensor([[-1.0, -2.0]]), torch.tensor([[-1.5, -2.0]])
    mask, weights = torch.ones(1, 2, dtype=torch.bool), torch.full((1, 2), 0.5)
    without, info = grpo_loss(log_probs, log_probs, torch.zeros(1), mask, weights, 0.2, 0.2, reference, beta=0.0)
    with_penalty, _ = grpo_loss(log_probs, log_probs, torch.zeros(1), mask, weights, 0.2, 0.2, reference, beta=0.1)
    k3 = math.exp(-0.5) + 0.5 - 1.0  # first token; the second has π = π_ref
    assert info["kl_to_reference"].item() == pytest.approx(k3 / 2)
    assert with_penalty.item() - without.item() == pytest.approx(0.1 * 0.5 * k3)


def test_importance_corrections_truncate_and_mask_at_the_cap():
    sampler = torch.zeros(1, 4)
    trainer = torch.tensor([[math.log(3.0), math.log(0.5), math.log(1.5), 5.0]])  # last token is padding
    mask = torch.tensor([[True, True, True, False]])
    weights = {
        mode: importance_correction_weights(trainer, sampler, mask, mode, cap=2.0)
        for mode in ("none", "token-truncate", "token-mask", "sequence-truncate", "sequence-mask")
    }
    torch.testing.assert_close(weights["none"], torch.tensor([[1.0, 1.0, 1.0, 0.0]]))
    torch.testing.assert_close(weights["token-truncate"], torch.tensor([[2.0, 0.5, 1.5, 0.0]]))
    torch.testing.assert_close(weights["token-mask"], torch.tensor([[0.0, 0.5, 1.5, 0.0]]))
    torch.testing.assert_close(
        weights["sequence-truncate"], torch.tensor([[2.0, 2.0, 2.0, 0.0]])
    )  # ρ = 3 · 0.5 · 1.5 = 2.25
    torch.testing.assert_close(weights["sequence-mask"], torch.zeros(1, 4))
    small = importance_correction_weights(trainer * 0.1, sampler, mask, "sequence-mask", cap=2.0)  # ρ = 2.25^0.1
    torch.testing.assert_close(small, torch.tensor([[1.0, 1.0, 1.0, 0.0]]) * 2.25**0.1)


def test_mismatch_metrics_by_hand():
    sampler = torch.tensor([[-1.0, -2.0, 0.0]])
    trainer = torch.tensor([[-1.5, -1.0, 7.0]])
    metrics = mismatch_metrics(sampler, trainer, torch.tensor([[True, True, False]]))
    assert metrics["mismatch_kl"] == pytest.approx((0.5 - 1.0) / 2)
    assert metrics["mismatch_max_abs"] == pytest.approx(1.0)
    k3 = [math.exp(r) - r - 1.0 for r in (-0.5, 1.0)]  # r = log π_trainer - log π_sampler
    assert metrics["mismatch_kl_k3"] == pytest.approx(sum(k3) / 2)


# ---------------------------------------------------------------- the trainer


def test_grpo_smoke_run_through_the_cli(tmp_path, capsys):
    run_dir = tmp_path / "lm"
    assert main(["train", "grpo-lm", "--task", "addition", *TINY, "--total-steps", "4", "--run-dir", str(run_dir)]) == 0
    with open(run_dir / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["global_step"]) for r in rows] == [1, 2, 3, 4]
    for column in (
        "reward_mean",
        "accuracy",
        "zero_std_groups",
        "kl_to_reference",
        "clip_fraction",
        "completion_length_mean",
        "entropy",
        "mismatch_kl",
        "mismatch_kl_k3",
        "mismatch_max_abs",
        "sampling_tokens_per_second",
        "heldout_accuracy",
    ):
        assert column in rows[0]
    assert rows[1]["heldout_accuracy"] != "" and rows[0]["heldout_accuracy"] == ""
    assert abs(float(rows[0]["mismatch_kl"])) < 1e-5  # a float32 sampler agrees with the training pass
    summary = json.loads((run_dir / "summary.json").read_text())
    for key in ("accuracy_before", "accuracy_after", "grpo_wall_time_s"):
        assert 0.0 <= summary[key] and (key == "grpo_wall_time_s" or summary[key] <= 1.0)
    assert summary["total_steps"] == 4 and summary["eval_episodes"] == 20
    assert (run_dir / "checkpoint" / "tensors.safetensors").exists()
    assert main(["evaluate", str(run_dir)]) == 0
    assert "grpo-lm on addition2" in capsys.readouterr().out


def test_every_option_runs_and_a_checkpoint_restores_the_policy(tmp_path):
    config = tiny_config(
        task="reverse",
        sampler_dtype="bfloat16",
        is_correction="sequence-mask",
        beta=0.05,
        num_iterations=2,
        loss_normalization="constant",
        scale_rewards="batch",
        epsilon_high=0.28,
        top_k=5,
        temperature=0.8,
    )
    agent = GRPOLM(config)
    agent.learn()
    metrics = agent.step()
    assert metrics["mismatch_max_abs"] > 0.0 and metrics["kl_to_reference"] >= 0.0 and agent.global_step == 3
    agent.save(tmp_path / "checkpoint")
    restored = GRPOLM.load(tmp_path / "checkpoint")
    assert restored.global_step == 3 and restored.reference is not None
    assert [restored.answer(p) for p in agent.heldout[:10]] == [agent.answer(p) for p in agent.heldout[:10]]


def test_the_warm_start_stops_once_the_validation_accuracy_reaches_its_target(monkeypatch):
    agent = GRPOLM(
        tiny_config(warmup_steps=40, warmup_check_every=10, warmup_target_accuracy=0.5, warmup_check_prompts=30)
    )
    assert len(agent.validation) == 30 and not set(agent.validation) & set(agent.heldout)
    checked = []

    def accuracy_rising(prompts):
        checked.append(agent.warmup_steps_done)
        assert prompts == agent.validation  # the criterion never looks at the held-out set
        return [1.0] * len(checked) + [0.0] * (3 - len(checked))  # 1/3, 2/3, ...

    monkeypatch.setattr(agent, "greedy_correct", accuracy_rising)
    assert len(agent.warm_start()) == 20 and agent.warmup_steps_done == 20 and checked == [10, 20]
    # no target: every warm-up step, no check
    agent = GRPOLM(tiny_config(warmup_steps=12, warmup_check_every=5, warmup_target_accuracy=0.0))
    monkeypatch.setattr(agent, "greedy_correct", lambda prompts: pytest.fail("checked without a target"))
    assert len(agent.warm_start()) == 12 and agent.warmup_steps_done == 12


def test_a_user_reward_function_replaces_the_verifier():
    agent = GRPOLM(tiny_config(warmup_steps=0), reward_fn=lambda prompt, completion: float(len(completion)))
    agent.warm_start()
    metrics = agent.step()
    assert metrics["reward_mean"] > 1.0  # lengths, not 0/1 correctness


@pytest.mark.parametrize(
    "flags, fragments",
    [
        (["--task", "multiply"], ["--task", "multiply", "addition"]),
        (["--group-size", "1"], ["--group-size 1", "group_size"]),
        (["--sampler-dtype", "float8"], ["--sampler-dtype", "float32"]),
        (["--is-correction", "clip"], ["--is-correction", "token-truncate"]),
        (["--epsilon", "1.5"], ["--epsilon 1.5"]),
        (["--d-model", "30", "--num-heads", "4"], ["--d-model 30", "--num-heads 4"]),
        (["--warmup-target-accuracy", "1.5"], ["--warmup-target-accuracy 1.5"]),
        (["--warmup-check-every", "0"], ["--warmup-check-every 0"]),
    ],
)
def test_bad_input_gives_a_one_line_error(tmp_path, capsys, flags, fragments):
    code = main(["train", "grpo-lm", *flags, "--run-dir", str(tmp_path / "run")])
    assert_one_line_error(capsys, code, *fragments)
    assert not (tmp_path / "run").exists()


def test_mismatch_experiment_writes_its_files(tmp_path, capsys):
    out = tmp_path / "mismatch"
    runs = [
        "--out",
        str(out),
        "--steps",
        "3",
        "--warmup-steps",
        "2",
        "--d-model",
        "16",
        "--seeds",
        "2",
        "--eval-every",
        "1",
        "--corrections",
        "token-truncate",
        "sequence-mask",
        "--jobs",
        "1",
    ]
    flags = [*runs, "--probe-digits", "2", "4", "--probe-widths", "16"]
    assert main(["experiment", "mismatch", *flags]) == 0
    summary = json.loads((out / "summary.json").read_text())
    arms = summary["arms"]
    assert list(arms) == ["float32, none", "bfloat16, none", "bfloat16, token-truncate", "bfloat16, sequence-mask"]
    assert (
        arms["float32, none"]["mismatch_kl_k3_mean"] < 1e-9
        and arms["bfloat16, none"]["mismatch_kl_k3_mean"] > 100 * arms["float32, none"]["mismatch_kl_k3_mean"]
    )
    assert all(len(arm["accuracy_after_per_seed"]) == 2 for arm in arms.values())
    assert [(r["digits"], r["sampler_dtype"]) for r in summary["probe"]] == [
        (2, "bfloat16"),
        (2, "float16"),
        (4, "bfloat16"),
        (4, "float16"),
    ]
    assert all(r["mismatch_kl_k3"] > 0 for r in summary["probe"])
    assert (out / "figure.png").exists() and len((out / "results.csv").read_text().splitlines()) == 1 + 4 * 2
    # every run of every arm and seed is kept: a second run reads them back
    result = json.loads((out / "runs/bfloat16-none/seed-1/result.json").read_text())
    assert [row["global_step"] for row in result["steps"]] == [1, 2, 3] and result["steps"][0][
        "heldout_accuracy"
    ] is not None
    assert json.loads((out / "probe.json").read_text())["rows"] == summary["probe"]
    saved = json.loads((out / "probe.json").read_text())
    saved["rows"][0]["mismatch_kl_k3"] = 123.0
    (out / "probe.json").write_text(json.dumps(saved))
    assert main(["experiment", "mismatch", *flags]) == 0
    assert json.loads((out / "runs/bfloat16-none/seed-1/result.json").read_text()) == result
    assert (
        json.loads((out / "summary.json").read_text())["probe"][0]["mismatch_kl_k3"] == 123.0
    )  # read back, not measured again
    # another probe setting measures again
    assert main(["experiment", "mismatch", *runs, "--probe-digits", "3", "--probe-widths", "16"]) == 0
    assert [r["digits"] for r in json.loads((out / "probe.json").read_text())["rows"]] == [3, 3]
    (out / "probe.json").write_text("{not json")  # a probe.json that is not one is measured again
    assert main(["experiment", "mismatch", *runs, "--probe-digits", "3", "--probe-widths", "16"]) == 0
    assert [r["digits"] for r in json.loads((out / "probe.json").read_text())["rows"]] == [3, 3]


@pytest.mark.parametrize(
    "flags, fragments",
    [
        (["--corrections", "clip"], ["--corrections", "token-truncate"]),
        (["--probe-widths", "30"], ["--probe-widths 30", "multiples of 4"]),
        (["--probe-digits", "0"], ["--probe-digits 0"]),
        (["--device", "tpu"], ["--device 'tpu'", "cpu, cuda"]),
    ],
)
def test_bad_mismatch_options_give_a_one_line_error(tmp_path, capsys, flags, fragments):
    assert_one_line_error(capsys, main(["experiment", "mismatch", "--out", str(tmp_path / "m"), *flags]), *fragments)
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(
    "device, available, count, fragments",
    [
        ("cuda:1", True, 1, ["--device cuda:1", "torch sees 1 GPU(s)", "cuda:0 to cuda:0"]),
        ("cuda", False, 0, ["--device cuda", "torch sees none", "--device cpu"]),
        ("mps", False, 0, ["--device mps", "torch sees none", "--device cpu"]),
    ],
)
def test_a_device_this_machine_lacks_is_refused_before_anything_is_written(
    tmp_path, capsys, monkeypatch, device, available, count, fragments
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    code = main(["experiment", "mismatch", "--out", str(tmp_path / "m"), "--device", device, "--jobs", "1"])
    assert_one_line_error(capsys, code, *fragments)
    assert not (tmp_path / "m").exists()
    code = main(["train", "grpo-lm", "--device", device, "--run-dir", str(tmp_path / "run")])
    assert_one_line_error(capsys, code, *fragments)
    assert not (tmp_path / "run").exists()


def test_a_finished_gpu_mismatch_reads_back_without_a_gpu(tmp_path, capsys, monkeypatch):
    import actorcritic.algorithms.grpo_lm as grpo_module
    import actorcritic.experiments.mismatch as mismatch_module

    flags = [
        "--out",
        str(tmp_path / "m"),
        "--device",
        "cuda",
        "--steps",
        "2",
        "--warmup-steps",
        "1",
        "--d-model",
        "16",
        "--corrections",
        "token-mask",
        "--probe-digits",
        "2",
        "--probe-widths",
        "16",
        "--jobs",
        "1",
    ]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with monkeypatch.context() as gpu:  # a stand-in GPU (the CPU) for the runs and the probe
        for module in (grpo_module, mismatch_module):
            gpu.setattr(module, "resolve_device", lambda device: torch.device("cpu"))
        assert main(["experiment", "mismatch", *flags]) == 0
    summary = json.loads((tmp_path / "m/summary.json").read_text())
    assert summary["config"]["device"] == "cuda"
    assert main(["experiment", "mismatch", *flags]) == 0  # everything is read back: no GPU needed
    assert json.loads((tmp_path / "m/summary.json").read_text()) == summary
    files = sorted(str(path) for path in (tmp_path / "m").rglob("*"))
    for left_to_measure in ("runs/bfloat16-token-mask/seed-0/result.json", "probe.json"):  # the absent GPU is refused
        moved = tmp_path / "m" / left_to_measure
        moved.rename(tmp_path / "aside")
        assert_one_line_error(capsys, main(["experiment", "mismatch", *flags]), "--device cuda", "torch sees none")
        assert sorted(str(path) for path in (tmp_path / "m").rglob("*")) == [f for f in files if f != str(moved)]
        assert json.loads((tmp_path / "m/summary.json").read_text()) == summary
        (tmp_path / "aside").rename(moved)


def test_the_default_budget_is_steps_not_seconds():
    """A time limit by default made the gain depend on the machine's speed (issue 42): the default is 8000 steps."""
    config = GRPOLMConfig()
    assert (config.total_steps, config.time_limit_s) == (8000, 0.0)

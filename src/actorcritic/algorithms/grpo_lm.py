"""GRPO for language models (lecture section 5.2, Eqs. 35-36) on tasks whose answers a program can check.

    warm start: a short supervised phase on solved examples, so that some completions are right
    repeat:
        draw prompts; the sampler writes G completions for each        -> Sampler.generate
        score them; group-relative advantages Â_i                     -> grpo_advantages (Eq. 35)
        the training pass rescores them; log the mismatch             -> mismatch_metrics (Qi et al. 2025)
        num_iterations gradient steps on the clipped surrogate        -> grpo_loss (Eq. 36)
        copy the new weights into the sampler

Steps (`global_step`, `total_steps`) count sampling rounds. The run stops at `total_steps` (or, where a limit is
given, after `time_limit_s` seconds of GRPO, whichever comes first). Greedy accuracy on a fixed held-out set of prompts
is measured after the warm start (`accuracy_before`) and at the end (`accuracy_after`).
"""

from __future__ import annotations

import copy
import math
import random
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable

import torch
from torch import Tensor

from actorcritic.algorithms.checkpoints import check_state_fields, reading_tensors, step_count
from actorcritic.algorithms.engine import (
    EMPTY_METRIC,
    Callbacks,
    build_quietly,
    check_parameters,
    copied_states,
    crossed_multiple,
    load_module_states,
    require_memory,
    resolve_device,
)
from actorcritic.config import (
    MAX_SEED,
    MAX_WIDTH,
    check_choice,
    check_device,
    check_field_types,
    check_finite_fields,
    check_positive_int,
    check_range,
    config_from_dict,
    config_to_dict,
)
from actorcritic.errors import ActorCriticError
from actorcritic.language.huggingface import load_huggingface
from actorcritic.language.model import TransformerLM
from actorcritic.language.objectives import (
    IS_CORRECTIONS,
    LOSS_NORMALIZATIONS,
    REWARD_SCALINGS,
    grpo_advantages,
    grpo_loss,
    importance_correction_weights,
    loss_normalization_weights,
    mismatch_metrics,
)
from actorcritic.language.sampler import DTYPES, Sampler, completion_log_probs, decode
from actorcritic.language.tasks import (
    TASKS,
    RewardFunction,
    heldout_prompts,
    make_task,
    training_prompts,
)
from actorcritic.language.tokenizer import CharTokenizer
from actorcritic.storage.checkpoint import (
    load_checkpoint,
    load_module_tensors,
    load_optimizer_state,
    module_tensors,
    optimizer_state,
    save_checkpoint,
)

HELDOUT_SEED = 1_000_003
"""Seed of the held-out prompts: the same set for every training seed, so that runs compare."""
VALIDATION_SEED = 2_000_003
"""Seed of the warm start's validation prompts (drawn apart from the held-out set)."""


MAX_HELDOUT_PROMPTS = 100_000
"""Most prompts of a fixed evaluation or validation set (each drawn until it is new: a damaged count of 10^20 would
never finish drawing)."""


@dataclass(frozen=True)
class GRPOLMConfig:
    """GRPO on a character-level transformer (or a local Hugging Face causal LM) for a task with a verifier."""

    task: str = "addition"
    """Task: addition (a+b), sort or reverse (a string of digits)."""
    digits: int = 3
    """Digits of each operand (addition) or of the string to sort or reverse."""
    seed: int = 0
    """Seed of the initialisation, the prompts and the sampling."""
    device: str = "cpu"
    """Torch device: cpu, cuda or cuda:N."""
    num_threads: int = 1
    """Torch intra-op threads; one is fastest for a model this small (and robust when other jobs share the cores)."""
    d_model: int = 128
    """Width of the transformer."""
    num_layers: int = 2
    """Transformer blocks."""
    num_heads: int = 4
    """Attention heads per block."""
    model: str = ""
    """Empty: the built-in transformer (d_model, num_layers, num_heads); a path: a local Hugging Face causal LM
    directory, with its tokenizer."""
    warmup_steps: int = 4000
    """Most supervised steps on solved examples before GRPO (0: start from the random policy); the warm start stops
    earlier at warmup_target_accuracy."""
    warmup_target_accuracy: float = 0.2
    """Stop the warm start once greedy accuracy on a validation set (warmup_check_prompts prompts apart from the
    held-out set) reaches this (0: run all warmup_steps)."""
    warmup_check_every: int = 25
    """Supervised steps between validation checks."""
    warmup_check_prompts: int = 200
    """Size of the validation set of the warm start's criterion."""
    warmup_batch_size: int = 64
    """Solved examples per supervised step."""
    warmup_learning_rate: float = 1e-3
    """Adam step size of the supervised warm start."""
    total_steps: int = 8000
    """GRPO steps (sampling rounds), each followed by num_iterations gradient steps. The default budget is a
    count of steps, not a time, so that a run gains the same on a slow CPU as on a fast one: 8000 steps took
    seeds 0, 1 and 2 up by +45.2, +33.8 and +73.6 held-out points (docs/experiments.md)."""
    time_limit_s: float = 0.0
    """Also stop GRPO after this many seconds of it (0, the default: no limit; a limit makes the result depend
    on the machine's speed)."""
    prompts_per_step: int = 32
    """Prompts per sampling round."""
    group_size: int = 8
    """G: completions sampled per prompt."""
    learning_rate: float = 3e-4
    """Adam step size of GRPO (1e-3 collapsed the warm-started policy within 25 steps)."""
    num_iterations: int = 1
    """Gradient steps on each sampled batch (μ of DeepSeek-AI 2024); the clip binds from the second on."""
    epsilon: float = 0.2
    """ε: the ratio is clipped below at 1 - ε (and above at 1 + ε unless epsilon_high says otherwise)."""
    epsilon_high: float = 0.2
    """Upper clip 1 + ε_high; above epsilon it is DAPO's clip-higher (Yu et al. 2025 use 0.28)."""
    beta: float = 0.0
    """Weight of the k3 KL penalty to the warm-started policy (0: no reference model is kept)."""
    loss_normalization: str = "sequence"
    """sequence: 1/|o_i| per completion (GRPO); token: over all tokens of the batch (DAPO); constant: 1/max tokens (Dr.
    GRPO)."""
    scale_rewards: str = "group"
    """Divide advantages by the group's reward std (group, GRPO), the batch's (batch), or not at all (none,
    Dr. GRPO)."""
    temperature: float = 1.0
    """Sampling temperature τ: the policy is softmax(logits / τ)."""
    top_k: int = 0
    """Sample among the k most likely tokens only (0: all)."""
    sampler_dtype: str = "float32"
    """Precision of the sampler's copy of the policy: float32, bfloat16 or float16."""
    is_correction: str = "none"
    """Importance-sampling correction for the sampler/trainer mismatch: none, token-truncate, sequence-truncate,
    token-mask or sequence-mask."""
    is_cap: float = 2.0
    """C: importance weights are truncated at C, or masked above C."""
    max_grad_norm: float = 1.0
    """Global gradient-norm clip."""
    eval_prompts: int = 500
    """Size of the fixed held-out set for greedy accuracy."""
    eval_every: int = 100
    """Measure held-out accuracy every this many steps (0: only before and after)."""
    checkpoint_every: int = 500
    """Save a checkpoint every this many steps (0: only at the end)."""

    def __post_init__(self) -> None:
        check_finite_fields(self)
        check_field_types(self)
        check_range("seed", self.seed, 0, MAX_SEED)
        check_choice("task", self.task, tuple(TASKS))
        check_range("digits", self.digits, 1, 18)
        check_device(self.device)
        for name in (
            "d_model",
            "num_layers",
            "num_heads",
            "warmup_batch_size",
            "total_steps",
            "prompts_per_step",
            "num_iterations",
            "eval_prompts",
            "num_threads",
        ):
            check_positive_int(name, getattr(self, name))
        check_range("d_model", self.d_model, 1, MAX_WIDTH)
        check_range("num_layers", self.num_layers, 1, 1024)
        if self.d_model % self.num_heads:
            raise ActorCriticError(
                f"--d-model {self.d_model} is not a multiple of --num-heads {self.num_heads}: choose sizes that divide"
            )
        check_range("group_size", self.group_size, 2)
        for name in ("warmup_steps", "top_k", "eval_every", "checkpoint_every"):
            check_range(name, getattr(self, name), 0)
        check_range("warmup_target_accuracy", self.warmup_target_accuracy, 0, 1)
        for name in ("warmup_check_every", "warmup_check_prompts"):
            check_positive_int(name, getattr(self, name))
        for name in ("eval_prompts", "warmup_check_prompts"):  # drawn one by one until that many distinct ones
            check_range(name, getattr(self, name), 1, MAX_HELDOUT_PROMPTS)
        for name in ("warmup_learning_rate", "learning_rate", "temperature", "max_grad_norm"):
            check_range(name, getattr(self, name), 0, math.inf, low_inclusive=False)
        check_range("time_limit_s", self.time_limit_s, 0)
        check_range("epsilon", self.epsilon, 0, 1, low_inclusive=False, high_inclusive=False)
        check_range("epsilon_high", self.epsilon_high, 0, math.inf, low_inclusive=False)
        check_range("beta", self.beta, 0)
        check_range("is_cap", self.is_cap, 1)
        check_choice("loss_normalization", self.loss_normalization, LOSS_NORMALIZATIONS)
        check_choice("scale_rewards", self.scale_rewards, REWARD_SCALINGS)
        check_choice("sampler_dtype", self.sampler_dtype, tuple(DTYPES))
        check_choice("is_correction", self.is_correction, IS_CORRECTIONS)

    @property
    def env(self) -> str:
        """The task's name in run directories and summaries (where control algorithms name their environment)."""
        return f"{self.task}{self.digits}"


def prompt_stream_state(rng: random.Random) -> list:
    """The prompt generator's state as JSON: Mersenne Twister's 625 words, so a resume draws the prompts the
    uninterrupted run draws."""
    version, words, gaussian = rng.getstate()
    return [version, list(words), gaussian]


def prompt_stream(saved: list | None, fallback_seed: int, directory: str | Path) -> random.Random:
    """The prompt generator of a checkpoint; for a checkpoint written before it was saved, fresh prompts seeded by
    `fallback_seed` (reproducible, though not the uninterrupted run's)."""
    rng = random.Random(fallback_seed)
    if saved is not None:
        try:
            version, words, gaussian = saved
            rng.setstate((version, tuple(words), gaussian))
        except (TypeError, ValueError, OverflowError):
            raise ActorCriticError(
                f"corrupt checkpoint in {directory}: state.json's prompt_stream is not a generator state; restore "
                "it from a backup or train again"
            ) from None
    return rng


class GRPOLM:
    """A character-level policy trained with GRPO: `learn`, `evaluate`, `save`, `load`, like the control agents.

    `reward_fn` (prompt, completion) -> float replaces the task's verifier as the reward; accuracy is
    still the verifier's."""

    algo = "grpo-lm"
    config_class = GRPOLMConfig

    def __init__(self, config: GRPOLMConfig, reward_fn: RewardFunction | None = None):
        self.config = config
        self.device = resolve_device(config.device)
        torch.set_num_threads(config.num_threads)
        self.task = make_task(config.task, config.digits)
        self.reward_fn = reward_fn or self.task.reward
        self.max_new_tokens = self.task.max_completion_length + 1  # the answer, then end-of-sequence
        if config.model:
            self.tokenizer, policy = load_huggingface(config.model)
        else:
            self.tokenizer = CharTokenizer()
            max_length = self.task.prompt_length + self.max_new_tokens
            # 12·d² weights per block; with their gradients and Adam's two moments, four float32 copies
            require_memory(
                16 * 12 * config.num_layers * config.d_model**2,
                f"--d-model {config.d_model} x --num-layers {config.num_layers}",
            )
            policy = build_quietly(
                lambda: TransformerLM(
                    self.tokenizer.vocab_size, max_length, config.d_model, config.num_layers, config.num_heads
                ),
                config.seed,
            )
        self.policy = policy.to(self.device)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=config.learning_rate)
        self.reference: TransformerLM | None = None
        self.sampler = Sampler(self.policy, config.sampler_dtype, self.tokenizer.eos_id, self.tokenizer.pad_id)
        self.generator = torch.Generator(self.device).manual_seed(config.seed)
        self.prompt_rng = random.Random(config.seed)
        self.heldout = heldout_prompts(self.task, config.eval_prompts, seed=HELDOUT_SEED)
        self._heldout_set = set(self.heldout)
        # the warm start's criterion is checked on prompts of its own, apart from the held-out set, so the
        # held-out accuracy stays a clean measurement. They are not kept out of training: on the tasks the
        # criterion is for (10^6 3-digit additions) a batch almost never holds one, and small tasks would
        # have too few prompts left to train on
        self.validation = heldout_prompts(
            self.task, config.warmup_check_prompts, VALIDATION_SEED, frozenset(self._heldout_set), strict=False
        )
        self.global_step = 0
        self.updates = 0
        self.warm_started = False
        self.accuracy_before = math.nan
        self.accuracy_after = math.nan
        self.warmup_wall_time_s = 0.0
        self.warmup_steps_done = 0
        self.grpo_wall_time_s = 0.0

    # ---------------------------------------------------------------- warm start

    def warm_start(self) -> list[float]:
        """Supervised steps minimising -mean_t log π_θ(answer_t | prompt, answer_<t) on solved examples
        (end-of-sequence included), until the validation accuracy reaches warmup_target_accuracy (checked
        every warmup_check_every steps) or warmup_steps have run. Returns the losses.

        Why a criterion: supervised training on addition sits on a plateau (last digit right, carries
        guessed) and then breaks through; where a fixed step count stops relative to that point depends on
        the machine's numerics (7.6% on one CPU, 30.6% on a GPU at 1400 steps), and GRPO's gain with it."""
        cfg, started = self.config, time.perf_counter()
        optimizer = torch.optim.Adam(self.policy.parameters(), lr=cfg.warmup_learning_rate)
        losses = []
        for step in range(1, cfg.warmup_steps + 1):
            prompts = training_prompts(self.task, cfg.warmup_batch_size, self.prompt_rng, self._heldout_set)
            prompt_ids = self.tokenizer.encode_batch(prompts).to(self.device)
            targets = self.tokenizer.encode_completions([self.task.solve(p) for p in prompts], self.max_new_tokens).to(
                self.device
            )
            mask = targets != self.tokenizer.pad_id
            log_probs = completion_log_probs(self.policy, prompt_ids, targets, temperature=1.0)
            loss = -(log_probs * mask).sum() / mask.sum()
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.max_grad_norm)
            optimizer.step()
            losses.append(loss.item())
            self.warmup_steps_done = step
            if (
                cfg.warmup_target_accuracy
                and step % cfg.warmup_check_every == 0
                and statistics.fmean(self.greedy_correct(self.validation)) >= cfg.warmup_target_accuracy
            ):
                break
        self.warm_started = True
        if cfg.beta > 0:
            self.reference = copy.deepcopy(self.policy).requires_grad_(False)
        self.sampler.sync(self.policy)
        self.warmup_wall_time_s = time.perf_counter() - started
        return losses

    # ---------------------------------------------------------------- GRPO

    def learn(self, steps: int | None = None, callbacks: Iterable[Any] = ()) -> "GRPOLM":
        """Warm start (once), then GRPO steps until total_steps (or `steps` more) or time_limit_s. `callbacks`
        receive the events of `actorcritic.algorithms.engine`: one metrics row per step, checkpoints every
        `checkpoint_every` steps, the end."""
        cfg, hooks = self.config, Callbacks(callbacks)
        if steps is not None:
            if steps < 1:
                raise ActorCriticError(f"learn({steps}) is out of range: train at least one GRPO step")
            cfg = self.config = replace(cfg, total_steps=max(cfg.total_steps, self.global_step + steps))
        end = cfg.total_steps if steps is None else self.global_step + steps
        if not self.warm_started:
            self.warm_start()
            self.accuracy_before = statistics.fmean(self.evaluate())
            print(
                f"warm start: {self.warmup_steps_done} supervised steps in {self.warmup_wall_time_s:.1f} s, held-out "
                f"greedy accuracy {self.accuracy_before:.3f}",
                flush=True,
            )
        started = time.perf_counter()
        time_used = self.grpo_wall_time_s  # a resumed run continues its clock
        while self.global_step < end:
            if cfg.time_limit_s and time_used + time.perf_counter() - started >= cfg.time_limit_s:
                break
            metrics = self.step()
            if cfg.eval_every and self.global_step % cfg.eval_every == 0:
                metrics["heldout_accuracy"] = statistics.fmean(self.evaluate())
            keep_going = hooks.on_log(self, metrics)
            if crossed_multiple(self.global_step - 1, self.global_step, cfg.checkpoint_every):
                hooks.on_checkpoint(self)
            if not keep_going:
                break
        hooks.on_end(self)
        self.grpo_wall_time_s = time_used + time.perf_counter() - started
        self.accuracy_after = statistics.fmean(self.evaluate())
        print(
            f"GRPO: {self.global_step} steps in {self.grpo_wall_time_s:.1f} s, held-out greedy accuracy "
            f"{self.accuracy_before:.3f} -> {self.accuracy_after:.3f}",
            flush=True,
        )
        return self

    def sample_round(self) -> tuple[list[str], Tensor, Any]:
        """Draw prompts_per_step training prompts and sample group_size completions of each with the
        sampler: the prompts, their ids repeated per completion [B, P] and the sampled completions."""
        cfg = self.config
        prompts = training_prompts(self.task, cfg.prompts_per_step, self.prompt_rng, self._heldout_set)
        prompt_ids = self.tokenizer.encode_batch(prompts).to(self.device).repeat_interleave(cfg.group_size, dim=0)
        return (
            prompts,
            prompt_ids,
            self.sampler.generate(
                prompt_ids, self.max_new_tokens, cfg.temperature, cfg.top_k, generator=self.generator
            ),
        )

    @torch.no_grad()
    def mismatch_now(self) -> dict[str, float]:
        """The mismatch figures (`objectives.mismatch_metrics`) of one sampling round, without an update,
        and the completions' mean length (a sequence's KL is the sum of its tokens')."""
        _, prompt_ids, sampled = self.sample_round()
        trainer_log_probs = completion_log_probs(self.policy, prompt_ids, sampled.tokens, self.config.temperature)
        return {
            **mismatch_metrics(sampled.log_probs, trainer_log_probs, sampled.mask),
            "completion_length_mean": float(sampled.lengths.float().mean()),
        }

    def step(self) -> dict[str, float]:
        """One sampling round and its num_iterations updates; returns the metrics row."""
        cfg, started = self.config, time.perf_counter()
        prompts, prompt_ids, sampled = self.sample_round()
        rewards, correct = self._score(prompts, sampled)
        advantages = grpo_advantages(rewards, cfg.scale_rewards).reshape(-1).to(self.device)  # Eq. 35
        totals, first_pass = self._gradient_steps(prompt_ids, sampled, advantages)
        self.sampler.sync(self.policy)
        self.global_step += 1
        self.updates += 1
        return self._metrics_row(rewards, correct, sampled, totals, first_pass, started)

    def _score(self, prompts: list[str], sampled: Any) -> tuple[Tensor, list[float]]:
        """The rewards [prompts, G] of the sampled completions (`reward_fn`), and their correctness by the verifier."""
        texts = [self.tokenizer.decode(row) for row in sampled.tokens]
        repeated = [prompt for prompt in prompts for _ in range(self.config.group_size)]
        rewards = torch.tensor([self.reward_fn(p, c) for p, c in zip(repeated, texts)], dtype=torch.float32)
        return rewards.view(-1, self.config.group_size), [self.task.reward(p, c) for p, c in zip(repeated, texts)]

    def _gradient_steps(self, prompt_ids: Tensor, sampled: Any, advantages: Tensor) -> tuple[dict[str, float], dict]:
        """num_iterations steps on the GRPO loss (Eq. 36): the losses' means, and what the first pass measured."""
        cfg, tokens, mask = self.config, sampled.tokens, sampled.mask
        weights = loss_normalization_weights(mask, cfg.loss_normalization, self.max_new_tokens)
        reference_log_probs = None
        if self.reference is not None:
            with torch.no_grad():
                reference_log_probs = completion_log_probs(self.reference, prompt_ids, tokens, cfg.temperature)
        totals: dict[str, float] = {}
        for iteration in range(cfg.num_iterations):
            log_probs, entropy = completion_log_probs(
                self.policy, prompt_ids, tokens, cfg.temperature, with_entropy=True
            )
            if iteration == 0:
                old_log_probs, first_pass = self._rescored(sampled, log_probs.detach(), entropy)
            loss, info = grpo_loss(
                log_probs, old_log_probs, advantages, mask, weights, cfg.epsilon, cfg.epsilon_high,
                reference_log_probs, cfg.beta, first_pass["correction"],
            )  # fmt: skip
            self.optimizer.zero_grad()
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.max_grad_norm)
            self.optimizer.step()
            for name, value in (("policy_loss", loss.detach()), ("grad_norm", grad_norm), *info.items()):
                totals[name] = totals.get(name, 0.0) + float(value) / cfg.num_iterations
        return totals, first_pass

    def _rescored(self, sampled: Any, trainer_log_probs: Tensor, entropy: Tensor) -> tuple[Tensor, dict]:
        """The first pass, before any update, is the training side's rescoring of the sampled tokens: the
        mismatch monitor and the importance corrections use it (Qi et al. 2025). Returns log π_old and the
        first pass's figures (mismatch, entropy, the correction weights or None)."""
        cfg, mask = self.config, sampled.mask
        first_pass = {
            "mismatch": mismatch_metrics(sampled.log_probs, trainer_log_probs, mask),
            "entropy": float(entropy[mask].mean()),
            "correction": None,
        }
        if cfg.is_correction == "none":
            return sampled.log_probs, first_pass
        # π_old is the trainer's rescoring; the weights π_old / π_sampler carry the mismatch
        first_pass["correction"] = importance_correction_weights(
            trainer_log_probs, sampled.log_probs, mask, cfg.is_correction, cfg.is_cap
        )
        return trainer_log_probs, first_pass

    def _metrics_row(self, rewards: Tensor, correct: list[float], sampled: Any, totals: dict[str, float],
                     first_pass: dict, started: float) -> dict[str, float]:  # fmt: skip
        reward_mean = float(rewards.mean())
        correction = first_pass["correction"]
        corrections = correction[sampled.mask] if correction is not None else torch.ones(1)
        return {
            "global_step": self.global_step,
            "reward_mean": reward_mean,
            "episode_return_mean": reward_mean,  # what the progress line shows
            "accuracy": statistics.fmean(correct),
            "zero_std_groups": float((rewards.std(dim=1, correction=0) < 1e-8).float().mean()),
            **{
                name: totals[name]
                for name in ("kl_to_reference", "clip_fraction", "approx_kl", "policy_loss", "grad_norm")
            },
            "completion_length_mean": float(sampled.lengths.float().mean()),
            "entropy": first_pass["entropy"],
            **first_pass["mismatch"],
            "is_weight_mean": float(corrections.mean()),
            "sampling_tokens_per_second": float(sampled.lengths.sum()) / sampled.seconds,
            "steps_per_second": 1.0 / (time.perf_counter() - started),
            "heldout_accuracy": EMPTY_METRIC,
        }

    # ---------------------------------------------------------------- evaluation

    def evaluate(
        self, episodes: int | None = None, seed: int | None = None, video_dir: str | Path | None = None
    ) -> list[float]:
        """Greedy correctness (1.0 or 0.0, by the task's verifier) of the float32 policy on the first
        `episodes` prompts of the held-out set (default: all). `seed` is not used: the set is fixed."""
        return self.greedy_correct(self.heldout[: episodes or len(self.heldout)])

    @torch.no_grad()
    def greedy_correct(self, prompts: list[str]) -> list[float]:
        """1.0 or 0.0 per prompt: whether the float32 policy's greedy completion is correct."""
        results = []
        for start in range(0, len(prompts), 1024):
            chunk = prompts[start : start + 1024]
            ids = self.tokenizer.encode_batch(chunk).to(self.device)
            decoded = decode(
                self.policy, ids, self.max_new_tokens, self.tokenizer.eos_id, self.tokenizer.pad_id, greedy=True
            )
            results += [self.task.reward(p, self.tokenizer.decode(row)) for p, row in zip(chunk, decoded.tokens)]
        return results

    def answer(self, prompt: str) -> str:
        """The greedy completion of one prompt."""
        ids = self.tokenizer.encode_batch([prompt]).to(self.device)
        decoded = decode(
            self.policy, ids, self.max_new_tokens, self.tokenizer.eos_id, self.tokenizer.pad_id, greedy=True
        )
        return self.tokenizer.decode(decoded.tokens[0])

    records_video = False
    """A language model has no frames to record."""

    def summary_extras(self) -> dict:
        """What summary.json holds beyond the control agents' fields."""
        return {
            "accuracy_before": self.accuracy_before,
            "accuracy_after": self.accuracy_after,
            "eval_prompts": len(self.heldout),
            "warmup_wall_time_s": round(self.warmup_wall_time_s, 3),
            "warmup_steps_done": self.warmup_steps_done,
            "grpo_wall_time_s": round(self.grpo_wall_time_s, 3),
            "grpo_steps": self.global_step,
        }

    # ---------------------------------------------------------------- parameters

    def get_parameters(self) -> dict[str, dict[str, torch.Tensor]]:
        """The policy's (and, once the warm start has made it, the KL reference's) state dicts, copied to the CPU."""
        return copied_states(self._states())

    def set_parameters(self, parameters: dict[str, dict[str, torch.Tensor]], exact: bool = True) -> None:
        """Load `get_parameters()` output in place, checked first (`Agent.set_parameters`)."""
        states = self._states()
        check_parameters(self.algo, states, parameters, exact)
        load_module_states(self._modules(), parameters)
        self.sampler.sync(self.policy)

    def _modules(self) -> dict[str, torch.nn.Module]:
        return {"policy": self.policy, **({"reference": self.reference} if self.reference is not None else {})}

    def _states(self) -> dict[str, dict[str, torch.Tensor]]:
        return {name: module.state_dict() for name, module in self._modules().items()}

    # ---------------------------------------------------------------- checkpoints

    def save(self, directory: str | Path, policy_only: bool = False) -> None:
        """Write a checkpoint (safetensors + JSON, atomically) that `load` and `resume` restore. `policy_only`
        changes nothing here: the trainer keeps nothing large that only further training needs."""
        optimizer_tensors, param_groups = optimizer_state("optimizer", self.optimizer)
        tensors = {
            **module_tensors("policy", self.policy),
            **optimizer_tensors,
            "generator": self.generator.get_state(),
        }
        if self.reference is not None:
            tensors.update(module_tensors("reference", self.reference))
        counters = {
            "global_step": self.global_step,
            "updates": self.updates,
            "warm_started": self.warm_started,
            "accuracy_before": self.accuracy_before,
            "warmup_wall_time_s": self.warmup_wall_time_s,
            "grpo_wall_time_s": self.grpo_wall_time_s,
            "warmup_steps_done": self.warmup_steps_done,
            "prompt_stream": prompt_stream_state(self.prompt_rng),
        }
        state = {
            "algo": self.algo,
            "env": self.config.env,
            "config": config_to_dict(self.config),
            "counters": counters,
            "optimizer_param_groups": param_groups,
        }
        save_checkpoint(Path(directory), tensors, state)

    @classmethod
    def load(cls, directory: str | Path, **config_overrides) -> "GRPOLM":
        """Rebuild a trainer from a checkpoint directory written by `save`."""
        tensors, state = load_checkpoint(Path(directory), cls.algo)
        check_state_fields(state, directory, {"config": dict, "counters": dict, "optimizer_param_groups": list})
        try:
            config = replace(config_from_dict(cls.config_class, state["config"]), **config_overrides)
            counters = state["counters"]
            agent = cls(config)
            agent.global_step = step_count(counters, "global_step", directory)
            agent.updates = step_count(counters, "updates", directory)
            agent.warm_started = bool(counters["warm_started"])
            agent.accuracy_before = float(counters["accuracy_before"])
            agent.warmup_wall_time_s, agent.grpo_wall_time_s = (
                float(counters["warmup_wall_time_s"]),
                float(counters["grpo_wall_time_s"]),
            )
            agent.warmup_steps_done = int(
                counters.get("warmup_steps_done", config.warmup_steps)
            )  # checkpoints before the criterion ran them all
            param_groups = state["optimizer_param_groups"]
        except (KeyError, TypeError, ValueError) as error:
            raise ActorCriticError(f"corrupt checkpoint in {directory}: state.json lacks or garbles {error}") from None
        with reading_tensors(directory):
            load_module_tensors("policy", agent.policy, tensors)
            if any(name.startswith("reference.") for name in tensors):
                agent.reference = copy.deepcopy(agent.policy).requires_grad_(False)
                load_module_tensors("reference", agent.reference, tensors)
            load_optimizer_state("optimizer", agent.optimizer, tensors, param_groups)
            agent.generator.set_state(tensors["generator"])
        agent.sampler.sync(agent.policy)
        agent.prompt_rng = prompt_stream(
            state["counters"].get("prompt_stream"), config.seed + agent.global_step, directory
        )
        return agent

"""Sampling completions (the inference side) and scoring them (the training side), kept apart on purpose.

The sampler decodes with its own copy of the policy, in `sampler_dtype`, one token at a time through the
key-value cache, and records the log-probability of every token it draws. The training pass recomputes
those log-probabilities over whole sequences in float32. In exact arithmetic the two agree; in bfloat16
they do not, which is the training-inference mismatch of the lecture's section 2.1 (Qi et al. 2025).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import torch
from torch import Tensor

from actorcritic.language.model import TransformerLM

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def policy_log_probs(logits: Tensor, temperature: float) -> Tensor:
    """log π(·|context) = log_softmax(logits / τ), computed in float32 whatever the logits' dtype.

    logits [..., V] -> [..., V]. The temperature τ is part of the policy: the sampler draws from it and
    the training pass scores with it, so that the importance ratio compares like with like."""
    return torch.log_softmax(logits.float() / temperature, dim=-1)


def top_k_filter(log_probs: Tensor, top_k: int) -> Tensor:
    """Keep the `top_k` most likely tokens (0: all) and give the rest log-probability -inf. [..., V].

    The recorded log-probabilities stay those of the untruncated policy (as inference engines report
    them); top-k only shapes which tokens are drawn."""
    if top_k <= 0 or top_k >= log_probs.shape[-1]:
        return log_probs
    threshold = log_probs.topk(top_k, dim=-1).values[..., -1:]
    return log_probs.masked_fill(log_probs < threshold, float("-inf"))


@dataclass
class Completions:
    """What the sampler returns for B sequences of at most L tokens (end-of-sequence included)."""

    tokens: Tensor  # [B, L] long, padding after end-of-sequence
    log_probs: Tensor  # [B, L] float32, log π_sampler of each drawn token; 0 at padding
    mask: Tensor  # [B, L] bool, True for the drawn tokens (end-of-sequence included)
    seconds: float  # wall time of the decoding

    @property
    def lengths(self) -> Tensor:
        return self.mask.sum(dim=1)


class Sampler:
    """Decodes with a copy of the policy held in `dtype` ("float32", "bfloat16" or "float16")."""

    def __init__(self, policy: TransformerLM, dtype: str, eos_id: int, pad_id: int):
        self.dtype = DTYPES[dtype]
        self.model = copy.deepcopy(policy).to(self.dtype).eval().requires_grad_(False)
        self.eos_id, self.pad_id = eos_id, pad_id

    @torch.no_grad()
    def sync(self, policy: TransformerLM) -> None:
        """Load the policy's current weights (rounded to the sampler's dtype), as after each update."""
        for mine, theirs in zip(self.model.parameters(), policy.parameters()):
            mine.copy_(theirs)

    def generate(
        self,
        prompts: Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int = 0,
        greedy: bool = False,
        generator: torch.Generator | None = None,
    ) -> Completions:
        """`decode` with the sampler's copy of the policy."""
        return decode(
            self.model, prompts, max_new_tokens, self.eos_id, self.pad_id, temperature, top_k, greedy, generator
        )


@torch.no_grad()
def decode(
    model: TransformerLM,
    prompts: Tensor,
    max_new_tokens: int,
    eos_id: int,
    pad_id: int,
    temperature: float = 1.0,
    top_k: int = 0,
    greedy: bool = False,
    generator: torch.Generator | None = None,
) -> Completions:
    """Decode up to `max_new_tokens` tokens after each row of `prompts` [B, P] (repeat a prompt G times for
    a group of G), one token per step through the key-value cache. A row stops at end-of-sequence, the
    batch when every row has stopped. Draws from softmax(logits / τ) restricted to the top k, or takes the
    most likely token when `greedy`."""
    started = time.perf_counter()
    batch = prompts.shape[0]
    cache = model.new_cache()
    logits = model(prompts, cache)[:, -1]
    finished = torch.zeros(batch, dtype=torch.bool, device=prompts.device)
    tokens, log_probs, mask = [], [], []
    for _ in range(max_new_tokens):
        step_log_probs = policy_log_probs(logits, temperature)
        if greedy:
            token = step_log_probs.argmax(dim=-1)
        else:
            probs = top_k_filter(step_log_probs, top_k).exp()
            token = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        drawn_log_prob = step_log_probs.gather(1, token[:, None]).squeeze(1)
        tokens.append(token.masked_fill(finished, pad_id))
        log_probs.append(drawn_log_prob.masked_fill(finished, 0.0))
        mask.append(~finished)
        finished = finished | (token == eos_id)
        if finished.all():
            break
        logits = model(tokens[-1][:, None], cache)[:, -1]
    return Completions(
        torch.stack(tokens, 1), torch.stack(log_probs, 1), torch.stack(mask, 1), time.perf_counter() - started
    )


def completion_log_probs(
    policy: TransformerLM, prompts: Tensor, completions: Tensor, temperature: float, with_entropy: bool = False
):
    """The training forward pass: log π_θ(o_t | q, o_<t) of every completion token, in one pass over
    prompt + completion. prompts [B, P], completions [B, L] -> log_probs [B, L] (and the entropy [B, L] of
    π_θ(·|q, o_<t), detached, when `with_entropy`). Padding positions hold values to be masked by the caller."""
    inputs = torch.cat([prompts, completions[:, :-1]], dim=1)
    logits = policy(inputs)[:, prompts.shape[1] - 1 :]
    all_log_probs = policy_log_probs(logits, temperature)
    log_probs = all_log_probs.gather(2, completions[:, :, None]).squeeze(2)
    if not with_entropy:
        return log_probs
    detached = all_log_probs.detach()  # entropy is a diagnostic: no gradient flows through it
    entropy = -(detached.exp() * detached).sum(-1)
    return log_probs, entropy

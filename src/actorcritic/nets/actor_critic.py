"""The on-policy model: π_θ(a|s) and V_φ(s) as two members of one stacked MLP (optionally behind a CNN), its
NumPy acting copy (sampling with noise drawn from the agent's torch generator) and the exported policy."""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import Tensor, nn

from actorcritic.core.distributions import (
    _HALF_LOG_TWO_PI,
    categorical_kl,
    categorical_log_prob_and_entropy,
    gaussian_entropy,
    gaussian_kl,
    gaussian_log_prob,
    multi_categorical_kl,
    multi_categorical_log_prob_and_entropy,
)
from actorcritic.nets.mlp import NumpyStackedMLP, SeparateMLPs, StackedMLP

MASKED_LOGIT = -1e8
"""The logit of an action its mask forbids: probability exactly 0 in float32 (exp underflows), while log π and the
entropy stay finite (a -inf would make 0 · log 0 a NaN); sb3-contrib's MaskablePPO uses the same value."""

# ---------------------------------------------------------------- PPO's actor-critic


class ActorCritic(nn.Module):
    """π_θ(a|s) and V_φ(s) as two separate MLPs (no shared layers, lecture section 5), run as the two members
    of one `StackedMLP`. Discrete actions: softmax over logits (`num_actions`); several discrete choices at
    once (MultiDiscrete, MultiBinary): one softmax per choice (`action_nvec`, actions [B, G]). Continuous
    actions: N(μ_θ(s), diag σ²) with a learned, state-independent log σ (Schulman et al. 2017). Orthogonal
    initialisation with policy output gain 0.01 (a near-uniform or near-zero-mean start) and value output gain
    1 (Huang et al. 2022), or, with `orthogonal_init=False`, PyTorch's nn.Linear initialisation.

    With `mask_width` (invalid-action masking, discrete actions only) the input is the observation followed by
    the action mask, one 0/1 column per logit: the networks read the observation, and every logit whose mask
    is 0 becomes `MASKED_LOGIT`, so the policy, its log-probabilities, its entropy and its KL are those of
    the distribution over the allowed actions (Huang & Ontañón 2022). Carrying the mask in the input keeps it
    beside its observation through the rollout buffer, every minibatch and the acting copy."""

    def __init__(
        self,
        obs_dim: int,
        hidden_sizes: tuple[int, ...],
        num_actions: int | None = None,
        action_dim: int | None = None,
        log_std_init: float = 0.0,
        value: bool = True,
        action_nvec: tuple[int, ...] | None = None,
        encoder: nn.Module | None = None,
        activation: type[nn.Module] = nn.Tanh,
        orthogonal_init: bool = True,
        mask_width: int = 0,
        value_hidden_sizes: tuple[int, ...] | None = None,
        layer_norm: bool = False,
    ):
        super().__init__()
        # an image encoder shared by the policy and the value heads (PPO on Atari); `obs_dim` is then its width
        self.encoder = encoder
        if sum(x is not None for x in (num_actions, action_dim, action_nvec)) != 1:
            raise ValueError(
                "give exactly one of num_actions (discrete), action_nvec (multi-discrete) and action_dim (continuous)"
            )
        self.grouped = action_nvec is not None
        self.nvec = tuple(action_nvec) if self.grouped else ((num_actions,) if num_actions is not None else None)
        self.discrete = self.nvec is not None
        self.has_value = value
        width = sum(self.nvec) if self.discrete else action_dim
        if mask_width and mask_width != (width if self.discrete else -1):
            raise ValueError(f"an action mask has one column per logit ({width}), not {mask_width}")
        self.mask_width = mask_width
        gains = ((0.01, 1.0) if value else (0.01,)) if orthogonal_init else None
        options = dict(output_gains=gains, activation=activation, layer_norm=layer_norm)
        value_hidden_sizes = hidden_sizes if value_hidden_sizes is None else tuple(value_hidden_sizes)
        if value and tuple(value_hidden_sizes) != tuple(hidden_sizes):  # a value network of its own widths
            self.body = SeparateMLPs(
                obs_dim, (hidden_sizes, value_hidden_sizes), width, output_widths=(width, 1), **options
            )
        elif value:
            self.body = StackedMLP(2, obs_dim, hidden_sizes, width, output_widths=(width, 1), **options)
        else:  # a policy alone (GRPO): no value network at all
            self.body = StackedMLP(1, obs_dim, hidden_sizes, width, **options)
        self.log_std = None if self.discrete else nn.Parameter(torch.full((action_dim,), float(log_std_init)))

    def forward(self, obs: Tensor) -> tuple[Tensor, Tensor | None]:
        """obs [B, obs_dim] (then the mask, with mask_width) -> policy output (logits or mean) [B, width], values [B]
        (None without a value network)."""
        obs, allowed = split_action_mask(obs, self.mask_width)
        out = self.body(self.encoder(obs) if self.encoder is not None else obs)
        policy_out = out[0] if allowed is None else out[0].masked_fill(~allowed, MASKED_LOGIT)
        return policy_out, (out[1, :, 0] if self.has_value else None)

    def evaluate_actions(self, obs: Tensor, actions: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """log π(a|s) [B], entropy (per state [B] or a scalar for the Gaussian) and V(s) [B]."""
        policy_out, values = self(obs)
        log_prob, entropy = self._log_prob_and_entropy(policy_out, actions, self.log_std)
        return log_prob, entropy, values

    def _log_prob_and_entropy(
        self, policy_out: Tensor, actions: Tensor, log_std: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        if self.grouped:
            return multi_categorical_log_prob_and_entropy(policy_out, actions, self.nvec)
        if self.discrete:
            return categorical_log_prob_and_entropy(policy_out, actions)
        return gaussian_log_prob(policy_out, log_std, actions), gaussian_entropy(log_std)

    def kl_from(self, obs: Tensor, old_policy_out: Tensor, old_log_std: Tensor | None) -> Tensor:
        """KL(π_old(·|s) || π_θ(·|s)) per state [B], π_old given by its saved outputs on `obs`."""
        policy_out = self(obs)[0]
        if self.grouped:
            return multi_categorical_kl(old_policy_out, policy_out, self.nvec)
        if self.discrete:
            return categorical_kl(old_policy_out, policy_out)
        return gaussian_kl(old_policy_out, old_log_std, policy_out, self.log_std)

    def policy_parameter_mask(self) -> Tensor:
        """1 for every entry of `self.parameters()` (concatenated, flat) that belongs to the policy, 0 for
        the value network's: the policy is member 0 of the stack, plus log σ, plus a shared image encoder."""
        shared = {id(p) for p in ([self.log_std] if self.log_std is not None else [])}
        shared |= {id(p) for p in (self.encoder.parameters() if self.encoder is not None else [])}
        masks = []
        for parameter in self.parameters():
            shared_one = id(parameter) in shared
            masks.append(
                (torch.ones_like(parameter) if shared_one else self.body.member_mask(parameter, 0)).reshape(-1)
            )
        return torch.cat(masks)

    def per_sample_scores(self, obs: Tensor, actions: Tensor, chunk: int = 256):
        """∇θ log π_θ(a_i|s_i) of every sample, flat over `self.parameters()`: yields [chunk, P] blocks in
        order. Per-sample gradients by torch.func.vmap over torch.func.grad (one backward pass per sample)."""
        from torch.func import functional_call, grad, vmap

        params = {name: p.detach() for name, p in self.named_parameters()}

        def log_prob(params, single_obs, single_action):
            policy_out, _ = functional_call(self, params, (single_obs.unsqueeze(0),))
            return self._log_prob_and_entropy(policy_out, single_action.unsqueeze(0), params.get("log_std"))[0].squeeze(
                0
            )

        per_sample = vmap(grad(log_prob), in_dims=(None, 0, 0))
        for start in range(0, obs.shape[0], chunk):
            grads = per_sample(params, obs[start : start + chunk], actions[start : start + chunk])
            yield torch.cat([g.reshape(g.shape[0], -1) for g in grads.values()], 1)

    def acting_copy(self) -> "ActingActorCritic":
        log_std = None if self.discrete else self.log_std.detach().cpu().numpy().astype(np.float64)
        acting = ActingActorCritic(
            self.body.numpy_copy(), log_std, self.nvec if self.grouped else None, self.mask_width
        )
        return acting if self.encoder is None else EncodedActing(self.encoder, acting)


class ActingActorCritic:
    """Inference-only NumPy copy of an `ActorCritic` for acting: one forward pass gives the action, its
    log-probability and V(s). Noise comes from `draw_noise` (the agent's torch generator):
    a uniform number per actor (and per choice, for several discrete choices) for discrete actions
    (inverse-CDF sampling), ε ~ N(0, I) for continuous ones."""

    def __init__(
        self,
        body: NumpyStackedMLP,
        log_std: np.ndarray | None,
        nvec: tuple[int, ...] | None = None,
        mask_width: int = 0,
    ):
        self.body = body
        self.nvec = nvec
        self.mask_width = mask_width
        self.discrete = log_std is None
        if not self.discrete:
            self.std = np.exp(log_std).astype(np.float32)
            self._log_prob_offset = float(log_std.sum() + _HALF_LOG_TWO_PI * log_std.shape[0])
            self.action_dim = log_std.shape[0]

    def draw_noise(self, shape: tuple[int, ...], generator: torch.Generator) -> np.ndarray:
        if self.nvec is not None:
            return torch.rand((*shape, len(self.nvec)), generator=generator, dtype=torch.float64).numpy()
        if self.discrete:
            return torch.rand(shape, generator=generator, dtype=torch.float64).numpy()
        return torch.randn((*shape, self.action_dim), generator=generator).numpy()

    def sample(self, obs: np.ndarray, noise: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """obs [B, obs_dim] (then the mask) -> actions [B] or [B, A], log π(a|s) [B] (float32), V(s) [B]."""
        obs, allowed = split_action_mask(obs, self.mask_width)
        return self.sample_outputs(self.body(obs), allowed, noise)

    def sample_outputs(
        self, out: np.ndarray, allowed: np.ndarray | None, noise: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`sample` from the networks' outputs [M, B, width] and the allowed actions (or None)."""
        policy_out = out[0] if allowed is None else np.where(allowed, out[0], np.float32(MASKED_LOGIT))
        values = self.values_of(out)
        if self.nvec is not None:
            groups = np.split(policy_out, np.cumsum(self.nvec)[:-1], axis=-1)
            sampled = [_sample_categorical(logits, noise[:, g]) for g, logits in enumerate(groups)]
            actions = np.stack([a for a, _ in sampled], axis=-1)
            log_prob = sum(lp for _, lp in sampled)
        elif self.discrete:
            actions, log_prob = _sample_categorical(policy_out, noise)
        else:
            actions = policy_out + self.std * noise
            log_prob = -(0.5 * np.square(noise).sum(axis=-1) + self._log_prob_offset)
        return actions, log_prob.astype(np.float32), values

    def mode(self, obs: np.ndarray) -> np.ndarray:
        """The deterministic action: argmax of the (allowed) logits, or the Gaussian mean."""
        obs, allowed = split_action_mask(obs, self.mask_width)
        return self.mode_outputs(self.body(obs)[0], allowed)

    def mode_outputs(self, policy_out: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
        """`mode` from the policy's output [B, width] and the allowed actions (or None)."""
        if allowed is not None:
            policy_out = np.where(allowed, policy_out, np.float32(MASKED_LOGIT))
        if self.nvec is not None:
            return np.stack(
                [g.argmax(axis=-1) for g in np.split(policy_out, np.cumsum(self.nvec)[:-1], axis=-1)], axis=-1
            )
        return policy_out.argmax(axis=-1) if self.discrete else policy_out

    def value(self, obs: np.ndarray) -> np.ndarray:
        """V(s) [B]; zeros for a policy without a value network."""
        return self.values_of(self.body(split_action_mask(obs, self.mask_width)[0]))

    @staticmethod
    def values_of(out: np.ndarray) -> np.ndarray:
        """V [B] from the networks' outputs [M, B, width]; zeros for a policy alone."""
        return out[1, :, 0] if out.shape[0] > 1 else np.zeros(out.shape[1], dtype=np.float32)


class EncodedActing:
    """Acting with an image encoder: the convolutions in torch (NumPy has none to match), then the NumPy
    heads of `ActingActorCritic`. Same interface. Measured (benchmarks/cnn_acting.py, 8 Atari frame stacks,
    2 cores): 0.93 ms per step against 0.88 ms for the whole forward pass in torch; the convolutions are
    nearly all of it, and the NumPy heads keep one sampling code for every policy."""

    def __init__(self, encoder: nn.Module, heads: ActingActorCritic):
        self.encoder, self.heads = encoder, heads

    def _features(self, obs: np.ndarray) -> np.ndarray:
        parameter = next(self.encoder.parameters())
        with torch.inference_mode():
            return self.encoder(torch.as_tensor(obs, device=parameter.device)).cpu().numpy()

    def draw_noise(self, shape: tuple[int, ...], generator: torch.Generator) -> np.ndarray:
        return self.heads.draw_noise(shape, generator)

    def sample(self, obs: np.ndarray, noise: np.ndarray):
        return self.heads.sample(self._features(obs), noise)

    def mode(self, obs: np.ndarray) -> np.ndarray:
        return self.heads.mode(self._features(obs))

    def value(self, obs: np.ndarray) -> np.ndarray:
        return self.heads.value(self._features(obs))


def split_action_mask(policy_input, mask_width: int):
    """A policy's input [B, obs_dim (+ mask_width)] -> (the observations, the allowed actions as booleans [B,
    mask_width], or None without a mask). Works on tensors and NumPy arrays alike."""
    if not mask_width:
        return policy_input, None
    return policy_input[:, :-mask_width], policy_input[:, -mask_width:] > 0.5


def _sample_categorical(policy_out: np.ndarray, uniform: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse-CDF samples of softmax(logits) from one uniform number per row: actions [B], log π(a|s) [B]."""
    logits = policy_out.astype(np.float64)
    logits -= logits.max(axis=-1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    cdf = np.exp(log_probs).cumsum(axis=-1)
    actions = np.minimum((cdf < uniform[:, None] * cdf[:, -1:]).sum(axis=-1), logits.shape[-1] - 1)
    return actions, np.take_along_axis(log_probs, actions[:, None], axis=-1)[:, 0]


class NormalizedPolicy(nn.Module):
    """The deterministic policy of an `ActorCritic` as one standalone module: obs [B, obs_dim] -> the argmax
    action [B] (discrete) or the Gaussian mean clipped to [low, high] [B, A], with the frozen observation
    normalisation clip((obs - mean) / sqrt(var + eps), ±clip) in front when `stats` are given. A policy with
    `mask_width` takes the action mask as a second input [B, mask_width] (bool or 0/1) and argmaxes over the
    allowed actions only."""

    def __init__(
        self,
        body: StackedMLP,
        stats,
        clip: float,
        eps: float,
        low: np.ndarray | None,
        high: np.ndarray | None,
        nvec: tuple[int, ...] | None = None,
        encoder: nn.Module | None = None,
        mask_width: int = 0,
    ):
        super().__init__()
        self.mask_width = mask_width
        self.body = copy.deepcopy(body).cpu()
        self.encoder = copy.deepcopy(encoder).cpu() if encoder is not None else None
        self.nvec = list(nvec) if nvec is not None else None
        self.normalize = stats is not None
        self.clip, self.discrete = float(clip), low is None
        obs_dim = int(np.prod(stats.mean.shape)) if stats is not None else 1
        mean = stats.mean if stats is not None else np.zeros(obs_dim)
        scale = np.sqrt(stats.var + eps) if stats is not None else np.ones(obs_dim)
        self.register_buffer("obs_mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("obs_scale", torch.as_tensor(scale, dtype=torch.float32))
        self.register_buffer("low", torch.as_tensor(low if low is not None else 0.0, dtype=torch.float32))
        self.register_buffer("high", torch.as_tensor(high if high is not None else 0.0, dtype=torch.float32))

    def forward(self, obs: Tensor, action_mask: Tensor | None = None) -> Tensor:
        return self.act_on_features(self.normalized(obs), action_mask)

    def normalized(self, obs: Tensor) -> Tensor:
        """Raw observations -> what the policy's layers read: normalised, then encoded where there is an encoder."""
        if self.normalize:
            obs = torch.clamp((obs - self.obs_mean) / self.obs_scale, -self.clip, self.clip)
        return self.encoder(obs) if self.encoder is not None else obs

    def act_on_features(self, features: Tensor, action_mask: Tensor | None = None) -> Tensor:
        """The policy's MLP on `features`, then the deterministic action over the allowed actions."""
        out = self.body.member(features, 0)
        if action_mask is not None:
            out = out.masked_fill(~action_mask.bool(), MASKED_LOGIT)
        if self.nvec is not None:
            return torch.stack([group.argmax(-1) for group in out.split(self.nvec, -1)], -1)
        return out.argmax(-1) if self.discrete else torch.minimum(torch.maximum(out, self.low), self.high)

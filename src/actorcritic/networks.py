"""Networks: MLPs with orthogonal initialisation, stochastic policy heads (categorical, Gaussian), value critics.

Training uses the torch modules. Acting, one environment step at a time, uses an inference-only NumPy copy
of the weights (`NumpyMLP`, `Policy.acting_copy()`), rebuilt after every update: for a 64-unit MLP a NumPy
forward pass costs a few microseconds, a torch one several times more in per-operation overhead. The
random numbers for sampling still come from the agent's torch generator, drawn for a whole rollout at once.

Policies compute log-probabilities and entropies with a few tensor operations instead of building
`torch.distributions` objects, for the same reason.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

_HALF_LOG_TWO_PI = 0.5 * math.log(2 * math.pi)


def mlp(
    in_features: int,
    hidden_sizes: tuple[int, ...],
    out_features: int,
    activation: type[nn.Module] = nn.Tanh,
    output_gain: float = 1.0,
) -> nn.Sequential:
    """An MLP with orthogonal weights (gain √2 on hidden layers, `output_gain` on the last) and zero biases,
    the initialisation of the PPO implementations studied by Huang et al. (2022)."""
    layers: list[nn.Module] = []
    sizes = (in_features, *hidden_sizes)
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        layers += [_orthogonal(nn.Linear(fan_in, fan_out), math.sqrt(2)), activation()]
    layers.append(_orthogonal(nn.Linear(sizes[-1], out_features), output_gain))
    return nn.Sequential(*layers)


def _orthogonal(layer: nn.Linear, gain: float) -> nn.Linear:
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


class ValueNetwork(nn.Module):
    """V_φ(s): a separate critic network (lecture section 5: sharing layers with the policy tends to hurt)."""

    def __init__(self, obs_dim: int, hidden_sizes: tuple[int, ...]):
        super().__init__()
        self.net = mlp(obs_dim, hidden_sizes, 1, output_gain=1.0)

    def forward(self, obs: Tensor) -> Tensor:
        """obs [B, obs_dim] -> values [B]."""
        return self.net(obs).squeeze(-1)


class CategoricalPolicy(nn.Module):
    """π_θ(a|s) = softmax(logits_θ(s)) over a discrete action set."""

    def __init__(self, obs_dim: int, num_actions: int, hidden_sizes: tuple[int, ...]):
        super().__init__()
        # A small output gain starts the policy near uniform (Huang et al. 2022).
        self.net = mlp(obs_dim, hidden_sizes, num_actions, output_gain=0.01)

    def log_prob_and_entropy(self, obs: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
        """log π(a|s) [B] and the entropy H(π(·|s)) [B] for stored actions [B]."""
        log_probs = torch.log_softmax(self.net(obs), dim=-1)
        log_prob = log_probs.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
        entropy = -(log_probs.exp() * log_probs).sum(-1)
        return log_prob, entropy

    def acting_copy(self) -> "CategoricalActing":
        return CategoricalActing(NumpyMLP(self.net))


class GaussianPolicy(nn.Module):
    """π_θ(a|s) = N(μ_θ(s), diag σ²) with a state-independent, learned log σ (Schulman et al. 2017)."""

    def __init__(self, obs_dim: int, action_dim: int, hidden_sizes: tuple[int, ...], log_std_init: float = 0.0):
        super().__init__()
        self.net = mlp(obs_dim, hidden_sizes, action_dim, output_gain=0.01)
        self.log_std = nn.Parameter(torch.full((action_dim,), float(log_std_init)))

    def log_prob_and_entropy(self, obs: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
        """log π(a|s) [B] and the entropy H(π(·|s)) [B] for stored actions [B, A]."""
        mean = self.net(obs)
        z = (actions - mean) * torch.exp(-self.log_std)
        log_prob = -(0.5 * z.square() + self.log_std + _HALF_LOG_TWO_PI).sum(-1)
        entropy = (self.log_std + 0.5 + _HALF_LOG_TWO_PI).sum().expand(obs.shape[0])
        return log_prob, entropy

    def acting_copy(self) -> "GaussianActing":
        return GaussianActing(NumpyMLP(self.net), self.log_std.detach().cpu().numpy().astype(np.float32))


# ---------------------------------------------------------------- inference-only copies for acting

class NumpyMLP:
    """A frozen NumPy copy of an `mlp`: forward pass only, float32."""

    _activations = {nn.Tanh: np.tanh, nn.ReLU: lambda x: np.maximum(x, 0.0)}

    def __init__(self, net: nn.Sequential):
        self.layers = []
        modules = list(net)
        for index, module in enumerate(modules):
            if isinstance(module, nn.Linear):
                following = modules[index + 1] if index + 1 < len(modules) else None
                activation = self._activations[type(following)] if following is not None else None
                weight = module.weight.detach().cpu().numpy().T.astype(np.float32)
                bias = module.bias.detach().cpu().numpy().astype(np.float32)
                self.layers.append((weight, bias, activation))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        for weight, bias, activation in self.layers:
            x = x @ weight + bias
            if activation is not None:
                x = activation(x)
        return x


class CategoricalActing:
    """Sampling and the mode of a `CategoricalPolicy`, in NumPy. The noise is one uniform number per actor."""

    def __init__(self, net: NumpyMLP):
        self.net = net

    @staticmethod
    def draw_noise(shape: tuple[int, ...], generator: torch.Generator) -> np.ndarray:
        """Uniform(0, 1) numbers [*shape] for `sample`, from the agent's torch generator."""
        return torch.rand(shape, generator=generator, dtype=torch.float64).numpy()

    def sample(self, obs: np.ndarray, uniform: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """a ~ π(·|s) by inverting the CDF at `uniform` [B]. obs [B, obs_dim] -> actions [B], log π(a|s) [B]."""
        logits = self.net(obs).astype(np.float64)
        logits -= logits.max(axis=-1, keepdims=True)
        log_probs = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
        cdf = np.exp(log_probs).cumsum(axis=-1)
        actions = np.minimum((cdf < uniform[:, None] * cdf[:, -1:]).sum(axis=-1), logits.shape[-1] - 1)
        return actions, np.take_along_axis(log_probs, actions[:, None], axis=-1)[:, 0].astype(np.float32)

    def mode(self, obs: np.ndarray) -> np.ndarray:
        return self.net(obs).argmax(axis=-1)


class GaussianActing:
    """Sampling and the mode of a `GaussianPolicy`, in NumPy. The noise is ε ~ N(0, I) per actor."""

    def __init__(self, net: NumpyMLP, log_std: np.ndarray):
        self.net, self.log_std, self.std = net, log_std, np.exp(log_std)
        self.action_dim = log_std.shape[0]
        self._log_prob_offset = float((log_std + _HALF_LOG_TWO_PI).sum())

    def draw_noise(self, shape: tuple[int, ...], generator: torch.Generator) -> np.ndarray:
        return torch.randn((*shape, self.action_dim), generator=generator).numpy()

    def sample(self, obs: np.ndarray, noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """a = μ(s) + σ·ε. obs [B, obs_dim], noise [B, A] -> actions [B, A], log π(a|s) [B]."""
        actions = self.net(obs) + self.std * noise
        log_probs = -(0.5 * np.square(noise).sum(axis=-1) + self._log_prob_offset)
        return actions, log_probs.astype(np.float32)

    def mode(self, obs: np.ndarray) -> np.ndarray:
        return self.net(obs)

"""Networks: MLPs with orthogonal initialisation, stacked MLPs, policy distributions, the PPO actor-critic.

Speed on small networks is a matter of how many tensor operations run, not how many FLOPs:

* `StackedMLP` holds M independent MLPs of the same shape (separate parameters, nothing shared) and runs
  them in one batched matrix product per layer. PPO's policy and value networks are its two members;
  TD3's and SAC's twin critics will be another.
* Acting, one environment step at a time, uses an inference-only NumPy copy of the weights
  (`acting_copy()`), rebuilt after every update: a NumPy forward pass of a 64-unit MLP costs a few
  microseconds, a torch one several times more in per-operation overhead. The random numbers for sampling
  still come from the agent's torch generator, drawn for a whole rollout at once.
* Log-probabilities and entropies are a few tensor operations instead of `torch.distributions` objects.
"""

from __future__ import annotations

import copy
import math
from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from actorcritic.losses import critic_loss
from actorcritic.optim import FlatParameters, gradient_step, polyak_update

_HALF_LOG_TWO_PI = 0.5 * math.log(2 * math.pi)
_NUMPY_ACTIVATIONS = {nn.Tanh: np.tanh, nn.ReLU: lambda x: np.maximum(x, 0.0)}
ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}
"""Config name of a hidden-layer activation -> its module."""


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


class StackedMLP(nn.Module):
    """M independent MLPs of one shape, evaluated together: layer l computes x @ W_l[m] + b_l[m] for every
    member m in a single `torch.baddbmm`. Weights [M, in, out], biases [M, 1, out].

    With `output_gains`, each member is initialised like `mlp`: orthogonal, gain √2 on hidden layers and
    `output_gains[m]` on the output layer, zero biases; without, like `nn.Linear` layers. `output_widths[m]` (default: all) says how many output columns member m
    uses; its other columns start at zero and, never read, never receive a gradient."""

    def __init__(
        self,
        members: int,
        in_features: int,
        hidden_sizes: tuple[int, ...],
        out_features: int,
        output_gains: Sequence[float] | None = None,
        output_widths: Sequence[int] | None = None,
        activation: type[nn.Module] = nn.Tanh,
    ):
        super().__init__()
        self.members = members
        self.activation = activation
        self._activation = activation()
        sizes = (in_features, *hidden_sizes, out_features)
        widths = output_widths or [out_features] * members
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            last = index == len(sizes) - 2
            weight = torch.zeros(members, fan_in, fan_out)
            bias = torch.zeros(members, 1, fan_out)
            for member in range(members):
                used = widths[member] if last else fan_out
                if output_gains is None:
                    # nn.Linear's own initialisation, as in Fujimoto et al.'s TD3 code
                    layer = nn.Linear(fan_in, used)
                    weight[member, :, :used], bias[member, 0, :used] = layer.weight.detach().T, layer.bias.detach()
                else:
                    gain = output_gains[member] if last else math.sqrt(2)
                    # orthogonal_ on the [out, in] layout of nn.Linear, so a member equals an `mlp` layer
                    weight[member, :, :used] = nn.init.orthogonal_(torch.empty(used, fan_in), gain).T
            self.weights.append(nn.Parameter(weight))
            self.biases.append(nn.Parameter(bias))

    def forward(self, x: Tensor, detach_weights: bool = False) -> Tensor:
        """x [B, in] (fed to every member) or [M, B, in] -> [M, B, out]. With `detach_weights` gradients
        reach `x` only (an actor's loss differentiates Q through the action, not the critic's weights)."""
        if x.dim() == 2:
            x = x.expand(self.members, *x.shape)
        for weight, bias, hidden in self._layers(None, detach_weights):
            x = torch.baddbmm(bias, x, weight)
            x = self._activation(x) if hidden else x
        return x

    def member(self, x: Tensor, index: int, detach_weights: bool = False) -> Tensor:
        """Member `index` alone: x [B, in] -> [B, out], with `detach_weights` as in `forward`."""
        for weight, bias, hidden in self._layers(index, detach_weights):
            x = torch.addmm(bias, x, weight)
            x = self._activation(x) if hidden else x
        return x

    def _layers(self, index: int | None, detach_weights: bool):
        """(weight, bias, is_hidden) per layer: of every member, or of member `index`."""
        last = len(self.weights) - 1
        for layer, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            if index is not None:
                weight, bias = weight[index], bias[index]
            if detach_weights:
                weight, bias = weight.detach(), bias.detach()
            yield weight, bias, layer < last

    def numpy_copy(self) -> "NumpyStackedMLP":
        return NumpyStackedMLP(self)


class NumpyStackedMLP:
    """A frozen float32 NumPy copy of a `StackedMLP`: forward pass only."""

    def __init__(self, net: StackedMLP):
        self.weights = [w.detach().cpu().numpy().astype(np.float32) for w in net.weights]
        self.biases = [b.detach().cpu().numpy().astype(np.float32) for b in net.biases]
        self.activation = _NUMPY_ACTIVATIONS[net.activation]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """x [B, in] -> [M, B, out]."""
        last = len(self.weights) - 1
        for index, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            x = np.matmul(x, weight) + bias
            if index < last:
                x = self.activation(x)
        return x


# ---------------------------------------------------------------- policy distributions

def categorical_log_prob_and_entropy(logits: Tensor, actions: Tensor) -> tuple[Tensor, Tensor]:
    """log π(a|s) and H(π(·|s)) of π = softmax(logits). logits [B, K], actions [B] -> ([B], [B])."""
    log_probs = torch.log_softmax(logits, dim=-1)
    log_prob = log_probs.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)
    entropy = -(log_probs.exp() * log_probs).sum(-1)
    return log_prob, entropy


def multi_categorical_log_prob_and_entropy(logits: Tensor, actions: Tensor, nvec: Sequence[int]) -> tuple[Tensor, Tensor]:
    """Independent categoricals (MultiDiscrete, MultiBinary as MultiDiscrete([2] * n)): log π(a|s) = Σ_g log π_g(a_g|s)
    and H = Σ_g H_g. logits [B, Σ nvec], actions [B, G] -> ([B], [B])."""
    terms = [categorical_log_prob_and_entropy(group, actions[:, g]) for g, group in enumerate(logits.split(list(nvec), -1))]
    return sum(term[0] for term in terms), sum(term[1] for term in terms)


def multi_categorical_kl(old_logits: Tensor, logits: Tensor, nvec: Sequence[int]) -> Tensor:
    """KL between products of independent categoricals: the sum of the groups' KLs. [B, Σ nvec] -> [B]."""
    return sum(categorical_kl(old, new) for old, new in zip(old_logits.split(list(nvec), -1), logits.split(list(nvec), -1)))


def gaussian_log_prob(mean: Tensor, log_std: Tensor, actions: Tensor) -> Tensor:
    """log N(a; μ, diag σ²) summed over action dimensions. mean, actions [B, A], log_std [A] -> [B]."""
    z = (actions - mean) * torch.exp(-log_std)
    return -0.5 * z.square().sum(-1) - (log_std.sum() + _HALF_LOG_TWO_PI * log_std.shape[0])


def categorical_kl(old_logits: Tensor, logits: Tensor) -> Tensor:
    """KL(softmax(old_logits) || softmax(logits)) per state. [B, K] -> [B]."""
    old_log_probs = torch.log_softmax(old_logits, -1)
    return (old_log_probs.exp() * (old_log_probs - torch.log_softmax(logits, -1))).sum(-1)


def gaussian_kl(old_mean: Tensor, old_log_std: Tensor, mean: Tensor, log_std: Tensor) -> Tensor:
    """KL(N(μ_old, σ_old²) || N(μ, σ²)) per state, summed over independent action dimensions. [B, A] -> [B]."""
    variance_ratio = torch.exp(2 * (old_log_std - log_std))
    return (log_std - old_log_std + 0.5 * (variance_ratio + (old_mean - mean).square() * torch.exp(-2 * log_std)) - 0.5).sum(-1)


def gaussian_entropy(log_std: Tensor) -> Tensor:
    """H(N(μ, diag σ²)) = Σ_i (log σ_i + ½ log 2πe), the same for every state. log_std [A] -> scalar."""
    return (log_std + 0.5 + _HALF_LOG_TWO_PI).sum()


# ---------------------------------------------------------------- image encoder

class NatureCNN(nn.Module):
    """The encoder of Mnih et al. (2015), as PPO on Atari uses it: pixels / 255 -> conv 32x8x8 stride 4 ->
    conv 64x4x4 stride 2 -> conv 64x3x3 stride 1 -> linear 512, ReLU after each. Takes uint8-valued images
    [B, H, W], [B, H, W, C] (channels last, C <= 4) or [B, C, H, W]; returns features [B, 512]."""

    out_features = 512

    def __init__(self, observation_shape: tuple[int, ...]):
        super().__init__()
        self.channels_last = len(observation_shape) == 3 and observation_shape[2] <= 4
        self.add_channel = len(observation_shape) == 2
        if self.add_channel:
            channels, height, width = 1, *observation_shape
        elif self.channels_last:
            height, width, channels = observation_shape
        else:
            channels, height, width = observation_shape
        self.convolutions = nn.Sequential(
            _orthogonal_conv(nn.Conv2d(channels, 32, 8, stride=4)), nn.ReLU(),
            _orthogonal_conv(nn.Conv2d(32, 64, 4, stride=2)), nn.ReLU(),
            _orthogonal_conv(nn.Conv2d(64, 64, 3, stride=1)), nn.ReLU(), nn.Flatten(),
        )
        with torch.no_grad():
            flat = self.convolutions(torch.zeros(1, channels, height, width)).shape[1]
        self.linear = nn.Sequential(_orthogonal(nn.Linear(flat, self.out_features), math.sqrt(2)), nn.ReLU())

    def forward(self, obs: Tensor) -> Tensor:
        x = obs.float() / 255.0
        if self.add_channel:
            x = x.unsqueeze(1)
        elif self.channels_last:
            x = x.permute(0, 3, 1, 2)
        # oneDNN's convolutions run about 1.4x faster on channels-last data (measured: 88 -> 65 ms for one
        # training step of a 256-image minibatch on 2 cores); the arithmetic is the same fp32
        return self.linear(self.convolutions(x.contiguous(memory_format=torch.channels_last)))


def _orthogonal_conv(layer: nn.Conv2d) -> nn.Conv2d:
    nn.init.orthogonal_(layer.weight, math.sqrt(2))
    nn.init.zeros_(layer.bias)
    return layer


# ---------------------------------------------------------------- PPO's actor-critic

class ActorCritic(nn.Module):
    """π_θ(a|s) and V_φ(s) as two separate MLPs (no shared layers, lecture section 5), run as the two members
    of one `StackedMLP`. Discrete actions: softmax over logits (`num_actions`); several discrete choices at
    once (MultiDiscrete, MultiBinary): one softmax per choice (`action_nvec`, actions [B, G]). Continuous
    actions: N(μ_θ(s), diag σ²) with a learned, state-independent log σ (Schulman et al. 2017). Orthogonal
    initialisation with policy output gain 0.01 (a near-uniform or near-zero-mean start) and value output gain
    1 (Huang et al. 2022), or, with `orthogonal_init=False`, PyTorch's nn.Linear initialisation."""

    def __init__(self, obs_dim: int, hidden_sizes: tuple[int, ...], num_actions: int | None = None,
                 action_dim: int | None = None, log_std_init: float = 0.0, value: bool = True,
                 action_nvec: tuple[int, ...] | None = None, encoder: nn.Module | None = None,
                 activation: type[nn.Module] = nn.Tanh, orthogonal_init: bool = True):
        super().__init__()
        # an image encoder shared by the policy and the value heads (PPO on Atari); `obs_dim` is then its width
        self.encoder = encoder
        if sum(x is not None for x in (num_actions, action_dim, action_nvec)) != 1:
            raise ValueError("give exactly one of num_actions (discrete), action_nvec (multi-discrete) and action_dim (continuous)")
        self.grouped = action_nvec is not None
        self.nvec = tuple(action_nvec) if self.grouped else ((num_actions,) if num_actions is not None else None)
        self.discrete = self.nvec is not None
        self.has_value = value
        width = sum(self.nvec) if self.discrete else action_dim
        gains = ((0.01, 1.0) if value else (0.01,)) if orthogonal_init else None
        if value:
            self.body = StackedMLP(2, obs_dim, hidden_sizes, width, output_gains=gains, output_widths=(width, 1), activation=activation)
        else:  # a policy alone (GRPO): no value network at all
            self.body = StackedMLP(1, obs_dim, hidden_sizes, width, output_gains=gains, activation=activation)
        self.log_std = None if self.discrete else nn.Parameter(torch.full((action_dim,), float(log_std_init)))

    def forward(self, obs: Tensor) -> tuple[Tensor, Tensor | None]:
        """obs [B, obs_dim] -> policy output (logits or mean) [B, width], values [B] (None without a value network)."""
        out = self.body(self.encoder(obs) if self.encoder is not None else obs)
        return out[0], (out[1, :, 0] if self.has_value else None)

    def evaluate_actions(self, obs: Tensor, actions: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """log π(a|s) [B], entropy (per state [B] or a scalar for the Gaussian) and V(s) [B]."""
        policy_out, values = self(obs)
        log_prob, entropy = self._log_prob_and_entropy(policy_out, actions, self.log_std)
        return log_prob, entropy, values

    def _log_prob_and_entropy(self, policy_out: Tensor, actions: Tensor, log_std: Tensor | None) -> tuple[Tensor, Tensor]:
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
            mask = torch.ones_like(parameter) if id(parameter) in shared else torch.zeros_like(parameter)
            if id(parameter) not in shared:
                mask[0] = 1.0
            masks.append(mask.reshape(-1))
        return torch.cat(masks)

    def per_sample_scores(self, obs: Tensor, actions: Tensor, chunk: int = 256):
        """∇θ log π_θ(a_i|s_i) of every sample, flat over `self.parameters()`: yields [chunk, P] blocks in
        order. Per-sample gradients by torch.func.vmap over torch.func.grad (one backward pass per sample)."""
        from torch.func import functional_call, grad, vmap

        params = {name: p.detach() for name, p in self.named_parameters()}

        def log_prob(params, single_obs, single_action):
            policy_out, _ = functional_call(self, params, (single_obs.unsqueeze(0),))
            return self._log_prob_and_entropy(policy_out, single_action.unsqueeze(0), params.get("log_std"))[0].squeeze(0)

        per_sample = vmap(grad(log_prob), in_dims=(None, 0, 0))
        for start in range(0, obs.shape[0], chunk):
            grads = per_sample(params, obs[start:start + chunk], actions[start:start + chunk])
            yield torch.cat([g.reshape(g.shape[0], -1) for g in grads.values()], 1)

    def acting_copy(self) -> "ActingActorCritic":
        log_std = None if self.discrete else self.log_std.detach().cpu().numpy().astype(np.float64)
        acting = ActingActorCritic(self.body.numpy_copy(), log_std, self.nvec if self.grouped else None)
        return acting if self.encoder is None else EncodedActing(self.encoder, acting)


class ActingActorCritic:
    """Inference-only NumPy copy of an `ActorCritic` for acting: one forward pass gives the action, its
    log-probability and V(s). Noise comes from `draw_noise` (the agent's torch generator):
    a uniform number per actor (and per choice, for several discrete choices) for discrete actions
    (inverse-CDF sampling), ε ~ N(0, I) for continuous ones."""

    def __init__(self, body: NumpyStackedMLP, log_std: np.ndarray | None, nvec: tuple[int, ...] | None = None):
        self.body = body
        self.nvec = nvec
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
        """obs [B, obs_dim] -> actions [B] or [B, A], log π(a|s) [B] (float32), V(s) [B]."""
        out = self.body(obs)
        policy_out = out[0]
        values = out[1, :, 0] if out.shape[0] > 1 else np.zeros(out.shape[1], dtype=np.float32)
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
        """The deterministic action: argmax of the logits, or the Gaussian mean."""
        policy_out = self.body(obs)[0]
        if self.nvec is not None:
            return np.stack([g.argmax(axis=-1) for g in np.split(policy_out, np.cumsum(self.nvec)[:-1], axis=-1)], axis=-1)
        return policy_out.argmax(axis=-1) if self.discrete else policy_out

    def value(self, obs: np.ndarray) -> np.ndarray:
        """V(s) [B]; zeros for a policy without a value network."""
        out = self.body(obs)
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
    normalisation clip((obs - mean) / sqrt(var + eps), ±clip) in front when `stats` are given."""

    def __init__(self, body: StackedMLP, stats, clip: float, eps: float, low: np.ndarray | None, high: np.ndarray | None,
                 nvec: tuple[int, ...] | None = None, encoder: nn.Module | None = None):
        super().__init__()
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

    def forward(self, obs: Tensor) -> Tensor:
        if self.normalize:
            obs = torch.clamp((obs - self.obs_mean) / self.obs_scale, -self.clip, self.clip)
        out = self.body.member(self.encoder(obs) if self.encoder is not None else obs, 0)
        if self.nvec is not None:
            return torch.stack([group.argmax(-1) for group in out.split(self.nvec, -1)], -1)
        return out.argmax(-1) if self.discrete else torch.minimum(torch.maximum(out, self.low), self.high)


class PolicyMode(nn.Module):
    """An actor's deterministic action as a module's forward (SAC's tanh of the mean, for export)."""

    def __init__(self, actor: nn.Module):
        super().__init__()
        self.actor = actor

    def forward(self, obs: Tensor) -> Tensor:
        return self.actor.mode(obs)


# ---------------------------------------------------------------- off-policy critics and actors (lecture section 7)

class Critics:
    """An ensemble of M Q-functions Q_m(s, a), their target copies Q̄_m and their optimiser (lecture section 7).

    The members are one `StackedMLP` (ReLU, `nn.Linear` initialisation as in Fujimoto et al.'s code), so
    all M run in one batched matrix product per layer. DDPG uses M = 1, TD3 and SAC M = 2 (clipped double
    Q); an ensemble method such as REDQ is M = 10 with a subset's minimum in its target."""

    def __init__(self, members: int, obs_dim: int, action_dim: int, hidden_sizes: tuple[int, ...], learning_rate: float,
                 device: torch.device | str = "cpu"):
        self.online = StackedMLP(members, obs_dim + action_dim, hidden_sizes, 1, activation=nn.ReLU).to(device)
        self.target = copy.deepcopy(self.online)  # copied before the flat buffers make its parameters views
        self.flat, self.target_flat = FlatParameters(self.online), FlatParameters(self.target)
        self.optimizer = torch.optim.Adam([self.flat.parameter], lr=learning_rate, fused=True)

    @property
    def members(self) -> int:
        return self.online.members

    def q(self, obs: Tensor, actions: Tensor, detach_weights: bool = False) -> Tensor:
        """Q_m(s, a) of every member: obs [B, obs_dim], actions [B, A] -> [M, B]. With `detach_weights`
        gradients reach the actions only (the actor's loss, Eq. 39)."""
        return self.online(torch.cat([obs, actions], 1), detach_weights=detach_weights).squeeze(-1)

    def q_member(self, obs: Tensor, actions: Tensor, index: int, detach_weights: bool = False) -> Tensor:
        """Q_index(s, a) alone: [B]."""
        return self.online.member(torch.cat([obs, actions], 1), index, detach_weights=detach_weights).squeeze(-1)

    @torch.no_grad()
    def target_q(self, obs: Tensor, actions: Tensor) -> Tensor:
        """Q̄_m(s, a) of every target member: [M, B]."""
        return self.target(torch.cat([obs, actions], 1)).squeeze(-1)

    def fit(self, obs: Tensor, actions: Tensor, targets: Tensor) -> dict[str, Tensor]:
        """One Adam step of every member towards the same Bellman targets y [B] (Eq. 40); the diagnostics."""
        loss, info = critic_loss(self.q(obs, actions), targets)
        gradient_step(loss, self.optimizer, self.flat)
        return {**info, "critic_loss": loss.detach()}

    def soft_update(self, tau: float) -> None:
        """φ̄ <- τ φ + (1 - τ) φ̄ for every member."""
        polyak_update(self.target_flat, self.flat, tau)


class BoundedActor(nn.Module):
    """An MLP whose output is squashed by tanh and mapped affinely onto the action box [low, high]."""

    def __init__(self, obs_dim: int, action_dim: int, hidden_sizes: tuple[int, ...], low: np.ndarray, high: np.ndarray, outputs_per_action: int = 1):
        super().__init__()
        self.net = nn.Sequential(*_linear_relu_stack(obs_dim, hidden_sizes, action_dim * outputs_per_action))
        self.register_buffer("action_scale", torch.as_tensor((high - low) / 2.0, dtype=torch.float32))
        self.register_buffer("action_bias", torch.as_tensor((high + low) / 2.0, dtype=torch.float32))

    def squash(self, u: Tensor) -> Tensor:
        return self.action_bias + self.action_scale * torch.tanh(u)


def _linear_relu_stack(in_features: int, hidden_sizes: tuple[int, ...], out_features: int) -> list[nn.Module]:
    layers: list[nn.Module] = []
    sizes = (in_features, *hidden_sizes)
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
    return layers + [nn.Linear(sizes[-1], out_features)]


class DeterministicActor(BoundedActor):
    """μ_θ(s): the deterministic policy of DDPG and TD3, amortising argmax_a Q(s, a) (lecture Eq. 38)."""

    def forward(self, obs: Tensor) -> Tensor:
        """obs [B, obs_dim] -> actions [B, A] inside the action box."""
        return self.squash(self.net(obs))


class TanhGaussianActor(BoundedActor):
    """SAC's policy: u ~ N(μ_θ(s), σ_θ(s)²), a = tanh(u) mapped onto the action box (Haarnoja et al. 2018)."""

    log_std_bounds = (-5.0, 2.0)

    def __init__(self, obs_dim: int, action_dim: int, hidden_sizes: tuple[int, ...], low: np.ndarray, high: np.ndarray):
        super().__init__(obs_dim, action_dim, hidden_sizes, low, high, outputs_per_action=2)

    def forward(self, obs: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Reparameterised sample: obs [B, obs_dim] -> actions [B, A], log π(a|s) [B]."""
        mean, log_std = self.net(obs).chunk(2, dim=-1)
        log_std = log_std.clamp(*self.log_std_bounds)
        noise = torch.randn(mean.shape, generator=generator).to(mean.device)
        u = mean + log_std.exp() * noise
        return self.squash(u), tanh_gaussian_log_prob(noise, log_std, u, self.action_scale)

    def mode(self, obs: Tensor) -> Tensor:
        """The deterministic action tanh(μ(s)), for evaluation."""
        return self.squash(self.net(obs).chunk(2, dim=-1)[0])


def tanh_gaussian_log_prob(noise: Tensor, log_std: Tensor, u: Tensor, action_scale: Tensor) -> Tensor:
    """log π(a|s) for a = bias + scale·tanh(u), u = μ + σ·ε: the Gaussian log-density of u minus the log
    Jacobian Σ log(scale·(1 - tanh²u)), with log(1 - tanh²u) = 2(log 2 - u - softplus(-2u)) for numerical
    stability where |u| is large (Haarnoja et al. 2018, appendix C). All [B, A] except the result [B]."""
    gaussian = -0.5 * noise.square() - log_std - _HALF_LOG_TWO_PI
    log_jacobian = 2.0 * (math.log(2.0) - u - nn.functional.softplus(-2.0 * u)) + torch.log(action_scale)
    return (gaussian - log_jacobian).sum(-1)

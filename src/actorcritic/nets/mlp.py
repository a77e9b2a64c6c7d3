"""MLPs with orthogonal initialisation, stacked MLPs and their NumPy acting copies.

Speed on small networks is a matter of how many tensor operations run, not how many FLOPs:

* `StackedMLP` holds M independent MLPs of the same shape (separate parameters, nothing shared) and runs
  them in one batched matrix product per layer. PPO's policy and value networks are its two members;
  TD3's and SAC's twin critics will be another.
* Acting, one environment step at a time, uses an inference-only NumPy copy of the weights
  (`acting_copy()`), rebuilt after every update: a NumPy forward pass of a 64-unit MLP costs a few
  microseconds, a torch one several times more in per-operation overhead. The random numbers for sampling
  still come from the agent's torch generator, drawn for a whole rollout at once.
* Log-probabilities and entropies are a few tensor operations instead of `torch.distributions` objects."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from actorcritic.nets.batch_renorm import BatchRenorm, RenormSettings


def _torch_applied(function):
    """A NumPy activation computed by torch's own function (NumPy has no erf for GELU): the acting copy then
    matches the network to the last bit."""
    return lambda x: function(torch.from_numpy(x)).numpy()


_NUMPY_ACTIVATIONS = {
    nn.Tanh: np.tanh,
    nn.ReLU: lambda x: np.maximum(x, 0.0),
    nn.ELU: lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
    nn.GELU: _torch_applied(torch.nn.functional.gelu),
    nn.SiLU: _torch_applied(torch.nn.functional.silu),
}
ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU, "gelu": nn.GELU, "silu": nn.SiLU}
"""Config name of a hidden-layer activation -> its module."""
LAYER_NORM_EPS = 1e-5
"""ε of layer normalisation (PyTorch's default), in the networks and in their NumPy copies alike."""


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
    `output_gains[m]` on the output layer, zero biases; without, like `nn.Linear` layers. `output_widths[m]`
    (default: all) says how many output columns member m uses; its other columns start at zero and, never read,
    never receive a gradient.

    DroQ's critics (Hiraoka et al. 2022) put dropout and layer normalisation after each hidden product: Linear ->
    Dropout(`dropout`) -> LayerNorm (a gain and a bias per member, when `layer_norm`) -> activation. Dropout
    draws its masks from the generator a forward pass is given (none given: no dropout), so a seed's numbers
    never depend on the global torch stream.

    CrossQ's critics (Bhatt et al. 2024) put batch renormalisation (`renorm`) before every product, the input's
    included: BatchRenorm -> Linear -> activation per hidden layer, then BatchRenorm -> Linear."""

    def __init__(
        self,
        members: int,
        in_features: int,
        hidden_sizes: tuple[int, ...],
        out_features: int,
        output_gains: Sequence[float] | None = None,
        output_widths: Sequence[int] | None = None,
        activation: type[nn.Module] = nn.Tanh,
        dropout: float = 0.0,
        layer_norm: bool = False,
        renorm: RenormSettings | None = None,
    ):
        super().__init__()
        self.members = members
        self.dropout = dropout
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
        # registered only when used, so that a network without it keeps its parameters (and checkpoints) as before
        self.norm_gains = nn.ParameterList(
            [nn.Parameter(torch.ones(members, 1, width)) for width in hidden_sizes] if layer_norm else []
        )
        self.norm_biases = nn.ParameterList(
            [nn.Parameter(torch.zeros(members, 1, width)) for width in hidden_sizes] if layer_norm else []
        )
        self.renorms = nn.ModuleList([BatchRenorm(width, renorm, members) for width in sizes[:-1]] if renorm else [])

    def forward(self, x: Tensor, detach_weights: bool = False, generator: torch.Generator | None = None) -> Tensor:
        """x [B, in] (fed to every member) or [M, B, in] -> [M, B, out]. With `detach_weights` gradients
        reach `x` only (an actor's loss differentiates Q through the action, not the critic's weights); with
        `generator`, dropout (where the network has it) draws from it."""
        if x.dim() == 2:
            x = x.expand(self.members, *x.shape)
        for layer, (weight, bias, hidden) in enumerate(self._layers(None, detach_weights)):
            if self.renorms:
                x = self.renorms[layer](x, detach_weights)
            x = torch.baddbmm(bias, x, weight)
            x = self._hidden(x, layer, None, detach_weights, generator) if hidden else x
        return x

    def member(
        self, x: Tensor, index: int, detach_weights: bool = False, generator: torch.Generator | None = None
    ) -> Tensor:
        """Member `index` alone: x [B, in] -> [B, out], with `detach_weights` and `generator` as in `forward`."""
        if self.renorms:
            raise ValueError("a member of a batch-renormalised stack is not run alone (its statistics are the stack's)")
        for layer, (weight, bias, hidden) in enumerate(self._layers(index, detach_weights)):
            x = torch.addmm(bias, x, weight)
            x = self._hidden(x, layer, index, detach_weights, generator) if hidden else x
        return x

    def _hidden(
        self, x: Tensor, layer: int, index: int | None, detach_weights: bool, generator: torch.Generator | None
    ) -> Tensor:
        """After hidden layer `layer`'s product: dropout, layer normalisation (each where configured), activation."""
        if self.dropout > 0 and generator is not None:
            keep = torch.rand(x.shape, generator=generator, device=x.device) >= self.dropout
            x = x * keep / (1.0 - self.dropout)  # inverted dropout: the expected activation is unchanged
        if len(self.norm_gains):
            gain, bias = self.norm_gains[layer], self.norm_biases[layer]
            if index is not None:
                gain, bias = gain[index], bias[index]
            if detach_weights:
                gain, bias = gain.detach(), bias.detach()
            x = torch.nn.functional.layer_norm(x, x.shape[-1:], eps=LAYER_NORM_EPS) * gain + bias
        return self._activation(x)

    def _layers(self, index: int | None, detach_weights: bool):
        """(weight, bias, is_hidden) per layer: of every member, or of member `index`."""
        last = len(self.weights) - 1
        for layer, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            if index is not None:
                weight, bias = weight[index], bias[index]
            if detach_weights:
                weight, bias = weight.detach(), bias.detach()
            yield weight, bias, layer < last

    def member_mask(self, parameter: Tensor, index: int) -> Tensor:
        """1 on the entries of `parameter` (one of this stack's, [M, ...]) that belong to member `index`."""
        mask = torch.zeros_like(parameter)
        mask[index] = 1.0
        return mask

    def numpy_copy(self) -> "NumpyStackedMLP":
        return NumpyStackedMLP(self)


class NumpyStackedMLP:
    """A frozen float32 NumPy copy of a `StackedMLP`: forward pass only (layer normalisation included)."""

    def __init__(self, net: StackedMLP):
        if net.dropout or net.renorms:
            raise ValueError("the NumPy copy has no dropout or batch renormalisation (only critics have them)")
        self.weights = [_numpy(w) for w in net.weights]
        self.biases = [_numpy(b) for b in net.biases]
        self.norms = [(_numpy(g), _numpy(b)) for g, b in zip(net.norm_gains, net.norm_biases)]
        self.activation = _NUMPY_ACTIVATIONS[net.activation]

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """x [B, in] -> [M, B, out]."""
        last = len(self.weights) - 1
        for index, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            x = np.matmul(x, weight) + bias
            if index < last:
                if self.norms:
                    gain, shift = self.norms[index]
                    mean = x.mean(axis=-1, keepdims=True)
                    variance = np.square(x - mean).mean(axis=-1, keepdims=True)
                    x = (x - mean) / np.sqrt(variance + LAYER_NORM_EPS) * gain + shift
                x = self.activation(x)
        return x


def _numpy(tensor: Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy().astype(np.float32)


class SeparateMLPs(nn.Module):
    """Members of different hidden widths (a 64-64 policy beside a 256-256 value network): a one-member
    `StackedMLP` each, behind `StackedMLP`'s interface (forward -> [M, B, out], a member with fewer outputs
    padded with zeros; `member`; `numpy_copy`). One product per member per layer instead of one per layer, so
    it is built only where the widths differ."""

    def __init__(
        self,
        in_features: int,
        member_hidden_sizes: Sequence[tuple[int, ...]],
        out_features: int,
        output_gains: Sequence[float] | None = None,
        output_widths: Sequence[int] | None = None,
        activation: type[nn.Module] = nn.Tanh,
        layer_norm: bool = False,
    ):
        super().__init__()
        self.members, self.out_features, self.activation = len(member_hidden_sizes), out_features, activation
        widths = output_widths or [out_features] * self.members
        self.stacks = nn.ModuleList(
            StackedMLP(
                1,
                in_features,
                hidden_sizes,
                widths[member],
                output_gains=None if output_gains is None else (output_gains[member],),
                activation=activation,
                layer_norm=layer_norm,
            )
            for member, hidden_sizes in enumerate(member_hidden_sizes)
        )

    def forward(self, x: Tensor, detach_weights: bool = False, generator: torch.Generator | None = None) -> Tensor:
        """x [B, in] (fed to every member) or [M, B, in] -> [M, B, out]."""
        outputs = [stack(_member_input(x, m), detach_weights, generator) for m, stack in enumerate(self.stacks)]
        return torch.cat([torch.nn.functional.pad(out, (0, self.out_features - out.shape[-1])) for out in outputs])

    def member(self, x: Tensor, index: int, detach_weights: bool = False, generator=None) -> Tensor:
        return self.stacks[index].member(x, 0, detach_weights, generator)

    def member_mask(self, parameter: Tensor, index: int) -> Tensor:
        """1 where `parameter` belongs to member `index` (all of it or none of it here)."""
        mine = any(parameter is p for p in self.stacks[index].parameters())
        return torch.ones_like(parameter) if mine else torch.zeros_like(parameter)

    def numpy_copy(self) -> "NumpySeparateMLPs":
        return NumpySeparateMLPs(self)


class NumpySeparateMLPs:
    """A frozen NumPy copy of `SeparateMLPs`: x [B, in] -> [M, B, out], padded like the network."""

    def __init__(self, net: SeparateMLPs):
        self.stacks, self.out_features = [stack.numpy_copy() for stack in net.stacks], net.out_features

    def __call__(self, x: np.ndarray) -> np.ndarray:
        outputs = [stack(_member_input(x, m)) for m, stack in enumerate(self.stacks)]
        padded = [np.pad(out, ((0, 0), (0, 0), (0, self.out_features - out.shape[-1]))) for out in outputs]
        return np.concatenate(padded)


def _member_input(x, member: int):
    """What member `member` of separate MLPs reads: x [B, in] itself, or its row of x [M, B, in] (a [1, B, in]
    feeds every member)."""
    return x if x.ndim == 2 or len(x) == 1 else x[member : member + 1]


def linear_stack(
    in_features: int,
    hidden_sizes: tuple[int, ...],
    out_features: int,
    renorm: RenormSettings | None = None,
    activation: type[nn.Module] = nn.ReLU,
    layer_norm: bool = False,
) -> list[nn.Module]:
    """Linear -> (LayerNorm) -> activation per hidden layer, then Linear; with `renorm`, a BatchRenorm before
    every Linear (CrossQ). nn.Linear's initialisation, as in Fujimoto et al.'s code."""
    layers: list[nn.Module] = []
    sizes = (in_features, *hidden_sizes, out_features)
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [BatchRenorm(fan_in, renorm)] if renorm else []
        layers += [nn.Linear(fan_in, fan_out)]
        if index < len(sizes) - 2:
            layers += ([nn.LayerNorm(fan_out, eps=LAYER_NORM_EPS)] if layer_norm else []) + [activation()]
    return layers

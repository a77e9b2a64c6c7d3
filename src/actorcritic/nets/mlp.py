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
            x = torch.nn.functional.layer_norm(x, x.shape[-1:]) * gain + bias
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

    def numpy_copy(self) -> "NumpyStackedMLP":
        return NumpyStackedMLP(self)


class NumpyStackedMLP:
    """A frozen float32 NumPy copy of a `StackedMLP`: forward pass only."""

    def __init__(self, net: StackedMLP):
        if len(net.norm_gains) or net.dropout or net.renorms:
            raise ValueError("the NumPy copy has no normalisation layers or dropout (only critics have them)")
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


def _linear_relu_stack(
    in_features: int, hidden_sizes: tuple[int, ...], out_features: int, renorm: RenormSettings | None = None
) -> list[nn.Module]:
    """Linear -> ReLU per hidden layer, then Linear; with `renorm`, a BatchRenorm before every Linear (CrossQ)."""
    layers: list[nn.Module] = []
    sizes = (in_features, *hidden_sizes, out_features)
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [BatchRenorm(fan_in, renorm)] if renorm else []
        layers += [nn.Linear(fan_in, fan_out)] + ([nn.ReLU()] if index < len(sizes) - 2 else [])
    return layers

"""Recurrent policies: π_θ(a | h_t) and V_φ(h'_t), each with its own recurrent layer (an LSTM or GRU cell) that
carries what the observations so far say (sb3-contrib's RecurrentPPO default: a separate recurrent layer for the
critic), then the usual MLP heads. A partially observed task (CartPole without its velocities) needs it: one
observation does not say what the state is, the sequence does.

The state of each environment copy is one tensor [S, B, H]: for the policy then the value cell, (h, c) of an
LSTM or h of a GRU (S = 4 or 2). It is reset to zeros where an episode starts (terminated or truncated alike),
by multiplying it by 1 - episode_start before the step, so that acting (one step at a time) and training
(whole sequences from the stored state of the rollout's first step) compute the same numbers.

Acting runs a NumPy copy of the cells and heads (`RecurrentActing`), as the feed-forward policy does: its
log-probabilities match the torch network's to float32 rounding."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from actorcritic.nets.actor_critic import MASKED_LOGIT, ActingActorCritic, ActorCritic, split_action_mask

CELLS = {"lstm": nn.LSTMCell, "gru": nn.GRUCell}
"""--recurrent name -> its cell."""
STATES_PER_CELL = {"lstm": 2, "gru": 1}
"""Tensors [B, H] of one cell's state: (h, c) of an LSTM, h of a GRU."""


@dataclass
class Sequences:
    """Whole per-copy sequences of a rollout for a recurrent policy: observations (the policy's input, masks
    included) [T, n, ...], episode_starts [T, n] (1.0 where obs[t] is an episode's first observation: the state
    is reset before it) and the state before step 0, initial_state [S, n, H]. Outputs of a network on it are
    time-major and flat, [T·n, ...], as `Rollout.transitions` flattens the per-step tensors."""

    observations: Tensor
    episode_starts: Tensor
    initial_state: Tensor

    def copies(self, index: Tensor) -> "Sequences":
        """The sequences of the copies `index` (a minibatch)."""
        return Sequences(self.observations[:, index], self.episode_starts[:, index], self.initial_state[:, index])


class RecurrentActorCritic(ActorCritic):
    """`ActorCritic`'s heads (the same MLPs, outputs and distributions) behind one recurrent cell per member: the
    policy's heads read its cell's h, the value's heads its own. Cells are initialised as in CleanRL's recurrent
    PPO (orthogonal weights with gain 1, zero biases) with `orthogonal_init`, PyTorch's default otherwise."""

    def __init__(self, obs_dim: int, hidden_sizes: tuple[int, ...], cell: str, recurrent_size: int, **heads):
        encoder = heads.pop("encoder", None)
        super().__init__(recurrent_size, hidden_sizes, **heads)
        self.encoder = encoder  # in front of the cells: obs_dim is its width
        self.cell, self.recurrent_size = cell, recurrent_size
        members = 2 if self.has_value else 1
        self.cells = nn.ModuleList(CELLS[cell](obs_dim, recurrent_size) for _ in range(members))
        if heads.get("orthogonal_init", True):
            for name, parameter in self.cells.named_parameters():
                if "weight" in name:
                    nn.init.orthogonal_(parameter, 1.0)
                else:
                    nn.init.zeros_(parameter)

    @property
    def state_size(self) -> int:
        """S: the [B, H] tensors of the whole state (every member's cell)."""
        return STATES_PER_CELL[self.cell] * len(self.cells)

    def initial_state(self, batch: int) -> Tensor:
        """The state of a copy before its first step: zeros [S, batch, H]."""
        return torch.zeros(self.state_size, batch, self.recurrent_size, device=next(self.parameters()).device)

    def step(self, features: Tensor, state: Tensor, episode_starts: Tensor) -> tuple[Tensor, Tensor]:
        """One step of every cell: features [B, F], state [S, B, H], episode_starts [B] -> (the h of each member
        [M, B, H], the next state [S, B, H]). The state is zeroed first where an episode starts."""
        hidden, state = self.unroll(features[None], state, episode_starts[None])
        return hidden[:, 0], state

    def unroll(self, features: Tensor, state: Tensor, episode_starts: Tensor) -> tuple[Tensor, Tensor]:
        """The cells through time: features [T, B, F], the state before step 0 [S, B, H], episode_starts [T, B]
        -> (the h of each member at each step [M, T, B, H], the state after the last step [S, B, H]).

        PyTorch's LSTM and GRU equations, both members in one batched product per step. The input products of
        every step are one product before the loop, and the recurrent weights' gradient is one product after
        the backward pass (`_RecurrentWeightGradient`): a gradient per step of a [4H, H] matrix costs, on a
        CPU, far more than its arithmetic (a fresh 1 MB buffer each time)."""
        steps, batch = episode_starts.shape
        members, size, lstm = len(self.cells), self.recurrent_size, self.cell == "lstm"
        cells = list(self.cells)
        weight_ih = torch.stack([cell.weight_ih for cell in cells])  # [M, G·H, F]
        bias_ih = torch.stack([cell.bias_ih for cell in cells])[:, None]
        if lstm:  # both biases are added to the gates alike
            bias_ih = bias_ih + torch.stack([cell.bias_hh for cell in cells])[:, None]
        else:  # a GRU's candidate reads r ⊙ (W_hn h + b_hn): b_hh stays with the recurrent product
            bias_hh = torch.stack([cell.bias_hh for cell in cells])[:, None]
        inputs = torch.matmul(features.reshape(1, steps * batch, -1), weight_ih.transpose(1, 2)) + bias_ih
        inputs = inputs.reshape(members, steps, batch, -1).unbind(1)
        recurrent_weight = torch.stack([cell.weight_hh.detach() for cell in cells]).transpose(1, 2)  # [M, H, G·H]
        gradient = _RecurrentWeightGradient([cell.weight_hh for cell in cells])
        keep = (1.0 - episode_starts)[:, None, :, None].unbind(0)  # [1, B, 1] per step
        state = state.reshape(members, -1, batch, size)
        h, c = state[:, 0], (state[:, 1] if lstm else None)
        hidden = []
        for t in range(steps):
            h = h * keep[t]
            gradient.inputs.append(h.detach())
            if lstm:
                c = c * keep[t]
                gates = _TapGradient.apply(inputs[t] + torch.bmm(h, recurrent_weight), gradient, t)
                i, f, g, o = gates.chunk(4, -1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
            else:
                recurrent = _TapGradient.apply(torch.bmm(h, recurrent_weight) + bias_hh, gradient, t)
                x_r, x_z, x_n = inputs[t].chunk(3, -1)
                h_r, h_z, h_n = recurrent.chunk(3, -1)
                r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
                h = (1.0 - z) * torch.tanh(x_n + r * h_n) + z * h
            hidden.append(h)
        last = torch.stack([h, c], 1) if lstm else h[:, None]
        return torch.stack(hidden, 1), last.reshape(-1, batch, size)

    def forward(self, sequences: Sequences) -> tuple[Tensor, Tensor | None]:
        """Sequences [T, n] -> policy output [T·n, width] and values [T·n] (None without a value network): the
        cells stepped through time from the stored state, the heads run once on every step's h."""
        steps, copies = sequences.episode_starts.shape
        obs, allowed = split_action_mask(sequences.observations.reshape(steps * copies, -1), self.mask_width)
        if self.encoder is not None:
            obs = self.encoder(sequences.observations.reshape(steps * copies, *sequences.observations.shape[2:]))
        hidden, _ = self.unroll(obs.reshape(steps, copies, -1), sequences.initial_state, sequences.episode_starts)
        out = self.body(hidden.reshape(len(self.cells), steps * copies, -1))
        policy_out = out[0] if allowed is None else out[0].masked_fill(~allowed, MASKED_LOGIT)
        return policy_out, (out[1, :, 0] if self.has_value else None)

    def per_sample_scores(self, obs, actions, chunk: int = 256):
        raise ValueError("per-sample scores of a recurrent policy are not defined on single steps")

    def acting_copy(self) -> "RecurrentActing":
        heads = super().acting_copy()
        if self.encoder is not None:  # EncodedActing: the heads behind it
            heads = heads.heads
        return RecurrentActing([NumpyCell(cell) for cell in self.cells], heads, self.encoder, self.mask_width)


class _RecurrentWeightGradient:
    """The recurrent weights' gradient of an unroll, Σ_t ∂L/∂(recurrent product_t)ᵀ h_{t-1}, as one product once
    the backward pass has given every step's ∂L/∂gates (collected by `_TapGradient`), added to each cell's
    `weight_hh.grad` (the engine's flat gradient buffer, or a new one)."""

    def __init__(self, weights: list[Tensor]):
        self.weights, self.inputs, self.gradients, self.queued = weights, [], {}, False

    def collect(self, step: int, gradient: Tensor) -> None:
        self.gradients[step] = gradient
        if not self.queued:  # runs when the whole backward pass is done, before backward() returns
            self.queued = True
            torch.autograd.Variable._execution_engine.queue_callback(self.add_to_weights)

    def add_to_weights(self) -> None:
        steps = range(len(self.inputs))
        gradients = torch.stack([self.gradients[t] for t in steps], 1).flatten(1, 2)  # [M, T·B, G·H]
        inputs = torch.stack(self.inputs, 1).flatten(1, 2)  # [M, T·B, H]
        for weight, gradient in zip(self.weights, torch.bmm(gradients.transpose(1, 2), inputs)):
            if weight.grad is None:
                weight.grad = gradient
            else:
                weight.grad.add_(gradient)
        self.gradients, self.queued = {}, False


class _TapGradient(torch.autograd.Function):
    """Identity; its backward hands the gradient of step `step`'s gates to the unroll's `_RecurrentWeightGradient`."""

    @staticmethod
    def forward(ctx, gates: Tensor, gradient: _RecurrentWeightGradient, step: int) -> Tensor:
        ctx.gradient, ctx.step = gradient, step
        return gates.view_as(gates)

    @staticmethod
    def backward(ctx, grad: Tensor):
        ctx.gradient.collect(ctx.step, grad)
        return grad, None, None


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class NumpyCell:
    """A frozen float32 NumPy copy of an nn.LSTMCell or nn.GRUCell (PyTorch's gate order and equations)."""

    def __init__(self, cell: nn.Module):
        def array(t: Tensor) -> np.ndarray:
            return t.detach().cpu().numpy().astype(np.float32)

        self.lstm = isinstance(cell, nn.LSTMCell)
        self.w_ih, self.w_hh = array(cell.weight_ih).T.copy(), array(cell.weight_hh).T.copy()
        self.b_ih, self.b_hh = array(cell.bias_ih), array(cell.bias_hh)
        self.states = 2 if self.lstm else 1

    def __call__(self, x: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x [B, F], state [states, B, H] -> (h [B, H], next state [states, B, H])."""
        h = state[0]
        if self.lstm:
            gates = x @ self.w_ih + self.b_ih + h @ self.w_hh + self.b_hh
            i, f, g, o = np.split(gates, 4, axis=-1)
            c = _sigmoid(f) * state[1] + _sigmoid(i) * np.tanh(g)
            h = _sigmoid(o) * np.tanh(c)
            return h, np.stack([h, c])
        x_part, h_part = x @ self.w_ih + self.b_ih, h @ self.w_hh + self.b_hh
        x_r, x_z, x_n = np.split(x_part, 3, axis=-1)
        h_r, h_z, h_n = np.split(h_part, 3, axis=-1)
        r, z = _sigmoid(x_r + h_r), _sigmoid(x_z + h_z)
        n = np.tanh(x_n + r * h_n)
        h = (1.0 - z) * n + z * h
        return h, h[None]


class RecurrentActing:
    """Inference-only NumPy copy of a `RecurrentActorCritic` (an image encoder, if any, in torch): the feed-forward
    `ActingActorCritic` heads behind the cells, with the state passed in and returned. `sample`, `mode` and
    `value` take the state [S, B, H] and the episode starts [B] of the observations they are given."""

    def __init__(self, cells: list[NumpyCell], heads: ActingActorCritic, encoder: nn.Module | None, mask_width: int):
        self.cells, self.heads, self.encoder, self.mask_width = cells, heads, encoder, mask_width

    def draw_noise(self, shape: tuple[int, ...], generator: torch.Generator) -> np.ndarray:
        return self.heads.draw_noise(shape, generator)

    def _features(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        obs, allowed = split_action_mask(obs, self.mask_width)
        if self.encoder is not None:
            parameter = next(self.encoder.parameters())
            with torch.inference_mode():
                obs = self.encoder(torch.as_tensor(obs, device=parameter.device)).cpu().numpy()
        return obs, allowed

    def _step(self, obs: np.ndarray, state: np.ndarray, starts: np.ndarray, members: int):
        """The first `members` cells one step: (policy input's mask, h of each [members, B, H], next state)."""
        features, allowed = self._features(obs)
        state = state * (1.0 - starts.astype(np.float32))[None, :, None]
        hidden, next_state, row = [], [], 0
        for cell in self.cells[:members]:
            h, mine = cell(features, state[row : row + cell.states])
            hidden.append(h)
            next_state.append(mine)
            row += cell.states
        return allowed, np.stack(hidden), np.concatenate(next_state)

    def sample(self, obs: np.ndarray, noise: np.ndarray, state: np.ndarray, starts: np.ndarray):
        """-> actions, log π(a|h) [B] (float32), V [B], the next state [S, B, H]."""
        allowed, hidden, next_state = self._step(obs, state, starts, len(self.cells))
        return (*self.heads.sample_outputs(self.heads.body(hidden), allowed, noise), next_state)

    def act(
        self, obs: np.ndarray, state: np.ndarray, starts: np.ndarray, noise: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The action (deterministic without `noise`, sampled with it) and the policy cell's next state; `state`
        is the policy cell's alone, [S_policy, B, H] (the value cell is not run)."""
        allowed, hidden, next_state = self._step(obs, state, starts, 1)
        out = self.heads.body(hidden)
        if noise is None:
            return self.heads.mode_outputs(out[0], allowed), next_state
        return self.heads.sample_outputs(out, allowed, noise)[0], next_state

    def value(self, obs: np.ndarray, state: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """V [B] of the observations with the state [S, B, H] they continue."""
        _, hidden, _ = self._step(obs, state, starts, len(self.cells))
        return self.heads.values_of(self.heads.body(hidden))


class RecurrentNormalizedPolicy(nn.Module):
    """The deterministic recurrent policy as one standalone module for export: (raw observations [B, obs_dim],
    the policy's state [S_policy, B, H][, action masks [B, width]]) -> (the action `act` returns, the next state).
    The caller starts each episode from zeros, as `act` does with episode_start."""

    def __init__(self, model: RecurrentActorCritic, policy: nn.Module):
        super().__init__()
        self.cell = copy.deepcopy(model.cells[0]).cpu()
        self.lstm = model.cell == "lstm"
        self.policy = policy  # a NormalizedPolicy whose body member 0 reads the cell's h
        self.mask_width = policy.mask_width
        self.state_shape = (STATES_PER_CELL[model.cell], model.recurrent_size)

    def forward(self, obs: Tensor, state: Tensor, action_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        features = self.policy.normalized(obs)
        if self.lstm:
            h, c = self.cell(features, (state[0], state[1]))
            next_state = torch.stack([h, c])
        else:
            h = self.cell(features, state[0])
            next_state = h[None]
        return self.policy.act_on_features(h, action_mask), next_state

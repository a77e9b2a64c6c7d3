"""Optimisation helpers for small networks, where per-tensor overhead dominates the arithmetic.

`FlatParameters` stores every parameter (and gradient) of some modules in one contiguous buffer, the
modules' parameters becoming views into it. Zeroing the gradients, measuring and clipping their global norm
and the Adam step then each take one or two tensor operations instead of one per parameter tensor.
The modules behave exactly as before: forward passes, `state_dict` and `load_state_dict` are unchanged.
"""

from __future__ import annotations

import torch
from torch import nn


class FlatParameters:
    """One flat leaf tensor `parameter` (with a preallocated `.grad`) that backs every parameter of `modules`.

    Build it after moving the modules to their device; hand `flat.parameter` to the optimiser."""

    def __init__(self, *modules: nn.Module):
        params = [p for module in modules for p in module.parameters()]
        device, dtype = params[0].device, params[0].dtype
        total = sum(p.numel() for p in params)
        self.parameter = nn.Parameter(torch.empty(total, device=device, dtype=dtype))
        self.parameter.grad = torch.zeros(total, device=device, dtype=dtype)
        offset = 0
        with torch.no_grad():
            for p in params:
                size = p.numel()
                self.parameter[offset : offset + size].copy_(p.reshape(-1))
                # Parameters become views of the flat buffers: autograd accumulates each gradient in
                # place into its slice of `parameter.grad`, and the optimiser's in-place update of
                # `parameter` is what the modules read.
                p.data = self.parameter.data[offset : offset + size].view_as(p)
                p.grad = self.parameter.grad[offset : offset + size].view_as(p)
                offset += size

    def zero_grad(self) -> None:
        self.parameter.grad.zero_()

    def clip_grad_norm_(self, max_norm: float) -> torch.Tensor:
        """Scale the gradient to global L2 norm at most `max_norm`; return the norm before clipping."""
        grad = self.parameter.grad
        norm = torch.linalg.vector_norm(grad)
        grad.mul_((max_norm / (norm + 1e-6)).clamp_(max=1.0))
        return norm


def adam(parameter: torch.Tensor, learning_rate: float) -> torch.optim.Optimizer:
    """Adam (Kingma & Ba 2015) with ε = 1e-5, the value of PPO's reference implementations, fused into one kernel."""
    return torch.optim.Adam([parameter], lr=learning_rate, eps=1e-5, fused=True)


def rmsprop(parameter: torch.Tensor, learning_rate: float) -> torch.optim.Optimizer:
    """RMSprop with α = 0.99 and ε = 1e-5, the settings of A2C (Mnih et al. 2016) as Stable-Baselines3 has them."""
    return torch.optim.RMSprop([parameter], lr=learning_rate, alpha=0.99, eps=1e-5)


OPTIMIZERS = {"adam": adam, "rmsprop": rmsprop}
"""An on-policy learner's `optimizer_name` -> the optimiser of its flat parameter."""


def make_optimizer(name: str, parameter: torch.Tensor, learning_rate: float) -> torch.optim.Optimizer:
    """The optimiser `name` (a key of `OPTIMIZERS`) over one flat parameter."""
    return OPTIMIZERS[name](parameter, learning_rate)


def gradient_step(
    loss: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    flat: FlatParameters | None = None,
    max_grad_norm: float | None = None,
) -> None:
    """One optimiser step on `loss`: zero the gradients, backpropagate, clip their global norm to
    `max_grad_norm` (if given), step. `flat` is the `FlatParameters` the optimiser updates, if any (zeroing
    its one gradient buffer is a single operation)."""
    if flat is not None:
        flat.zero_grad()
    else:
        optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if max_grad_norm is not None:
        flat.clip_grad_norm_(max_grad_norm)
    optimizer.step()


@torch.no_grad()
def polyak_update(target: FlatParameters, online: FlatParameters, tau: float) -> None:
    """Soft target update φ̄ <- τ φ + (1 - τ) φ̄ (Lillicrap et al. 2016), one `lerp_` over the flat buffer."""
    target.parameter.lerp_(online.parameter, tau)


def conjugate_gradient(
    matrix_vector_product, b: torch.Tensor, iterations: int, tolerance: float = 1e-10
) -> tuple[torch.Tensor, float]:
    """Solve A x = b for symmetric positive-definite A, given only x -> A x (Hestenes and Stiefel 1952).

    TRPO uses it to get the natural-gradient direction F⁻¹ g without forming the Fisher matrix F
    (Schulman et al. 2015, appendix C). Returns x and the final residual norm ||b - A x||."""
    x = torch.zeros_like(b)
    residual = b.clone()
    direction = b.clone()
    residual_sq = residual.dot(residual)
    for _ in range(iterations):
        if residual_sq <= tolerance:
            break
        product = matrix_vector_product(direction)
        step = residual_sq / direction.dot(product)
        x += step * direction
        residual -= step * product
        new_residual_sq = residual.dot(residual)
        direction = residual + (new_residual_sq / residual_sq) * direction
        residual_sq = new_residual_sq
    return x, float(residual_sq.sqrt())


def fisher_vector_product(
    mean_kl, parameters: list[torch.Tensor], vector: torch.Tensor, damping: float = 0.0
) -> torch.Tensor:
    """F v + damping·v, with F the Hessian of the mean KL(π_old || π_θ) at θ = θ_old (the Fisher information
    of the policy), by two backward passes: F v = ∇θ (∇θ KL · v). `mean_kl()` recomputes the KL with a
    graph; `parameters` are the tensors θ; `vector` is flat, laid out as their concatenation."""
    grads = torch.autograd.grad(mean_kl(), parameters, create_graph=True)
    flat_grad = torch.cat([g.reshape(-1) for g in grads])
    hessian_vector = torch.autograd.grad(flat_grad.dot(vector), parameters)
    return torch.cat([h.reshape(-1) for h in hessian_vector]) + damping * vector

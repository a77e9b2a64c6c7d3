"""Taking a policy elsewhere: the deterministic policy of an agent, observation normalisation folded in, as
one standalone model that loads without actorcritic.

    onnx          onnxruntime.InferenceSession(FILE).run(None, {"observation": obs})[0]   (extra `export`)
    torchscript   torch.jit.load(FILE)(torch.from_numpy(obs))

Input: float32 observations [B, obs_dim] (any batch size), and for a policy trained with --action-masks a second
input, the action masks [B, mask_width] (bool; ONNX name "action_mask"). Output: what `agent.act` returns:
actions [B, A] inside the action box, or action indices [B] (int64) for a discrete space.

A recurrent policy (--recurrent) takes its state as the second input ("state", [S, B, H]: (h, c) of its LSTM
or h of its GRU; zeros at an episode's start) before any mask, and returns (action, next state), as `agent.act`
does; feed the next state back with the next observation.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Literal

import torch

from actorcritic.errors import ActorCriticError
from actorcritic.storage.files import (
    check_writable_file,
    replaced_atomically,
    write_atomic,
)

FORMATS = ("onnx", "torchscript")


def export_policy(agent, out: Path, format: Literal["onnx", "torchscript"]) -> Path:
    """Write `agent`'s deterministic policy to `out` (atomically) in `format`; return the path."""
    if format not in FORMATS:
        raise ActorCriticError(f"--format {format!r} is not allowed: choose one of {', '.join(FORMATS)}")
    if not hasattr(agent, "deterministic_policy"):
        raise ActorCriticError(
            f"{agent.algo} has no policy over observations to export (only control algorithms export)"
        )
    out = Path(out)
    check_writable_file(out, "--out")
    policy = agent.deterministic_policy().requires_grad_(False)
    example = torch.as_tensor(agent.observation_space.sample()[None].repeat(2, 0), dtype=torch.float32)
    mask_width = getattr(policy, "mask_width", 0)
    state_shape = getattr(policy, "state_shape", None)  # a recurrent policy's [S, H]
    examples = (
        (example,)
        + ((torch.zeros(state_shape[0], 2, state_shape[1]),) if state_shape else ())
        + ((torch.ones(2, mask_width, dtype=torch.bool),) if mask_width else ())
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # both exporters are chatty about their own deprecations
        if format == "torchscript":
            model = (
                io.BytesIO()
            )  # in memory first: a refused file write is then an OSError, not the C++ writer's RuntimeError
            torch.jit.save(torch.jit.trace(policy, examples), model)
            write_atomic(out, model.getvalue())
        else:
            with replaced_atomically(out) as temporary:
                _export_onnx(policy, examples, temporary, state_shape is not None)
    return out


def _export_onnx(policy: torch.nn.Module, examples: tuple[torch.Tensor, ...], path: Path, recurrent: bool) -> None:
    try:
        import onnx  # noqa: F401  (the exporter needs both)
        import onnxscript  # noqa: F401
    except ImportError as error:
        raise ActorCriticError(
            f"--format onnx needs the onnx and onnxscript packages ({error.name} is missing): pip install "
            "'actorcritic[export]'"
        ) from None
    import contextlib
    import logging

    batch = torch.export.Dim("batch", min=1)
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    exporter_log.setLevel(logging.ERROR)  # it warns about torchvision operators a policy never uses
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the exporter prints its progress
            torch.onnx.export(
                policy,
                examples,
                str(path),
                dynamo=True,
                input_names=(["observation", "state", "action_mask"] if recurrent else ["observation", "action_mask"])[
                    : len(examples)
                ],
                output_names=["action", "next_state"] if recurrent else ["action"],
                # the batch is the first dimension of every input, the second of a state [S, B, H]
                dynamic_shapes=tuple({1 if recurrent and index == 1 else 0: batch} for index in range(len(examples))),
                external_data=False,
            )
    finally:
        exporter_log.setLevel(level)

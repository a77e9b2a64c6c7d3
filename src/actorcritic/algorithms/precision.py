"""bf16 only where it pays: which devices run bfloat16 products fast, what `--precision auto` chooses, and the
refusal of bf16 where it would be emulated.

A CPU runs bfloat16 matrix products in hardware only with AVX-512 BF16 (`avx512_bf16`) or AMX (`amx_bf16`), on
ARM with the `bf16` extension; elsewhere PyTorch emulates them: on an AVX2-only AMD EPYC (Zen 3) a 256x256x256
product ran at 1.3 GFLOP/s in bf16 against 109 in fp32, 80x slower, which makes `--precision bf16` training
unusably slow without a word. So bf16 on such a CPU is refused (or, with `--force`, run with a warning), and
`auto` picks bf16 only where the device has it and learning parity has been measured for the algorithm
(`BF16_LEARNING_PARITY`; README, "Precision")."""

from __future__ import annotations

import functools
import platform
from pathlib import Path

import torch

from actorcritic.errors import ActorCriticError, warn_once

BF16_LEARNING_PARITY = ("td3", "sac")
"""Algorithms whose bf16 runs learned as their fp32 runs did (HalfCheetah-v5, 5 seeds, overlapping 95% CIs:
`scripts/precision_parity.py`, docs/parity/): the ones `--precision auto` may run in bf16."""

FAST_BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")
"""CPU flags (x86: /proc/cpuinfo `flags`; ARM: `Features`) of hardware bfloat16 products."""


@functools.cache
def cpu_flags() -> frozenset[str] | None:
    """The CPU's feature flags from /proc/cpuinfo, or None where they cannot be read (not Linux)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return None


def describe_cpu() -> str:
    """The CPU as the messages name it: its model and PyTorch's vector capability."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    return f"{model}, {torch.backends.cpu.get_cpu_capability()}"


def has_fast_bf16(device: torch.device) -> bool | None:
    """Whether `device` runs bfloat16 products in hardware: True, False, or None where it cannot be told (a CPU
    whose flags are unreadable)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    flags = cpu_flags()
    if flags is None:
        return None
    return any(flag in flags for flag in FAST_BF16_FLAGS)


def resolve_precision(requested: str, algo: str, device: torch.device) -> str:
    """The precision a run uses: `requested`, or for "auto" bf16 where the device has fast bf16 and the algorithm
    has shown learning parity (`BF16_LEARNING_PARITY`), else fp32."""
    if requested != "auto":
        return requested
    return "bf16" if algo in BF16_LEARNING_PARITY and has_fast_bf16(device) else "fp32"


def check_precision(precision: str, device: torch.device, force: bool, warn: bool = True) -> None:
    """Refuse bf16 on a device without hardware bfloat16 products (one line naming what is missing); with
    `force`, allow it and (with `warn`, once, as training starts) say so on stderr."""
    if precision != "bf16" or has_fast_bf16(device) is not False:
        return
    problem = (
        f"--precision bf16 on this CPU ({describe_cpu()}): it has none of {', '.join(FAST_BF16_FLAGS)}, so "
        "bfloat16 products are emulated, tens of times slower than fp32"
    )
    if not force:
        raise ActorCriticError(f"{problem}; use --precision fp32 (or auto), or add --force to run bf16 anyway")
    if warn:
        warn_once(f"{problem}; running it because of --force")

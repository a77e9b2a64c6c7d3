"""Where an off-policy training step's time goes, by PyTorch operator: the profile behind issue 40's ratios (run it
alone; the profiler adds its own overhead, so read shares, not speeds).

    .venv/bin/python benchmarks/offpolicy_update_profile.py --algo sac          # HalfCheetah-v5, 500 profiled steps
    .venv/bin/python benchmarks/offpolicy_update_profile.py --algo td3 --precision bf16
    .venv/bin/python benchmarks/offpolicy_update_profile.py --algo tqc --threads 1    # any off-policy algorithm

Settings as benchmarks/offpolicy_vs_sb3.py (256-256, batch 256, 2 threads, seed 0; the rest the algorithm's
defaults, e.g. TQC's 2 critics x 25 quantiles): `--warmup` random steps, 200
training steps unprofiled, then `--steps` profiled. Printed per training step: the self CPU time of the matrix
products (addmm, mm, bmm, baddbmm), of the fused Adam steps, of everything else, the number of operators
dispatched, and the operators taking the most time.
"""

from __future__ import annotations

import argparse

PRODUCTS = ("aten::addmm", "aten::mm", "aten::bmm", "aten::baddbmm", "mkldnn_", "aten::_addmm_activation")
OPTIMIZER = ("aten::_fused_adam", "Optimizer.step")


def profile_steps(algo: str, env: str, warmup: int, steps: int, threads: int, precision: str = "fp32") -> dict:
    """Self CPU milliseconds per training step: in all operators, the matrix products, Adam, the rest; aten
    operators dispatched per step; the operators by time, (name, ms per step, calls per step)."""
    from torch.profiler import ProfilerActivity, profile

    from actorcritic.algorithms.registry import algorithm

    registration = algorithm(algo)
    agent_class, config_class = registration.agent_class, registration.config_class
    settings = dict(learning_rate=3e-4, batch_size=256, tau=0.005, gamma=0.99, buffer_size=1_000_000)
    unprofiled = min(200, steps)
    config = config_class(
        env=env,
        seed=0,
        total_steps=warmup + unprofiled + steps,
        learning_starts=warmup,
        num_threads=threads,
        hidden_sizes=(256, 256),
        precision=precision,
        **settings,
    )
    agent = agent_class(config)
    agent.learn(warmup + unprofiled)
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        agent.learn(steps)
    events = [event for event in profiler.key_averages() if event.key.startswith(("aten::", "mkldnn", "Optimizer"))]

    def per_step_ms(selected) -> float:
        return sum(event.self_cpu_time_total for event in selected) / 1000 / steps

    products = [event for event in events if event.key.startswith(PRODUCTS)]
    optimizer = [event for event in events if event.key.startswith(OPTIMIZER)]
    rest = [event for event in events if event not in products and event not in optimizer]
    return {
        "total": per_step_ms(events),
        "products": per_step_ms(products),
        "optimizer": per_step_ms(optimizer),
        "rest": per_step_ms(rest),
        "calls": sum(event.count for event in events if event.key.startswith("aten::")) / steps,
        "top": [
            (event.key, event.self_cpu_time_total / 1000 / steps, event.count / steps)
            for event in sorted(events, key=lambda event: -event.self_cpu_time_total)
        ],
    }


def off_policy_algorithms() -> list[str]:
    """The registry's off-policy algorithms, the ones this profile can run."""
    from actorcritic.algorithms.offpolicy import OffPolicyAgent
    from actorcritic.algorithms.registry import ALGORITHMS

    return [name for name, registration in ALGORITHMS.items() if issubclass(registration.agent_class, OffPolicyAgent)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", choices=off_policy_algorithms(), default="sac")
    parser.add_argument("--env", default="HalfCheetah-v5")
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()

    import torch

    from actorcritic.algorithms.precision import describe_cpu

    found = profile_steps(args.algo, args.env, args.warmup, args.steps, args.threads, args.precision)
    total = found["total"]
    print(
        f"{args.algo} {args.precision} on {args.env}, {args.steps} profiled steps, {args.threads} threads, "
        f"torch {torch.__version__}, CPU: {describe_cpu()}"
    )
    print(
        f"self CPU time per step: {total:.3f} ms in all operators; matrix products {found['products']:.3f} "
        f"({100 * found['products'] / total:.0f}%), Adam {found['optimizer']:.3f}, the rest {found['rest']:.3f}"
    )
    print(f"aten operator calls per step (nested ones included): {found['calls']:.0f}")
    print(f"{'operator':40s} {'ms/step':>8s} {'calls/step':>10s}")
    for name, milliseconds, calls in found["top"][: args.top]:
        print(f"{name:40s} {milliseconds:8.3f} {calls:10.1f}")


if __name__ == "__main__":
    main()

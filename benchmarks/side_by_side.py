"""What the side-by-side benchmarks share: the evaluation both libraries get, and running one
(library, case, seed) worker per process and printing the pair with its speed ratio."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Callable


def evaluate(act, env_id: str, episodes: int = 10, seed: int = 10_000) -> float:
    import gymnasium as gym
    import numpy as np

    env = gym.make(env_id)
    returns = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        done, total = False, 0.0
        while not done:
            obs, reward, terminated, truncated, _ = env.step(act(obs))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return float(np.mean(returns))


def report_worker(library: str, run_actorcritic: Callable[..., dict], run_peer: Callable[..., dict], *args) -> None:
    """In a worker process: run one library's side with `args` and print its result as the JSON line `compare` reads."""
    runner = run_actorcritic if library == "actorcritic" else run_peer
    print(json.dumps(runner(*args)))


def print_header(label: str, width: int) -> None:
    print(f"{label:<{width}} {'seed':>4} {'library':<12} {'steps/s':>9} {'eval return':>12}")


def compare(label: str, seed: int, peer: str, worker_command: Callable[[str], list[str]], width: int = 12) -> dict:
    """Run the peer's worker, then actorcritic's, each in a fresh process (`worker_command(library)` gives
    the script's arguments); print steps/s and eval return of each and the ratio actorcritic / peer."""
    results = {}
    for library in (peer, "actorcritic"):
        command = [sys.executable, *worker_command(library)]
        output = subprocess.run(command, check=True, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        results[library] = r = json.loads(output.stdout.strip().splitlines()[-1])
        print(f"{label:<{width}} {seed:>4} {library:<12} {r['steps_per_second']:>9.1f} {r['eval_return']:>12.1f}", flush=True)
    ratio = results["actorcritic"]["steps_per_second"] / results[peer]["steps_per_second"]
    print(f"{label:<{width}} {seed:>4} {'ratio':<12} {ratio:>8.2f}x", flush=True)
    return results

"""Tasks with verifiable answers, and the reward-function interface.

A reward function is any callable `(prompt: str, completion: str) -> float`; every task's `reward` is one
(1.0 for the exact answer, else 0.0), and users can pass their own to `GRPOLM(config, reward_fn=...)`.

Every prompt of a task has the same length (operands are zero-padded), so a batch of prompts needs no
attention mask: only the completions are padded, on the right, where causal attention never looks back.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Protocol

from actorcritic.errors import ActorCriticError

RewardFunction = Callable[[str, str], float]
"""(prompt, completion) -> reward."""


class Task(Protocol):
    name: str
    prompt_length: int
    max_completion_length: int
    """Characters of the longest answer (the sampler adds one token for end-of-sequence)."""

    def sample_prompt(self, rng: random.Random) -> str: ...
    def solve(self, prompt: str) -> str: ...
    def reward(self, prompt: str, completion: str) -> float: ...


def exact_match_reward(solve: Callable[[str], str]) -> RewardFunction:
    """The verifier of a task with one right answer: 1.0 if the completion is exactly it, else 0.0."""

    def reward(prompt: str, completion: str) -> float:
        return 1.0 if completion == solve(prompt) else 0.0

    return reward


@dataclass(frozen=True)
class Addition:
    """`042+317=` -> `359`: the sum of two zero-padded `digits`-digit numbers, written without padding."""

    digits: int
    name: str = "addition"

    @property
    def prompt_length(self) -> int:
        return 2 * self.digits + 2

    @property
    def max_completion_length(self) -> int:
        return self.digits + 1

    def sample_prompt(self, rng: random.Random) -> str:
        a, b = rng.randrange(10**self.digits), rng.randrange(10**self.digits)
        return f"{a:0{self.digits}d}+{b:0{self.digits}d}="

    def solve(self, prompt: str) -> str:
        a, b = prompt.rstrip("=").split("+")
        return str(int(a) + int(b))

    def reward(self, prompt: str, completion: str) -> float:
        return exact_match_reward(self.solve)(prompt, completion)


@dataclass(frozen=True)
class _DigitStringTask:
    """`<prefix><digits>=` -> a rearrangement of the digits, defined by `solve`."""

    digits: int
    name: str = ""
    prefix: str = ""

    @property
    def prompt_length(self) -> int:
        return len(self.prefix) + self.digits + 1

    @property
    def max_completion_length(self) -> int:
        return self.digits

    def sample_prompt(self, rng: random.Random) -> str:
        return self.prefix + "".join(rng.choice("0123456789") for _ in range(self.digits)) + "="

    def digit_string(self, prompt: str) -> str:
        return prompt[len(self.prefix) : -1]

    def reward(self, prompt: str, completion: str) -> float:
        return exact_match_reward(self.solve)(prompt, completion)


@dataclass(frozen=True)
class Sort(_DigitStringTask):
    """`sort 3912=` -> `1239`: the `digits` digits in ascending order."""

    name: str = "sort"
    prefix: str = "sort "

    def solve(self, prompt: str) -> str:
        return "".join(sorted(self.digit_string(prompt)))


@dataclass(frozen=True)
class Reverse(_DigitStringTask):
    """`reverse 3912=` -> `2193`: the `digits` digits in reverse order."""

    name: str = "reverse"
    prefix: str = "reverse "

    def solve(self, prompt: str) -> str:
        return self.digit_string(prompt)[::-1]


TASKS = {"addition": Addition, "sort": Sort, "reverse": Reverse}


def make_task(name: str, digits: int) -> Task:
    if name not in TASKS:
        raise ActorCriticError(f"--task {name!r} is not allowed: choose one of {', '.join(TASKS)}")
    return TASKS[name](digits)


def heldout_prompts(
    task: Task, count: int, seed: int, excluded: frozenset[str] = frozenset(), strict: bool = True
) -> list[str]:
    """`count` distinct prompts, none in `excluded`, drawn with their own seed: a fixed evaluation set.

    Where the task has fewer such prompts, refused (`strict`) or as many as were found."""
    rng, prompts, seen = random.Random(seed), [], set(excluded)
    for _ in range(100 * count):
        prompt = task.sample_prompt(rng)
        if prompt not in seen:
            seen.add(prompt)
            prompts.append(prompt)
            if len(prompts) == count:
                return prompts
    if not strict:
        return prompts
    raise ActorCriticError(
        f"--eval-prompts {count} is more than the {len(prompts)} distinct prompts found for {task.name} "
        f"with {getattr(task, 'digits', '?')} digits: lower it"
    )


def training_prompts(task: Task, count: int, rng: random.Random, excluded: set[str]) -> list[str]:
    """`count` prompts drawn from `rng`, none of them in `excluded` (the held-out set)."""
    prompts = []
    for _ in range(1000 * count):
        prompt = task.sample_prompt(rng)
        if prompt not in excluded:
            prompts.append(prompt)
            if len(prompts) == count:
                return prompts
    raise ActorCriticError(
        f"almost every {task.name} prompt is in the held-out set: lower --eval-prompts or raise --digits"
    )

"""How fast an off-policy update could run in eager PyTorch at best: the floor that issue 40's and issue 39's speed
targets are measured against.

An update's arithmetic is a fixed sequence of aten operators (matrix products, element-wise kernels, Adam). This
records that sequence from the agent's own updates as a dataflow program: each operator with its non-tensor
arguments, each tensor argument either the output of an earlier operator or a copy of a tensor from outside (a
parameter, the batch, an optimiser state), with its shape and memory layout. The replay runs the operators back to
back with the same dataflow (an intermediate is freed after its last use, as in the real update, so the working
set and the caches see what they see there) and with no autograd, no module code, no optimiser logic. Less the
replay's own bookkeeping (the same loop with a no-op in place of each operator), what is left is the kernels and
the dispatcher: a lower bound on the update's time for any eager PyTorch program that computes the same
arithmetic with the same kernels, however little overhead its Python or its autograd had. Beside it, the matrix
products alone, replayed the same way.

A training step's floor is the update's floor plus the loop's measured other phases (acting, environment,
storing, logging); its inverse is the most steps/s such a program reaches. A target above it asks for fewer
kernels (fusion: a compiler) or faster ones (bf16), not for less overhead.
"""

from __future__ import annotations

import functools
import time

import torch

PRODUCTS = ("aten.addmm", "aten.mm", "aten.bmm", "aten.baddbmm")


class Program:
    """A recorded sequence of aten operators with its dataflow; `values` holds views of the outside tensors' copies
    (`storages`, keyed by the original storage's address). Replaying writes those copies in place, as the update
    wrote the originals: one replay from the recording redoes the recorded updates."""

    def __init__(self):
        self.steps: list[tuple] = []  # (operator, args template, kwargs, output value indices)
        self.values: list = []  # external tensors' copies; None for the operators' outputs until replayed
        self.external: set[int] = set()
        self.producer: dict[tuple, int] = {}  # a tensor's identity -> the value index that last wrote it
        self.storages: dict[int, object] = {}  # an outside storage's address -> its copy

    @staticmethod
    def identity(tensor) -> tuple:
        return (
            tensor.untyped_storage().data_ptr(),
            tensor.storage_offset(),
            tuple(tensor.shape),
            tuple(tensor.stride()),
            tensor.dtype,
        )

    def reference(self, tensor) -> int:
        """The value index of `tensor`: the earlier operator output it is, or a view of a copy of its storage (one
        copy per storage, taken when first seen, so that views of one buffer stay views of one buffer: an optimiser
        writing a flat parameter in place changes what its layers' views read, in the replay as in the update)."""
        key = self.identity(tensor)
        if key not in self.producer:
            storage = tensor.untyped_storage()
            if storage.data_ptr() not in self.storages:
                self.storages[storage.data_ptr()] = storage.clone()
            view = torch.empty(0, dtype=tensor.dtype, device=tensor.device)
            view.set_(self.storages[storage.data_ptr()], tensor.storage_offset(), tensor.shape, tensor.stride())
            self.values.append(view)
            self.external.add(len(self.values) - 1)
            self.producer[key] = len(self.values) - 1
        return self.producer[key]

    def template(self, argument):
        """`argument` with each tensor (also inside a list or tuple) replaced by ("value", index)."""
        if isinstance(argument, torch.Tensor):
            return ("value", self.reference(argument))
        if isinstance(argument, (list, tuple)) and any(isinstance(item, torch.Tensor) for item in argument):
            return ("list", [self.template(item) for item in argument])
        return ("constant", argument)

    def record(self, operator, args, kwargs) -> object:
        """Run `operator` and add it to the program (its inputs' copies taken before it runs: it may write them)."""
        inputs = [self.template(argument) for argument in args]
        keywords = {name: self.template(argument) for name, argument in kwargs.items()}
        output = operator(*args, **kwargs)
        outputs = []
        for tensor in _output_tensors(output):
            self.values.append(None)
            outputs.append(len(self.values) - 1)
            self.producer[self.identity(tensor)] = len(self.values) - 1
        self.steps.append((operator, inputs, keywords, outputs))
        return output

    def only(self, names: tuple[str, ...]) -> "Program":
        """The operators whose names start with one of `names`, each on fresh external copies of its inputs."""
        selected = Program()
        values = self.replayed_values()
        for operator, inputs, keywords, _ in self.steps:
            if str(operator).startswith(names):
                args = [_filled(item, values) for item in inputs]
                kwargs = {name: _filled(item, values) for name, item in keywords.items()}
                selected.record(operator, args, kwargs)
        return selected

    def replayed_values(self) -> list:
        """Every value after one replay (outputs kept, not freed)."""
        values = list(self.values)
        for operator, inputs, keywords, outputs in self.steps:
            _run(operator, inputs, keywords, outputs, values)
        return values

    def replay(self, run_operators: bool = True) -> None:
        """Run the operators in order, freeing each intermediate after its last use; with `run_operators`
        False, only this loop's bookkeeping (a no-op in place of each operator)."""
        values = list(self.values)
        for (operator, inputs, keywords, outputs), dead in zip(self.steps, self.dead_after):
            _run(operator if run_operators else _no_op, inputs, keywords, outputs, values)
            for index in dead:
                values[index] = None

    @functools.cached_property
    def dead_after(self) -> list[list[int]]:
        """Per step, the intermediates it is the last to use (read once the recording is complete)."""
        last = {}
        for position, (_, inputs, keywords, outputs) in enumerate(self.steps):
            for index in [*_indices(inputs), *_indices(keywords.values()), *outputs]:
                last[index] = position
        dead: list[list[int]] = [[] for _ in self.steps]
        for index, position in last.items():
            if index not in self.external:
                dead[position].append(index)
        return dead


_NO_OP_OUTPUT = torch.empty(0)


def _no_op(*args, **kwargs):
    return _NO_OP_OUTPUT  # an output to store, so that the bookkeeping takes the path it takes with an operator


def _output_tensors(result) -> list:
    """An aten operator's output tensors: it returns a tensor, or a flat tuple or list of them (None where absent)."""
    results = result if isinstance(result, (tuple, list)) else (result,)
    return [item for item in results if isinstance(item, torch.Tensor)]


def _indices(templates) -> list[int]:
    found = []
    for kind, content in templates:
        if kind == "value":
            found.append(content)
        elif kind == "list":
            found.extend(_indices(content))
    return found


def _filled(template, values):
    kind, content = template
    if kind == "value":
        return values[content]
    if kind == "list":
        return [_filled(item, values) for item in content]
    return content


def _run(operator, inputs, keywords, outputs, values) -> None:
    args = [_filled(item, values) for item in inputs]
    result = operator(*args, **{name: _filled(item, values) for name, item in keywords.items()})
    if outputs:
        for index, tensor in zip(outputs, _output_tensors(result)):
            values[index] = tensor


def record_updates(agent, count: int) -> Program:
    """The aten operators of `count` of the agent's updates on fresh batches, as one `Program` (the agent learns
    from them as usual)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    program = Program()

    class Recorder(TorchDispatchMode):
        def __torch_dispatch__(self, operator, types, args=(), kwargs=None):
            return program.record(operator, args, kwargs or {})

    for _ in range(count):
        agent.updates += 1
        batch = agent.collector.sample(agent.config.batch_size)
        with Recorder(), torch.enable_grad():
            agent.learner.update(batch, agent.updates, agent.generator)
    return program


def replay_milliseconds(program: Program, seconds: float, run_operators: bool = True) -> float:
    """Milliseconds per replay of `program` without autograd, over as many replays as fill about `seconds`
    (at least 3) after one untimed."""
    with torch.no_grad():
        started = time.perf_counter()
        program.replay(run_operators)
        repeats = max(3, round(seconds / max(time.perf_counter() - started, 1e-6)))
        started = time.perf_counter()
        for _ in range(repeats):
            program.replay(run_operators)
    return (time.perf_counter() - started) / repeats * 1e3


def update_floor(agent, seconds: float = 3.0, updates: int = 6) -> dict:
    """Milliseconds per update: the replayed operators, the replay's bookkeeping, the floor (the difference), the
    matrix products alone (their floor, the same way); operators and products per update. From `updates`
    consecutive updates (a multiple of 2 and 3 covers actor delays of 1, 2 and 3), each replay timed over about
    `seconds`."""
    program = record_updates(agent, updates)
    products = program.only(PRODUCTS)

    def floor(recorded: Program) -> tuple[float, float]:
        replay = replay_milliseconds(recorded, seconds)
        return replay, replay - replay_milliseconds(recorded, seconds, run_operators=False)

    replay, update = floor(program)
    return {
        "replay_ms": replay / updates,
        "floor_ms": update / updates,
        "products_ms": floor(products)[1] / updates,
        "operators": len(program.steps) / updates,
        "products": len(products.steps) / updates,
    }


def floor_result(agent, steps: int) -> dict:
    """A side-by-side benchmark's row for the floor: the agent trains `steps` steps (timed by phase), then its
    update's floor is measured; steps/s is the inverse of the step's floor (the measured phases other than the
    update, plus the update's floor; sampling the batch not counted), beside the phases and the update as run."""
    from side_by_side import phase_milliseconds

    clock_before = dict(agent.clock.seconds)
    agent.learn(steps)
    phases = phase_milliseconds(clock_before, agent.clock.seconds, steps)
    floor = update_floor(agent)
    other = {phase: ms for phase, ms in phases.items() if phase != "update"}
    step_floor = sum(other.values()) + floor["floor_ms"]
    return {
        "steps_per_second": 1e3 / step_floor,
        "eval_return": float("nan"),
        "phases_ms": {
            **other,
            "update as run": phases["update"],
            "update floor": floor["floor_ms"],
            "its products' floor": floor["products_ms"],
            "step as run / step floor": (sum(other.values()) + phases["update"]) / step_floor,
        },
    }

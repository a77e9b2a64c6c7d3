"""Exact mid-episode resume: what a checkpoint keeps of the episodes in flight (each copy's steps since its
reset, the reset's seed or generator state, MuJoCo's physics) and how a resumed run continues them exactly."""

from __future__ import annotations

import sys

import gymnasium as gym
import numpy as np


class EpisodeRecorder(gym.Wrapper):
    """Remembers what a checkpoint needs to continue this environment copy's episode on resume, exactly:

    - its last reset: the state of its random generator just before it and the seed it was given, replayed
      when the episode had just begun at the checkpoint (`reset_seed`, `pre_reset_rng`);
    - for one of Gymnasium's MuJoCo environments under stateless wrappers only, MuJoCo's integration state
      before its last step. Resuming sets the copy to that state and replays the last step's controls:
      this rebuilds the state and also what MuJoCo derived during that step and the next step reads (the
      "position before" of Ant and Humanoid), which setting the state alone would not (`episode_snapshot`,
      `continue_from`).

    Other environments' steps go straight to the environment: no extra call on their hot path."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.pre_reset_rng: dict | None = None
        self.reset_seed: int | None = None
        self.restore_rng: dict | None = None  # set by `resume_episodes`: the generator state to reset from
        self.continue_from: dict | None = None  # set by `resume_episodes`: the snapshot to continue after the reset
        self.continued = False  # whether the last reset continued its snapshot exactly
        self._time_limit = None
        self._mujoco = mujoco_physics(env)
        if self._mujoco is None:
            self.step = env.step
            self.physics_size = None
        else:
            self._time_limit = next((w for w in wrapper_chain(env) if isinstance(w, gym.wrappers.TimeLimit)), None)
            self.physics_size = len(self._mujoco.before)

    def step(self, action):
        self._mujoco.read(self._mujoco.before)
        return self.env.step(action)

    def reset(self, *, seed=None, options=None):
        if self.restore_rng is not None:
            self.env.unwrapped.np_random.bit_generator.state, self.restore_rng = self.restore_rng, None
        self.pre_reset_rng = self.env.unwrapped.np_random.bit_generator.state if seed is None else None
        self.reset_seed = seed
        observation, info = self.env.reset(seed=seed, options=options)
        snapshot, self.continue_from = self.continue_from, None
        self.continued = snapshot is None or self._continue(snapshot)
        return observation, info

    def episode_snapshot(self) -> dict | None:
        """The running episode's state (see the class): MuJoCo's state before the last step and now, the
        environment's generator state and the time limit's step count; None where this copy cannot continue
        its episodes exactly."""
        if self._mujoco is None:
            return None
        now = np.empty_like(self._mujoco.before)
        self._mujoco.read(now)
        return {
            "physics_before": self._mujoco.before.copy(),
            "physics": now,
            "rng": self.env.unwrapped.np_random.bit_generator.state,
            "elapsed_steps": self._time_limit._elapsed_steps if self._time_limit is not None else None,
        }

    def _continue(self, snapshot: dict) -> bool:
        """Set this copy to `snapshot` (from `episode_snapshot`) by replaying its last step; whether the
        state reached is the snapshot's, bit for bit."""
        if (
            self._mujoco is None
            or snapshot["physics"].shape != self._mujoco.before.shape
            or ((self._time_limit is None) != (snapshot["elapsed_steps"] is None))
        ):
            return False
        physics = self._mujoco
        physics.write(snapshot["physics"])
        controls = physics.data.ctrl.copy()
        physics.write(snapshot["physics_before"])
        self.env.unwrapped.do_simulation(controls, self.env.unwrapped.frame_skip)
        physics.read(physics.before)
        if not np.array_equal(physics.before, snapshot["physics"]):
            return False
        physics.before[:] = snapshot[
            "physics_before"
        ]  # as in the run that saved it, for a checkpoint before the next step
        self.env.unwrapped.np_random.bit_generator.state = snapshot["rng"]
        if self._time_limit is not None:
            self._time_limit._elapsed_steps = snapshot["elapsed_steps"]
        return True


STATELESS_WRAPPERS = (
    gym.wrappers.TimeLimit,  # its step count is in the snapshot
    gym.wrappers.OrderEnforcing,
    gym.wrappers.PassiveEnvChecker,
    gym.wrappers.FlattenObservation,
    gym.wrappers.ClipAction,
    gym.wrappers.RescaleAction,
    gym.wrappers.ClipReward,
    gym.wrappers.DtypeObservation,
    gym.wrappers.RescaleObservation,
)
"""Wrappers that keep nothing from one step of an episode to the next, beyond what `EpisodeRecorder` saves."""


def wrapper_chain(env: gym.Env) -> list[gym.Wrapper]:
    """The wrappers around an environment, outermost first."""
    chain = []
    while isinstance(env, gym.Wrapper):
        chain.append(env)
        env = env.env
    return chain


class MujocoPhysics:
    """Reads and writes a MuJoCo simulation's integration state (`mj_getState` / `mj_setState` with
    mjSTATE_INTEGRATION: time, positions, velocities, actuator activations, controls, applied forces and
    the constraint solver's warm start), everything `mj_step` reads; `before` is a buffer of that size."""

    def __init__(self, model, data):
        import mujoco

        self._get, self._set, self._spec = mujoco.mj_getState, mujoco.mj_setState, mujoco.mjtState.mjSTATE_INTEGRATION
        self.model, self.data = model, data
        self.before = np.empty(mujoco.mj_stateSize(model, self._spec))

    def read(self, out: np.ndarray) -> None:
        self._get(self.model, self.data, out, self._spec)

    def write(self, state: np.ndarray) -> None:
        self._set(self.model, self.data, state, self._spec)


def mujoco_physics(env: gym.Env) -> MujocoPhysics | None:
    """The simulation of one of Gymnasium's own MuJoCo environments under `STATELESS_WRAPPERS` only; None
    otherwise, since another environment or wrapper may keep per-episode state that no checkpoint holds."""
    unwrapped, chain = env.unwrapped, wrapper_chain(env)
    if not type(unwrapped).__module__.startswith("gymnasium.envs.mujoco."):
        return None
    from gymnasium.envs.mujoco import (
        MujocoEnv,  # imports mujoco: only for Gymnasium's MuJoCo tasks
    )

    if not isinstance(unwrapped, MujocoEnv) or not all(type(wrapper) in STATELESS_WRAPPERS for wrapper in chain):
        return None
    if sum(isinstance(wrapper, gym.wrappers.TimeLimit) for wrapper in chain) > 1:  # the snapshot holds one count
        return None
    return MujocoPhysics(unwrapped.model, unwrapped.data)


EPISODE_STATES = ("physics_before", "physics")
"""The arrays of `episode_record`; with them a checkpoint holds the agent's observations and `values`."""


def episode_record(
    envs: gym.vector.VectorEnv, steps_since_reset: np.ndarray
) -> tuple[list[dict], dict[str, np.ndarray]]:
    """What a checkpoint keeps of the copies' episodes. JSON, one entry per copy: its last reset (generator
    state before it, seed) and the steps its episode has taken since (the running lengths of
    `EpisodeStatistics`). Where some episode is in flight and every copy can continue exactly
    (`EpisodeRecorder`), also each copy's generator state and time-limit count, and arrays
    [N, state size] of the MuJoCo states before each copy's last step and now; otherwise no arrays."""
    # get_attr and call reach the copies whether they live in this process or in workers
    record = [
        {"pre_reset_rng": rng, "reset_seed": seed, "steps_since_reset": int(steps)}
        for rng, seed, steps in zip(envs.get_attr("pre_reset_rng"), envs.get_attr("reset_seed"), steps_since_reset)
    ]
    if not any(copy["steps_since_reset"] for copy in record):
        return record, {}
    snapshots = envs.call("episode_snapshot")
    if any(snapshot is None for snapshot in snapshots):
        return record, {}
    for copy, snapshot in zip(record, snapshots):
        copy["rng"], copy["elapsed_steps"] = snapshot["rng"], snapshot["elapsed_steps"]
    return record, {name: np.stack([snapshot[name] for snapshot in snapshots]) for name in EPISODE_STATES}


def checked_episode_record(
    record,
    arrays: dict[str, np.ndarray],
    copies: int,
    physics_size: int | None,
    observation_shape: tuple[int, ...],
    values: tuple[str, ...],
) -> tuple[list[dict] | None, dict[str, np.ndarray]]:
    """A checkpoint's `episode_record` (`arrays` with the agent's observations and `values` [N]) as read
    back: raises ValueError naming what is malformed; drops the arrays, so that new episodes start, where
    they are well formed but made for other environments (another number of copies or MuJoCo state size)."""
    if record is None:
        return None, {}
    if not isinstance(record, list) or not all(isinstance(copy, dict) for copy in record):
        raise ValueError("counters.environments is not a list of objects")
    for copy in record:
        steps, seed = copy.get("steps_since_reset"), copy.get("reset_seed")
        if type(steps) is not int or steps < 0:
            raise ValueError(f"steps_since_reset {steps!r} is not a count")
        if (
            seed is None
            and not _generator_state(copy.get("pre_reset_rng"))
            or seed is not None
            and (type(seed) is not int or seed < 0)
        ):
            raise ValueError("a last reset has neither a seed (a count) nor a generator state")
    in_flight = [copy for copy in record if copy["steps_since_reset"] != 0]
    if not arrays or not in_flight:
        return record, {}
    names = {*EPISODE_STATES, "observations", *values}
    if set(arrays) != names:
        raise ValueError(f"episodes.* tensors are {sorted(arrays)}, not {sorted(names)}")
    rows = {name: len(array) if array.ndim else None for name, array in arrays.items()}
    if (
        set(rows.values()) != {len(record)}
        or arrays["physics"].shape != arrays["physics_before"].shape
        or arrays["physics"].ndim != 2
        or any(arrays[name].ndim != 1 for name in values)
        or any(arrays[name].dtype != np.float64 for name in (*EPISODE_STATES, *values))
    ):
        raise ValueError("episodes.* tensors are not one float64 row per environment copy")
    for copy in in_flight:
        if (
            not _generator_state(copy.get("rng"))
            or "elapsed_steps" not in copy
            or not (copy["elapsed_steps"] is None or type(copy["elapsed_steps"]) is int and copy["elapsed_steps"] >= 0)
        ):
            raise ValueError("an episode in flight has no generator state or time-limit count")
    if (
        len(record) != copies
        or arrays["physics"].shape[1] != physics_size
        or arrays["observations"].shape[1:] != observation_shape
    ):
        return record, {}
    return record, arrays


def _generator_state(state) -> bool:
    """Whether `state` is a NumPy bit generator's state: one PCG64 (Gymnasium's `np_random`) accepts, or
    one of another bit generator by name."""
    if not isinstance(state, dict) or not isinstance(state.get("bit_generator"), str):
        return False
    if state["bit_generator"] != "PCG64":
        return True
    try:
        np.random.PCG64().state = state
        return True
    except (TypeError, ValueError, KeyError):
        return False


def resume_episodes(
    envs: gym.vector.VectorEnv, record: list[dict] | None, saved: dict[str, np.ndarray]
) -> np.ndarray | None:
    """Continue a checkpoint's episodes exactly: replay every copy's last reset, then set each copy whose
    episode was in flight back to its snapshot. `record` and `saved` are `episode_record`'s, `saved` with
    the observations [N, ...] the agent acted on. Returns the observations to act on next; None (nothing
    continued) where the checkpoint has no record of these copies, or an episode in flight and no snapshot
    (another environment, or wrappers with state of their own): the caller then starts new episodes."""
    if not record or len(record) != envs.num_envs:
        return None
    in_flight = np.array([copy["steps_since_reset"] != 0 for copy in record])
    if in_flight.any() and "physics" not in saved:
        return None
    envs.set_attr("restore_rng", [copy["pre_reset_rng"] if copy["reset_seed"] is None else None for copy in record])
    envs.set_attr(
        "continue_from",
        [
            {
                **{name: saved[name][i] for name in EPISODE_STATES},
                "rng": copy["rng"],
                "elapsed_steps": copy["elapsed_steps"],
            }
            if in_flight[i]
            else None
            for i, copy in enumerate(record)
        ],
    )
    observations, _ = envs.reset(seed=[copy["reset_seed"] for copy in record])
    if not all(envs.get_attr("continued")):
        print(
            "actorcritic: warning: replaying the checkpoint's last environment step "
            "did not reach its saved MuJoCo state: new episodes start instead",
            file=sys.stderr,
        )
        return None
    if in_flight.any():
        observations[in_flight] = saved["observations"][in_flight]
    return observations

"""Environments: building Gymnasium vector environments, episode statistics, termination vs truncation.

Autoreset. Gymnasium 1.x vector environments reset a finished sub-environment automatically. We use the
``SAME_STEP`` mode: the step that ends an episode already returns the first observation of the next one,
and the true last observation of the finished episode comes in ``info["final_obs"]`` (marked by
``info["_final_obs"]``). The collector reads V of that final observation for truncated episodes, so that
``next_values[t]`` is always V of the true successor of step t (section 2 of the lecture; STYLE.md).
In ``NEXT_STEP`` mode (Gymnasium's default) every episode end would cost an extra step whose reward is
meaningless, which would have to be masked out of every estimator.
"""

from __future__ import annotations

import contextlib
import difflib
import os
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np

from actorcritic.errors import ActorCriticError


def check_env_id(env_id: str) -> None:
    """Refuse an id Gymnasium does not know, suggesting the closest registered ones."""
    if env_id in gym.registry:
        return
    close = difflib.get_close_matches(env_id, list(gym.registry), n=3)
    hint = f"did you mean {', '.join(close)}?" if close else "see gymnasium.pprint_registry() for the ids"
    raise ActorCriticError(f"unknown environment id {env_id!r}: {hint}")


def make_vector_env(env_id: str, num_envs: int, seed: int) -> gym.vector.VectorEnv:
    """N copies of `env_id` stepped in this process with same-step autoreset, reset with seeds seed..seed+N-1."""
    check_env_id(env_id)
    route_mujoco_warnings()
    with missing_dependency_as_one_line(env_id):
        envs = gym.make_vec(
            env_id,
            num_envs=num_envs,
            vectorization_mode="sync",
            vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
            wrappers=[ResetRecorder],
        )
    envs.action_space.seed(seed)
    return envs


@contextlib.contextmanager
def missing_dependency_as_one_line(env_id: str):
    """An environment whose optional package is missing (Box2D for LunarLander-v3 and CarRacing-v3, ...):
    one line naming what to install, instead of Gymnasium's traceback."""
    try:
        yield
    except gym.error.DependencyNotInstalled as error:
        raise ActorCriticError(f"{env_id} needs a package that is not installed: {' '.join(str(error).split())}") from None


class ResetRecorder(gym.Wrapper):
    """Remembers, for one environment copy, the state of its random generator just before its last reset,
    the seed that reset was given, and the steps taken since; so a checkpoint taken when every episode has
    just ended can replay those resets exactly on resume (`reset_state`, `replay_resets`)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.pre_reset_rng: dict | None = None
        self.reset_seed: int | None = None
        self.steps_since_reset = 0

    def reset(self, *, seed=None, options=None):
        self.pre_reset_rng = self.env.unwrapped.np_random.bit_generator.state if seed is None else None
        self.reset_seed, self.steps_since_reset = seed, 0
        return self.env.reset(seed=seed, options=options)

    def step(self, action):
        self.steps_since_reset += 1
        return self.env.step(action)


def reset_state(envs: gym.vector.VectorEnv) -> list[dict]:
    """Each copy's last reset (JSON): its generator state before it, its seed, the steps since."""
    return [{"pre_reset_rng": env.pre_reset_rng, "reset_seed": env.reset_seed, "steps_since_reset": env.steps_since_reset}
            for env in envs.envs]


def replay_resets(envs: gym.vector.VectorEnv, state: list[dict] | None) -> np.ndarray | None:
    """Redo the copies' last resets, when every copy's episode had just begun at the checkpoint: the same
    first observations and the same generator states as the run that saved `state`. None (nothing done)
    when some episode was in flight; the caller then starts new episodes."""
    if not state or len(state) != envs.num_envs or any(copy["steps_since_reset"] != 0 for copy in state):
        return None
    for env, copy in zip(envs.envs, state):
        if copy["reset_seed"] is None:
            env.unwrapped.np_random.bit_generator.state = copy["pre_reset_rng"]
    observations, _ = envs.reset(seed=[copy["reset_seed"] for copy in state])
    return observations


def route_mujoco_warnings() -> None:
    """MuJoCo prints its warnings straight to stderr, among them a deprecation in the model files that
    Gymnasium ships ("compiler attribute 'settotalmass' is deprecated"), which is nothing the user can act
    on and would break the one-line error promise. Drop that one; say any other in one line."""
    try:
        import mujoco
    except ImportError:
        return

    def warn(message: str) -> None:
        if "is deprecated and will be removed" not in message:
            print(f"actorcritic: warning: MuJoCo: {' '.join(message.split())}", file=sys.stderr)

    mujoco.set_mju_user_warning(warn)


def space_signature(space: gym.Space) -> dict:
    """A JSON description of a space, stored in checkpoints to refuse a model built for other spaces."""
    if isinstance(space, gym.spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n)}
    if isinstance(space, gym.spaces.Box):
        return {"type": "Box", "shape": list(space.shape)}
    return {"type": type(space).__name__}


def check_finite_step(env_id: str, step: int, obs: np.ndarray, rewards: np.ndarray) -> None:
    """Refuse a non-finite reward or observation at the step it appears: one NaN reward would otherwise turn
    the parameters into NaN a few updates later, far from its cause."""
    if np.isfinite(rewards).all() and np.isfinite(obs).all():
        return
    what = "reward" if not np.isfinite(rewards).all() else "observation"
    values = rewards if what == "reward" else obs
    raise ActorCriticError(
        f"{env_id} returned a non-finite {what} ({values[~np.isfinite(values)].ravel()[0]}) at environment step {step}: "
        "fix the environment, or wrap it to clip or replace such values"
    )


def final_observations(obs: np.ndarray, info: dict) -> np.ndarray:
    """The true successor observation of every actor's last step: `obs`, except where an episode just
    ended, where it is the episode's final observation from ``info["final_obs"]``. [N, *obs_shape]."""
    ended = info.get("_final_obs")
    if ended is None or not ended.any():
        return obs
    successors = obs.copy()
    for index in np.flatnonzero(ended):
        successors[index] = info["final_obs"][index]
    return successors


class EpisodeStatistics:
    """Undiscounted returns and lengths of the episodes the actors finish, from the raw environment rewards."""

    def __init__(self, num_envs: int):
        self.running_return = np.zeros(num_envs, dtype=np.float64)
        self.running_length = np.zeros(num_envs, dtype=np.int64)
        self.returns: list[float] = []
        self.lengths: list[int] = []

    def step(self, rewards: np.ndarray, dones: np.ndarray) -> None:
        self.running_return += rewards
        self.running_length += 1
        if dones.any():
            self.returns.extend(self.running_return[dones].tolist())
            self.lengths.extend(self.running_length[dones].tolist())
            self.running_return[dones] = 0.0
            self.running_length[dones] = 0

    def pop(self) -> tuple[list[float], list[int]]:
        """The returns and lengths of the episodes finished since the last call."""
        returns, lengths = self.returns, self.lengths
        self.returns, self.lengths = [], []
        return returns, lengths


def evaluate_policy(act, env_id: str, episodes: int, seed: int, video_dir: str | Path | None = None,
                    video_prefix: str = "episode") -> list[float]:
    """Undiscounted returns of `episodes` fresh episodes of `act(obs_batch) -> action_batch`, one
    environment, episode i reset with seed + i. With `video_dir`, each episode is also written there as
    `{video_prefix}-episode-{i}.mp4` (Gymnasium's RecordVideo; needs moviepy, the `video` extra)."""
    check_env_id(env_id)
    with missing_dependency_as_one_line(env_id):
        env = _video_env(env_id, Path(video_dir), video_prefix) if video_dir is not None else gym.make(env_id)
    returns = []
    try:
        for episode in range(episodes):  # rendering for a video may find its dependency missing only here
            obs, _ = env.reset(seed=seed + episode)
            total, done = 0.0, False
            while not done:
                action = act(obs[None])[0]
                obs, reward, terminated, truncated, _ = env.step(action)
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
    except gym.error.DependencyNotInstalled as error:
        raise _missing_video_dependency(error) from None
    finally:
        env.close()
    return returns


def _video_env(env_id: str, video_dir: Path, prefix: str) -> gym.Env:
    # MuJoCo picks its OpenGL backend when it is first imported; EGL renders off-screen on a headless machine
    os.environ.setdefault("MUJOCO_GL", "egl")
    try:
        env = gym.make(env_id, render_mode="rgb_array")
        return gym.wrappers.RecordVideo(env, str(video_dir), episode_trigger=lambda _: True, name_prefix=prefix, disable_logger=True)
    except gym.error.DependencyNotInstalled as error:
        raise _missing_video_dependency(error) from None


def _missing_video_dependency(error: Exception) -> ActorCriticError:
    return ActorCriticError(f"--video needs moviepy and pygame ({str(error).splitlines()[0]}): pip install 'actorcritic[video]'")

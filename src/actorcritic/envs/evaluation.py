"""Evaluation: fresh episodes of the deterministic policy from seeds apart from training's, and, on request, an
mp4 of each (off-screen rendering; one-line errors for a missing dependency or an unwritable directory)."""

from __future__ import annotations

import os
from pathlib import Path

import gymnasium as gym
import numpy as np

from actorcritic.envs.make import EnvMaker
from actorcritic.envs.seeding import EVALUATION_RESETS, reset_seeds
from actorcritic.errors import ActorCriticError, warn_once
from actorcritic.storage.files import describe_os_error

UNLIMITED_EPISODE_CAP = 100_000
"""Steps after which an evaluation episode of an environment without a time limit is cut (`evaluate_policy`)."""


def evaluate_policy(
    act,
    env: str | EnvMaker,
    episodes: int,
    seed: int,
    video_dir: str | Path | None = None,
    video_prefix: str = "episode",
    action_masks: bool = False,
    max_steps: int = 0,
    start_episode=None,
    successes: list[bool] | None = None,
) -> list[float]:
    """Undiscounted returns of `episodes` fresh episodes of `act(obs_batch) -> action_batch`, one
    environment (an id or an `EnvMaker`), episode i reset with `reset_seeds(seed, EVALUATION_RESETS, episodes)[i]`.
    With `video_dir`, each episode is also written there as `{video_prefix}-episode-{i}.mp4` (Gymnasium's
    RecordVideo; needs moviepy, the `video` extra). With `action_masks`, `act(obs_batch, mask_batch)` also gets
    the environment's `action_masks()` of each observation. An episode is cut after `max_steps` steps (0: the
    environment's time limit, or `UNLIMITED_EPISODE_CAP` where it has none), its return so far counted, with a
    warning: an environment that never ends its episodes would otherwise never let evaluation return.
    `start_episode()`, where given, is called as each episode starts (a recurrent policy resets its state).
    `successes`, where given, receives each episode's last `info["is_success"]` (goal-conditioned tasks report
    it; an episode whose last info has none adds nothing)."""
    maker = env if isinstance(env, EnvMaker) else EnvMaker(env)
    maker.check()
    env = _video_env(maker, Path(video_dir), video_prefix) if video_dir is not None else maker.single()
    cap = max_steps or (env.spec.max_episode_steps if env.spec is not None else None) or UNLIMITED_EPISODE_CAP
    returns = []
    try:
        # rendering for a video may find its dependency missing only here
        for episode_seed in reset_seeds(seed, EVALUATION_RESETS, episodes):
            obs, _ = env.reset(seed=episode_seed)
            if start_episode is not None:
                start_episode()
            total, done, steps = 0.0, False, 0
            while not done:
                masks = (np.asarray(env.get_wrapper_attr("action_masks")())[None],) if action_masks else ()
                action = act(obs[None], *masks)[0]
                obs, reward, terminated, truncated, info = env.step(action)
                total += float(reward)
                steps += 1
                done = terminated or truncated
                if not done and steps >= cap:
                    warn_once(
                        f"an evaluation episode of {maker.env_id} was cut at {cap:,} steps, its return so far "
                        "counted: the environment has no time limit of its own; set --eval-max-steps"
                    )
                    done = True
            returns.append(total)
            if successes is not None and "is_success" in info:
                successes.append(bool(info["is_success"]))
    except gym.error.DependencyNotInstalled as error:
        raise _missing_video_dependency(error) from None
    except OSError as error:
        if video_dir is None:
            raise
        # the checks allowed it, the filesystem refused a file (a full disk)
        raise _unwritable_video_directory(video_dir, error) from None
    finally:
        env.close()
    return returns


def _video_env(maker: EnvMaker, video_dir: Path, prefix: str) -> gym.Env:
    # MuJoCo picks its OpenGL backend when it is first imported; EGL renders off-screen on a headless machine
    os.environ.setdefault("MUJOCO_GL", "egl")
    # classic control draws with pygame into an off-screen surface; without this SDL probes for a display
    # as pygame starts and prints "XDG_RUNTIME_DIR is invalid" to stderr on a headless machine
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    try:
        env = maker.single(render_mode="rgb_array")
        return gym.wrappers.RecordVideo(
            env, str(video_dir), episode_trigger=lambda _: True, name_prefix=prefix, disable_logger=True
        )
    except gym.error.DependencyNotInstalled as error:
        raise _missing_video_dependency(error) from None
    except OSError as error:
        raise _unwritable_video_directory(video_dir, error) from None


def _unwritable_video_directory(video_dir, error: OSError) -> ActorCriticError:
    return ActorCriticError(
        f"--video {video_dir} cannot be written ({describe_os_error(error)}): give a writable directory with free space"
    )


def _missing_video_dependency(error: Exception) -> ActorCriticError:
    return ActorCriticError(
        f"--video needs moviepy and pygame ({str(error).splitlines()[0]}): pip install 'actorcritic[video]'"
    )

"""A damaged state.json never ends in a traceback: every field it holds, turned into another JSON type, is either
read back or refused with one ActorCriticError line (property-based: hypothesis picks the field and the value).

The tensors file is left intact and the checksum in state.json is kept, so the loader really reads the damaged
field instead of stopping at the checksum."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actorcritic import GRPOLM, PPO, TD3, GRPOLMConfig, PPOConfig, TD3Config
from actorcritic.errors import ActorCriticError

OTHER_JSON = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 10**20),
    st.floats(allow_nan=False),
    st.text(max_size=4),
    st.lists(st.one_of(st.integers(-2, 5), st.text(max_size=2), st.none()), max_size=3),
    st.dictionaries(st.text(max_size=3), st.one_of(st.integers(), st.text(max_size=2)), max_size=2),
)

MAX_EXAMPLES = int(os.environ.get("DAMAGED_STATE_EXAMPLES", 150))
DERANDOMIZE = "DAMAGED_STATE_EXAMPLES" not in os.environ  # the same cases in every CI run; more, at random, on request

AGENTS = {
    "ppo": lambda: PPO(
        PPOConfig(
            env="Pendulum-v1",
            num_envs=1,
            num_steps=32,
            minibatch_size=32,
            epochs=1,
            total_steps=64,
            hidden_sizes=(4,),
            eval_episodes=1,
        )
    ),  # fmt: skip
    "td3": lambda: TD3(
        TD3Config(
            env="Pendulum-v1",
            total_steps=80,
            learning_starts=40,
            batch_size=8,
            hidden_sizes=(4,),
            buffer_size=200,
            num_threads=1,
        )
    ),  # fmt: skip
    "grpo-lm": lambda: GRPOLM(
        GRPOLMConfig(
            digits=1,
            warmup_steps=2,
            total_steps=2,
            prompts_per_step=2,
            group_size=2,
            d_model=8,
            num_layers=1,
            num_heads=2,
            eval_prompts=4,
            warmup_check_prompts=4,
        )
    ),  # fmt: skip
}


def field_paths(value, path=()):
    """Every path to a value inside a JSON document (dict keys and list indices), the document's root excluded."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield path + (key,)
            yield from field_paths(inner, path + (key,))
    elif isinstance(value, list):
        for index, inner in enumerate(value[:3]):
            yield path + (index,)
            yield from field_paths(inner, path + (index,))


def replaced(document, path, new):
    document = json.loads(json.dumps(document))
    inner = document
    for key in path[:-1]:
        inner = inner[key]
    inner[path[-1]] = new
    return document


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    directory = tmp_path_factory.mktemp("damaged")
    saved = {}
    for name, make in AGENTS.items():
        agent = make().learn()
        agent.save(directory / name)
        saved[name] = (type(agent), directory / name, json.loads((directory / name / "state.json").read_text()))
        type(agent).load(directory / name)  # undamaged, it loads: a refusal below is the damage's doing
    return saved


@pytest.mark.parametrize("name", list(AGENTS))
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=DERANDOMIZE,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(data=st.data())
def test_a_field_of_another_type_is_read_or_refused_in_one_line(name, checkpoints, tmp_path_factory, data):
    agent_class, original, state = checkpoints[name]
    paths = sorted(p for p in field_paths(state) if p[0] != "tensors_sha256")
    path = data.draw(st.sampled_from(paths), label="field")
    value = data.draw(OTHER_JSON, label="value")
    copy = tmp_path_factory.mktemp("copy") / name
    shutil.copytree(original, copy)
    Path(copy / "state.json").write_text(json.dumps(replaced(state, path, value)))
    try:
        agent_class.load(copy)
    except ActorCriticError as error:
        assert "\n" not in str(error)

"""Checkpoints: safetensors + JSON written atomically, verified on load, refused with one line."""

import json

import pytest
import torch

from actorcritic.errors import ActorCriticError
from actorcritic.storage.checkpoint import (
    FORMAT_VERSION,
    load_checkpoint,
    load_module_tensors,
    load_optimizer_state,
    module_tensors,
    optimizer_state,
    save_checkpoint,
)
from actorcritic.storage.files import write_json_atomic

STATE = {"algo": "toy", "counters": {"global_step": 3}}


def test_atomic_json_write_leaves_no_temporary_file(tmp_path):
    write_json_atomic(tmp_path / "a.json", {"x": [1, 2]})
    write_json_atomic(tmp_path / "a.json", {"x": [3]})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": [3]}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_round_trip_of_tensors_and_state(tmp_path):
    tensors = {"w": torch.randn(3, 2), "step": torch.tensor(5)}
    save_checkpoint(tmp_path / "ckpt", tensors, STATE)
    save_checkpoint(tmp_path / "ckpt", tensors, STATE)  # a second save replaces the first
    loaded, state = load_checkpoint(tmp_path / "ckpt", "toy")
    assert all(torch.equal(loaded[k], tensors[k]) for k in tensors)
    assert state["format_version"] == FORMAT_VERSION and state["counters"] == STATE["counters"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_a_checkpoint_left_between_the_renames_is_found(tmp_path):
    save_checkpoint(tmp_path / "ckpt", {"w": torch.ones(2)}, STATE)
    (tmp_path / "ckpt").rename(tmp_path / "ckpt.prev")
    loaded, _ = load_checkpoint(tmp_path / "ckpt")
    assert torch.equal(loaded["w"], torch.ones(2))


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: (d / "tensors.safetensors").write_bytes(b"garbage"), "does not match the checksum"),
        (lambda d: (d / "state.json").write_text("{"), "is not valid JSON"),
        (
            lambda d: (d / "state.json").write_text(
                json.dumps({**json.loads((d / "state.json").read_text()), "format_version": 99})
            ),
            "newer than this actorcritic",
        ),
        (lambda d: (d / "tensors.safetensors").unlink(), "is missing"),
        (lambda d: (d / "state.json").write_text("[]"), "is not an actorcritic checkpoint"),
    ],
)
def test_damaged_checkpoints_are_refused_with_one_line(tmp_path, damage, message):
    save_checkpoint(tmp_path / "ckpt", {"w": torch.ones(2)}, STATE)
    damage(tmp_path / "ckpt")
    with pytest.raises(ActorCriticError, match=message):
        load_checkpoint(tmp_path / "ckpt")


def test_a_checkpoint_of_another_algorithm_is_refused(tmp_path):
    save_checkpoint(tmp_path / "ckpt", {"w": torch.ones(2)}, STATE)
    with pytest.raises(ActorCriticError, match="written by 'toy', not 'ppo'"):
        load_checkpoint(tmp_path / "ckpt", "ppo")


def test_module_and_optimizer_state_round_trip():
    net = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.1)
    net(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    tensors, groups = module_tensors("net", net), None
    optimizer_tensors, groups = optimizer_state("opt", optimizer)
    tensors.update(optimizer_tensors)
    twin = torch.nn.Linear(3, 2)
    twin_optimizer = torch.optim.Adam(twin.parameters(), lr=0.5)
    load_module_tensors("net", twin, tensors)
    load_optimizer_state("opt", twin_optimizer, tensors, json.loads(json.dumps(groups)))
    assert torch.equal(twin.weight, net.weight) and twin_optimizer.param_groups[0]["lr"] == 0.1
    assert torch.equal(twin_optimizer.state[twin.weight]["exp_avg"], optimizer.state[net.weight]["exp_avg"])
    with pytest.raises(ActorCriticError, match="does not fit the net network"):
        load_module_tensors("net", torch.nn.Linear(4, 2), tensors)

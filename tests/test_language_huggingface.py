"""`--model PATH`: a tiny randomly initialised Hugging Face causal LM, built and saved locally (no downloads),
goes through the same GRPO trainer; its KV-cached decoding agrees with its full forward pass; a checkpoint
restores it; a bad path is a one-line error."""

import csv
import json
import sys

import pytest
import torch
import transformers  # the test extra installs it: a missing lm extra fails here rather than skipping
from tokenizers import Tokenizer, decoders, models  # installed with transformers

from actorcritic.algorithms.grpo_lm import GRPOLM, GRPOLMConfig
from actorcritic.cli.commands import main
from actorcritic.language.huggingface import load_huggingface
from actorcritic.language.tokenizer import ALPHABET

FLAGS = [
    "--task",
    "addition",
    "--digits",
    "2",
    "--warmup-steps",
    "3",
    "--prompts-per-step",
    "2",
    "--group-size",
    "4",
    "--eval-prompts",
    "8",
    "--eval-every",
    "2",
    "--checkpoint-every",
    "0",
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A one-layer GPT-2 over the tasks' characters, one token per character, saved with save_pretrained."""
    directory = tmp_path_factory.mktemp("hf") / "model"
    vocab = {token: index for index, token in enumerate(["<pad>", "<eos>", *ALPHABET])}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=None))  # no merges: every character is a token
    backend.decoder = decoders.Fuse()  # characters are joined without spaces
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<eos>", pad_token="<pad>")
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        n_layer=1,
        n_head=2,
        n_embd=32,
        n_positions=32,
        vocab_size=len(vocab),
        eos_token_id=vocab["<eos>"],
        pad_token_id=vocab["<pad>"],
        bos_token_id=vocab["<eos>"],
    )
    transformers.GPT2LMHeadModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def test_the_adapter_tokenizes_by_character_and_caches_like_the_full_pass(model_dir):
    tokenizer, policy = load_huggingface(str(model_dir))
    ids = tokenizer.encode_batch(["12+34=", "56+78="])
    assert ids.shape == (2, 6) and tokenizer.decode([*ids[0].tolist(), tokenizer.eos_id, *ids[1].tolist()]) == "12+34="
    assert tokenizer.encode_completions(["46"], 4)[0].tolist()[2:] == [tokenizer.eos_id, tokenizer.pad_id]
    tokens = torch.randint(2, tokenizer.vocab_size, (3, 10), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        full = policy(tokens)
        cache = policy.new_cache()
        pieces = [policy(tokens[:, :6], cache)] + [policy(tokens[:, t : t + 1], cache) for t in range(6, 10)]
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=1e-5)


def test_grpo_runs_on_a_local_hugging_face_model_and_checkpoints_it(model_dir, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert (
        main(["train", "grpo-lm", "--model", str(model_dir), *FLAGS, "--total-steps", "2", "--run-dir", str(run_dir)])
        == 0
    )
    with open(run_dir / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["global_step"]) for r in rows] == [1, 2]
    assert abs(float(rows[0]["mismatch_kl"])) < 1e-5 and rows[1]["heldout_accuracy"] != ""
    state = json.loads((run_dir / "checkpoint" / "state.json").read_text())
    assert state["config"]["model"] == str(model_dir)
    assert (run_dir / "checkpoint" / "tensors.safetensors").exists() and not list(
        (run_dir / "checkpoint").glob("*.bin")
    )
    assert main(["resume", str(run_dir), "--total-steps", "3"]) == 0 and main(["evaluate", str(run_dir)]) == 0
    assert "grpo-lm on addition2" in capsys.readouterr().out
    agent = GRPOLM(
        GRPOLMConfig(
            model=str(model_dir),
            digits=2,
            warmup_steps=3,
            total_steps=1,
            prompts_per_step=2,
            group_size=4,
            eval_prompts=8,
            eval_every=0,
            checkpoint_every=0,
        )
    )
    agent.learn()
    agent.save(tmp_path / "checkpoint")
    restored = GRPOLM.load(tmp_path / "checkpoint")
    for mine, theirs in zip(restored.policy.parameters(), agent.policy.parameters()):
        torch.testing.assert_close(mine, theirs)
    assert [restored.answer(p) for p in agent.heldout] == [agent.answer(p) for p in agent.heldout]


@pytest.mark.parametrize(
    "make_path, fragment",
    [(lambda tmp: tmp / "missing", "is not a directory"), (lambda tmp: tmp, "is not a Hugging Face causal LM")],
)
def test_a_bad_model_path_gives_a_one_line_error(tmp_path, capsys, make_path, fragment):
    code = main(["train", "grpo-lm", "--model", str(make_path(tmp_path)), "--run-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("actorcritic: error: --model ") and fragment in lines[0], err
    assert not (tmp_path / "run").exists()


def test_without_transformers_the_error_names_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # `import transformers` now raises ImportError
    code = main(["train", "grpo-lm", "--model", str(tmp_path), "--run-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "pip install actorcritic[lm]" in err, err

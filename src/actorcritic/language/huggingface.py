"""Any local Hugging Face causal language model as the GRPO policy (`--model PATH`, the `lm` extra).

`load_huggingface(path)` returns a tokenizer and a policy that offer exactly what the trainer and the
sampler use of `CharTokenizer` and `TransformerLM`, so `GRPOLM` runs unchanged on top of them:

    tokenizer   encode_batch, encode_completions, decode, eos_id, pad_id
    policy      policy(tokens) -> logits [B, T, V]; policy(tokens, cache) continues a `new_cache()`;
                parameters() for the optimiser; state_dict() for the safetensors checkpoint

Prompts: the built-in path feeds prompts without an attention mask, because every prompt of a task has
the same number of characters. A subword tokenizer may still split two such prompts into different
numbers of tokens; rather than left-padding them (which needs an attention mask and position ids in
every forward pass), `encode_batch` refuses a batch whose prompts tokenize to different lengths, with an
error that says so. Completions are padded on the right only, where causal attention never looks back.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import torch
from torch import Tensor, nn

from actorcritic.errors import ActorCriticError


def _transformers():
    try:
        import transformers
    except ImportError:
        raise ActorCriticError("--model needs the transformers package: pip install actorcritic[lm]") from None
    return transformers


def load_huggingface(path: str) -> tuple["HuggingFaceTokenizer", "HuggingFaceLM"]:
    """The tokenizer and causal LM saved (with `save_pretrained`) in the local directory `path`; no network."""
    transformers = _transformers()
    directory = Path(path).expanduser()
    if not directory.is_dir():
        raise ActorCriticError(
            f"--model {path} is not a directory: pass a local directory written by save_pretrained "
            "(or leave --model empty for the built-in transformer)"
        )
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # loading reports are not errors of ours; keep stderr to one line
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(directory, local_files_only=True)
        model = transformers.AutoModelForCausalLM.from_pretrained(directory, local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, ImportError) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ActorCriticError(
            f"--model {path} is not a Hugging Face causal LM with its tokenizer ({reason}): "
            "pass a directory holding both, saved with model.save_pretrained and tokenizer.save_pretrained"
        ) from None
    finally:
        transformers.logging.set_verbosity(verbosity)
    return HuggingFaceTokenizer(tokenizer), HuggingFaceLM(model.float())


class HuggingFaceTokenizer:
    """A `transformers` tokenizer behind `CharTokenizer`'s interface (padding falls back to end-of-sequence)."""

    def __init__(self, tokenizer):
        if tokenizer.eos_token_id is None:
            raise ActorCriticError(
                "the --model tokenizer has no end-of-sequence token: set tokenizer.eos_token before save_pretrained"
            )
        self.tokenizer = tokenizer
        self.eos_id = tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_id

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def decode(self, ids) -> str:
        """The text of `ids` up to the first end-of-sequence token, padding skipped."""
        kept = []
        for token in ids.tolist() if torch.is_tensor(ids) else ids:
            if token == self.eos_id:
                break
            if token != self.pad_id:
                kept.append(token)
        return self.tokenizer.decode(kept, skip_special_tokens=True, clean_up_tokenization_spaces=False)

    def encode_batch(self, texts: list[str]) -> Tensor:
        """[B, T] ids of prompts that tokenize to the same length; other batches are refused (no left padding)."""
        rows = [self.encode(text) for text in texts]
        lengths = {len(row) for row in rows}
        if len(lengths) != 1:
            raise ActorCriticError(
                f"the --model tokenizer splits this task's prompts into different numbers of tokens {sorted(lengths)}: "
                "prompts are fed without an attention mask, "
                "so use a tokenizer that keeps them equal (e.g. character-level)"
            )
        return torch.tensor(rows, dtype=torch.long)

    def encode_completions(self, texts: list[str], length: int) -> Tensor:
        """[B, length] ids of each text followed by end-of-sequence, then padding (supervised targets)."""
        rows = []
        for text in texts:
            ids = self.encode(text) + [self.eos_id]
            if len(ids) > length:
                raise ActorCriticError(
                    f"completion {text!r} needs {len(ids)} tokens of the --model tokenizer, "
                    f"more than the {length} allowed"
                )
            rows.append(ids + [self.pad_id] * (length - len(ids)))
        return torch.tensor(rows, dtype=torch.long)


class HuggingFaceCache:
    """The model's own key-value cache (`past_key_values`) and how many tokens it has seen."""

    def __init__(self):
        self.past_key_values = None
        self.length = 0


class HuggingFaceLM(nn.Module):
    """A `transformers` causal LM behind `TransformerLM`'s interface: tokens [B, T] -> logits [B, T, V]."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        # recent transformers call the key-value cache `cache`, older ones (4.40 on) `past_key_values`
        self.cache_argument = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"

    def new_cache(self) -> HuggingFaceCache:
        return HuggingFaceCache()

    def forward(self, tokens: Tensor, cache: HuggingFaceCache | None = None) -> Tensor:
        """Logits of the tokens after each of `tokens` [B, T]; with a cache, `tokens` continue its sequence."""
        if cache is None:
            return self.model(input_ids=tokens, attention_mask=torch.ones_like(tokens), use_cache=False).logits
        seen = torch.ones(tokens.shape[0], cache.length + tokens.shape[1], dtype=torch.long, device=tokens.device)
        output = self.model(
            input_ids=tokens, attention_mask=seen, use_cache=True, **{self.cache_argument: cache.past_key_values}
        )
        cache.past_key_values, cache.length = output[self.cache_argument], seen.shape[1]
        return output.logits

    def state_dict(self, *args, **kwargs):
        """The module's tensors, tied ones (an output layer sharing the token embedding) copied once per name:
        safetensors refuses two names for one memory, and loading both names back restores the tie's value."""
        state = super().state_dict(*args, **kwargs)
        storages = set()
        for name, tensor in state.items():
            storage = tensor.untyped_storage().data_ptr()
            if storage in storages:
                state[name] = tensor.clone()
            storages.add(storage)
        return state

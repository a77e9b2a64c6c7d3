"""A character-level tokenizer: one token per character of a fixed alphabet, plus padding and end-of-sequence.

The alphabet is fixed rather than learned from data so that a checkpoint's token ids never depend on which
prompts happened to be generated; every task of `actorcritic.language.tasks` writes only these characters.
"""

from __future__ import annotations

import string

import torch

from actorcritic.errors import ActorCriticError

PAD_TOKEN = "<pad>"
EOS_TOKEN = "<eos>"
ALPHABET = string.digits + string.ascii_lowercase + " +-*=:,.()<>"
"""The characters a prompt or completion may use."""


class CharTokenizer:
    """Token 0 is padding, token 1 ends a completion, tokens 2.. are the characters of `ALPHABET`."""

    def __init__(self, alphabet: str = ALPHABET):
        self.special_tokens = (PAD_TOKEN, EOS_TOKEN)
        self.pad_id, self.eos_id = 0, 1
        self.alphabet = alphabet
        self._ids = {character: index + len(self.special_tokens) for index, character in enumerate(alphabet)}

    @property
    def vocab_size(self) -> int:
        return len(self.special_tokens) + len(self.alphabet)

    def encode(self, text: str) -> list[int]:
        """The token ids of `text`, one per character; a character outside the alphabet is refused."""
        try:
            return [self._ids[character] for character in text]
        except KeyError as error:
            raise ActorCriticError(
                f"character {error.args[0]!r} is not in the tokenizer's alphabet {self.alphabet!r}"
            ) from None

    def decode(self, ids) -> str:
        """The text of `ids` up to the first end-of-sequence token, padding skipped."""
        characters = []
        for token in ids.tolist() if torch.is_tensor(ids) else ids:
            if token == self.eos_id:
                break
            if token != self.pad_id:
                characters.append(self.alphabet[token - len(self.special_tokens)])
        return "".join(characters)

    def encode_batch(self, texts: list[str]) -> torch.Tensor:
        """[B, T] ids of texts of equal length (prompts of one task share a length, see `tasks`)."""
        lengths = {len(text) for text in texts}
        if len(lengths) != 1:
            raise ActorCriticError(f"prompts of one batch must have equal length, got lengths {sorted(lengths)}")
        return torch.tensor([self.encode(text) for text in texts], dtype=torch.long)

    def encode_completions(self, texts: list[str], length: int) -> torch.Tensor:
        """[B, length] ids of each text followed by end-of-sequence, then padding (supervised targets)."""
        rows = []
        for text in texts:
            ids = self.encode(text) + [self.eos_id]
            if len(ids) > length:
                raise ActorCriticError(f"completion {text!r} needs {len(ids)} tokens, more than the {length} allowed")
            rows.append(ids + [self.pad_id] * (length - len(ids)))
        return torch.tensor(rows, dtype=torch.long)

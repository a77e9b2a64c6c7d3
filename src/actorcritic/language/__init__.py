"""Sequence policies and GRPO for language models (lecture section 5.2), small enough for a CPU.

    tokenizer.py    characters <-> token ids, with padding and end-of-sequence
    tasks.py        addition, sort, reverse: prompts, answers, verifiers; the reward-function interface
    model.py        a decoder-only transformer with a key-value cache
    huggingface.py  a local Hugging Face causal LM and tokenizer behind the same interface (--model PATH)
    sampler.py      KV-cached decoding (temperature, top-k, any precision) and the training pass's scoring
    objectives.py   group advantages, loss normalisations, mismatch monitor, IS corrections, the GRPO loss

The trainer (warm start, GRPO steps, held-out accuracy, checkpoints) is an algorithm like the others:
`actorcritic.algorithms.grpo_lm`, exported as `actorcritic.GRPOLM`.
"""

from actorcritic.language.tasks import RewardFunction, make_task
from actorcritic.language.tokenizer import CharTokenizer

__all__ = ["RewardFunction", "CharTokenizer", "make_task"]

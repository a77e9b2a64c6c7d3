"""A small decoder-only transformer over characters (pre-norm blocks, causal self-attention, learned
positions, output layer tied to the token embedding), with a key-value cache for incremental decoding.

`model(tokens)` is the training forward pass over whole sequences; `model(tokens, cache)` appends `tokens`
to what the cache has seen and returns only their logits, which is how the sampler decodes one token at a
time without recomputing the prefix. Both give the same logits (tests/test_language.py checks it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from actorcritic.errors import ActorCriticError


class KVCache:
    """Keys and values of every token seen so far, per layer, each [B, heads, T, head_dim]."""

    def __init__(self, num_layers: int):
        self.keys: list[Tensor | None] = [None] * num_layers
        self.values: list[Tensor | None] = [None] * num_layers

    def seen(self, layer: int) -> int:
        """Tokens already cached at `layer` (a forward pass extends the layers one after the other)."""
        return 0 if self.keys[layer] is None else self.keys[layer].shape[2]

    @property
    def length(self) -> int:
        """Tokens of the sequence so far, as seen by a forward pass that has not started."""
        return self.seen(0)

    def extend(self, layer: int, keys: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        """Append this step's keys and values to layer `layer`'s; return all of them."""
        if self.keys[layer] is not None:
            keys = torch.cat([self.keys[layer], keys], dim=2)
            values = torch.cat([self.values[layer], values], dim=2)
        self.keys[layer], self.values[layer] = keys, values
        return keys, values


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x: Tensor, cache: KVCache | None, layer: int) -> Tensor:
        batch, new, width = x.shape
        q, k, v = (t.view(batch, new, self.num_heads, -1).transpose(1, 2) for t in self.qkv(x).split(width, dim=-1))
        seen = 0 if cache is None else cache.seen(layer)
        if cache is not None:
            k, v = cache.extend(layer, k, v)
        if seen == 0:
            attended = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        elif new == 1:  # one new token may look at everything before it
            attended = F.scaled_dot_product_attention(q, k, v)
        else:  # new token i sits at position seen + i and may look at positions 0..seen + i
            allowed = (
                torch.arange(new, device=x.device)[:, None] + seen >= torch.arange(seen + new, device=x.device)[None, :]
            )
            attended = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
        return self.out(attended.transpose(1, 2).reshape(batch, new, width))


class Block(nn.Module):
    def __init__(self, d_model: int, num_heads: int):
        super().__init__()
        self.attention_norm = nn.LayerNorm(d_model)
        self.attention = CausalSelfAttention(d_model, num_heads)
        self.mlp_norm = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))

    def forward(self, x: Tensor, cache: KVCache | None, layer: int) -> Tensor:
        x = x + self.attention(self.attention_norm(x), cache, layer)
        return x + self.mlp(self.mlp_norm(x))


class TransformerLM(nn.Module):
    """Decoder-only transformer: tokens [B, T] -> next-token logits [B, T, vocab_size]."""

    def __init__(self, vocab_size: int, max_length: int, d_model: int = 128, num_layers: int = 2, num_heads: int = 4):
        super().__init__()
        if d_model % num_heads:
            raise ActorCriticError(f"--d-model {d_model} must be a multiple of --num-heads {num_heads}")
        self.max_length = max_length
        self.num_layers = num_layers
        self.token_embedding = nn.Embedding(vocab_size, d_model)
        self.position_embedding = nn.Embedding(max_length, d_model)
        self.blocks = nn.ModuleList(Block(d_model, num_heads) for _ in range(num_layers))
        self.final_norm = nn.LayerNorm(d_model)
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.position_embedding.weight, std=0.02)

    def new_cache(self) -> KVCache:
        return KVCache(self.num_layers)

    def forward(self, tokens: Tensor, cache: KVCache | None = None) -> Tensor:
        """Logits of the tokens after each of `tokens` [B, T]; with a cache, `tokens` continue its sequence."""
        start = 0 if cache is None else cache.length
        end = start + tokens.shape[1]
        if end > self.max_length:
            raise ActorCriticError(f"sequence of {end} tokens is longer than the model's {self.max_length} positions")
        positions = torch.arange(start, end, device=tokens.device)
        x = self.token_embedding(tokens) + self.position_embedding(positions)
        for layer, block in enumerate(self.blocks):
            x = block(x, cache, layer)
        return self.final_norm(x) @ self.token_embedding.weight.T

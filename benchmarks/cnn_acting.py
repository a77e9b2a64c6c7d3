"""Acting with an image policy: the torch encoder followed by the NumPy heads (what the on-policy engine
does, `networks.EncodedActing`), against the whole forward pass in torch (encoder, stacked heads,
log-softmax). Batch of 8 stacked Atari frames (4x84x84 uint8), Breakout's 4 actions, 1 and 2 threads.

    .venv/bin/python benchmarks/cnn_acting.py"""

from __future__ import annotations

import numpy as np
import torch
from side_by_side import timed

from actorcritic.nets.actor_critic import ActorCritic
from actorcritic.nets.cnn import NatureCNN


def main() -> None:
    torch.manual_seed(0)
    model = ActorCritic(NatureCNN.out_features, (), num_actions=4, encoder=NatureCNN((4, 84, 84)))
    obs = np.random.default_rng(0).integers(0, 256, (8, 4, 84, 84), dtype=np.uint8)
    generator = torch.Generator().manual_seed(0)
    acting = model.acting_copy()

    def numpy_heads():
        acting.sample(obs, acting.draw_noise((8,), generator))

    def torch_forward():
        with torch.inference_mode():
            logits, values = model(torch.from_numpy(obs))
            torch.multinomial(torch.softmax(logits, -1), 1, generator=generator)
            values.numpy()

    for threads in (1, 2):
        torch.set_num_threads(threads)
        print(
            f"{threads} thread(s): encoder in torch + NumPy heads {timed(numpy_heads):.3f} ms, "
            f"all in torch {timed(torch_forward):.3f} ms per step of 8 envs"
        )


if __name__ == "__main__":
    main()

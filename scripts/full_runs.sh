#!/usr/bin/env bash
# The long runs behind docs/experiments.md, one after another (each keeps every core busy). Every step
# continues where an interrupted one stopped (checkpoints), so after an interruption run this again with the
# same OUT; finished steps are read back in seconds.
#   bash scripts/full_runs.sh [OUT]        OUT defaults to full-runs
# Hours on a 2-core machine (AMD EPYC, measured or estimated in docs/experiments.md): overestimation ~4,
# PPO on MuJoCo ~2, TD3 Walker2d ~1.5, SAC HalfCheetah ~2, the ablation ~14, mismatch ~0.5.
set -euo pipefail

main() {  # a function, so that bash has read all of it before it runs: editing this file cannot derail a run
    local out=${1:-full-runs}
    local ac=${ACTORCRITIC:-actorcritic}
    sweep() {  # sweep FILE NAME: start it, or continue it
        if [ -e "$out/$2/sweep.json" ]; then "$ac" sweep --resume "$out/$2"; else "$ac" sweep "$1" --out "$out/$2"; fi
    }
    "$ac" experiment mismatch --full --out "$out/mismatch"
    "$ac" experiment td3-overestimation --full --out "$out/td3-overestimation"
    sweep docs/sweeps/ppo-mujoco.toml ppo-mujoco
    sweep docs/sweeps/td3-walker2d.toml td3-walker2d
    sweep docs/sweeps/sac-halfcheetah.toml sac-halfcheetah
    "$ac" experiment td3-ablation --full --out "$out/td3-ablation"
}

main "$@"

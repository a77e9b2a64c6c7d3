#!/usr/bin/env bash
# The long runs behind docs/experiments.md, one after another (each keeps every core busy). Every step
# continues where an interrupted one stopped (checkpoints), so after an interruption run this again with the
# same OUT; finished steps are read back in seconds. A step that fails is reported and the next one runs.
#   bash scripts/full_runs.sh [OUT]        OUT defaults to full-runs
# Stop it with Ctrl-C, or, started in the background, by killing its process group (`setsid bash
# scripts/full_runs.sh OUT &` gives it one: `kill -- -PID`); killing only this bash leaves its step running.
# Hours on a 2-core machine (AMD EPYC; docs/experiments.md): mismatch 0.5, overestimation ~4, PPO on
# MuJoCo ~1.5, TD3 Walker2d ~1.5, SAC HalfCheetah ~2, the ablation ~14.

main() {  # a function, so that bash has read all of it before it runs: editing this file cannot derail a run
    local out=${1:-full-runs}
    local ac=${ACTORCRITIC:-actorcritic}  # a command, e.g. "python -m actorcritic"
    local failed=()
    step() {  # step NAME COMMAND...: run it, and remember a failure instead of stopping
        echo "== $1: $(date -u +%FT%TZ)"
        "${@:2}"
        local status=$?
        if [ $status -eq 130 ]; then echo "== interrupted: $(date -u +%FT%TZ)"; exit 130; fi  # Ctrl-C stops all, not one step
        [ $status -eq 0 ] || failed+=("$1")
    }
    sweep() {  # sweep FILE NAME: start it, or continue it
        if [ -e "$out/$2/sweep.json" ]; then $ac sweep --resume "$out/$2"; else $ac sweep "$1" --out "$out/$2"; fi
    }
    step mismatch $ac experiment mismatch --full --out "$out/mismatch"
    step td3-overestimation $ac experiment td3-overestimation --full --out "$out/td3-overestimation"
    step ppo-mujoco sweep docs/sweeps/ppo-mujoco.toml ppo-mujoco
    step td3-walker2d sweep docs/sweeps/td3-walker2d.toml td3-walker2d
    step sac-halfcheetah sweep docs/sweeps/sac-halfcheetah.toml sac-halfcheetah
    step td3-ablation $ac experiment td3-ablation --full --out "$out/td3-ablation"
    echo "== done: $(date -u +%FT%TZ)${failed[*]:+; failed: ${failed[*]}}"
    [ ${#failed[@]} -eq 0 ]
}

main "$@"; exit $?  # one line: bash reads a script as it goes, so nothing after this may run

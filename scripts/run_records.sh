#!/usr/bin/env bash
# Records of an experiment's finished runs, kept in the repository, so that an experiment longer than a
# machine keeps its disk (the ablation: ~14 hours here) can be finished on the next one. A record is the
# small files of a finished run (identity.json, config.json, metrics.csv, best.json, summary.json: what the
# tables and curves are read from), at the run's own relative path; checkpoints, tensorboard logs and
# unfinished runs are left out. An experiment run again on an OUT holding restored records reads those runs
# back as finished (summary.json) and trains only the others.
#   bash scripts/run_records.sh save OUT RECORDS       copy the records of OUT's finished runs into RECORDS
#   bash scripts/run_records.sh restore RECORDS OUT    put them back under OUT (a run already there is kept)
# e.g. bash scripts/run_records.sh restore docs/runs/td3-ablation full-runs/td3-ablation
set -euo pipefail

usage() { echo "usage: bash scripts/run_records.sh save OUT RECORDS | restore RECORDS OUT" >&2; exit 2; }
[ $# -eq 3 ] || usage
command=$1 from=${2%/} to=${3%/}
[ -d "$from/runs" ] || { echo "run_records.sh: error: $from/runs is not a directory: give an experiment's --out (or its records)" >&2; exit 2; }

case $command in
    save)
        count=0
        while IFS= read -r summary; do  # OUT/runs/.../run/summary.json: a finished run
            run=${summary%/summary.json} unit=${summary%/run/summary.json}
            target=$to/${unit#"$from"/}
            mkdir -p "$target/run"
            cp "$unit/identity.json" "$target/"
            for file in config.json metrics.csv best.json; do
                [ -e "$run/$file" ] && cp "$run/$file" "$target/run/"
            done
            cp "$run/summary.json" "$target/run/"  # last: a record without it is not read as finished
            count=$((count + 1))
        done < <(find "$from/runs" -path '*/run/summary.json' | sort)
        echo "saved the records of $count finished runs in $to" ;;
    restore)
        count=0
        while IFS= read -r summary; do
            unit=${summary%/run/summary.json}
            target=$to/${unit#"$from"/}
            if [ -e "$target/run" ]; then continue; fi  # there already, finished or resumable: keep it
            mkdir -p "$target"
            cp -r "$unit/." "$target/"
            count=$((count + 1))
        done < <(find "$from/runs" -path '*/run/summary.json' | sort)
        echo "restored $count finished runs under $to" ;;
    *) usage ;;
esac

#!/usr/bin/env bash
# One recipe-search run of the experiments still being counted (RC14/RC14p, NG11/NG11p), one seed
# per process, into $RUNS/EXP/out_sSEED (log beside it). A run whose folder holds a last.pt resumes.
#   usage: CLONE=/path/to/clone RUNS=/path/to/runs PY=/path/to/python job.sh EXP SEED
# CLONE: a clone of this repository at the commit the records should name (its run_bench.py runs).
set -u
EXP=$1; S=$2
: "${CLONE:?set CLONE}" "${RUNS:?set RUNS}" "${PY:=python}"
case $EXP in
  NG11|NG11p) TASK=dynamic_ngrams; OV='overrides=[{model: ntm, task: dynamic_ngrams, train: {lr: 5e-4, batch_size: 16, steps: 18750, lr_schedule: cosine, select_by: bits, lr_decay_steps: 12500}}]';;
  RC14|RC14p) TASK=repeat_copy; OV='overrides=[{model: ntm, task: repeat_copy, train: {lr: 1e-3, steps: 25000, range_floor: 0.9, range_floor_axes: [length], range_floor_until: 0.375}}]';;
  *) echo "unknown experiment $EXP (known: NG11, NG11p, RC14, RC14p)" >&2; exit 2;;
esac
case $EXP in *p) B=python;; *) B=native;; esac
mkdir -p "$RUNS/$EXP"
cd "$CLONE" && exec "$PY" run_bench.py run graves2014-cpu --models ntm --tasks $TASK --seeds $S "$OV" \
  --ntm-backend $B --workers 1 --out "$RUNS/$EXP/out_s$S" --no-report > "$RUNS/$EXP/log_s$S.txt" 2>&1

"""How large the gradient carried back through the NTM's head weightings gets, step by step.

Trains one run of a suite on the Python path (where one step's backward is a Python function that
can be watched) and prints, per 50 training steps, the median and the largest max |dL/dw_{t-1}| over
the time steps of a batch (the gradient that the backward pass carries from w_t to w_{t-1}), and the
training step at which it stopped being finite. Usage, from a clone of the repository:

    python results/recipe-search/FF1/weighting_gradients.py run graves2014-cpu --tasks priority_sort \
        --models ntm_ff --seeds 2 'overrides=[{model: ntm_ff, train: {lr: 1e-3}}]' \
        --ntm-backend python --workers 1 --no-report --out SCRATCH

(--workers 1 trains in this process, where the watch is installed.)
"""
import math
import statistics
import sys

import ntm_bench.ntm.ops.sequence as sequence
import ntm_bench.trainer as trainer
from ntm_bench.cli import main

per_step, largest = [], [0.0]
memory_backward, clip_gradients = sequence.memory_backward, trainer.clip_gradients


def watched_backward(*args, **kwargs):
    d_v, d_Q, d_wprev = memory_backward(*args, **kwargs)
    m = d_wprev.abs().max().item()
    largest[0] = m if not math.isfinite(m) or not math.isfinite(largest[0]) else max(largest[0], m)
    return d_v, d_Q, d_wprev


def watched_clip(*args, **kwargs):  # called once per training step, after the backward pass
    per_step.append(largest[0])
    largest[0] = 0.0
    return clip_gradients(*args, **kwargs)


sequence.memory_backward, trainer.clip_gradients = watched_backward, watched_clip
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print("training steps | median of max |dL/dw_{t-1}| | largest")
for a in range(0, len(per_step), 50):
    finite = [x for x in per_step[a:a + 50] if math.isfinite(x)]
    if finite:
        print(f"{a + 1}-{a + len(per_step[a:a + 50])} | {statistics.median(finite):.3g} | {max(finite):.3g}")
bad = next((k + 1 for k, x in enumerate(per_step) if not math.isfinite(x)), None)
print(f"first step whose carried gradient is not finite: {bad}" if bad else "every step's carried gradient finite")

"""The readable table of `ntm_bench.speed.measure`'s result (`python run_bench.py speed` without
--json): one row per speed row, the legend, the ratios, copy-solve times and evaluation scaling."""
from __future__ import annotations


def _fmt(x, digits=0) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def format_speed(result: dict) -> str:
    """A readable table of `measure`'s result."""
    s = result["settings"]
    lines = [f"Speed on {result['device']} (torch {result['torch']}, {s['threads']} thread(s)); "
             f"median [min-max] over {s['repeats']} rounds",
             f"train: copy lengths 1..20, padded batches, fwd+bwd+Adam; eval: copy length {s['eval_length']} "
             f"(T={2 * s['eval_length'] + 1}), batch {s['eval_batch']}, NTM rows {s['eval_rows']}", ""]
    Bs = [str(b) for b in result["batch_sizes"]]
    width = max([12, *map(len, result["models"])])
    head = f"{'model':{width}s} {'params':>9s} " + " ".join(f"{'train B=' + b + ' seq/s':>26s}" for b in Bs) \
        + f" {'eval seq/s':>22s} {'peak MiB (train B=' + Bs[-1] + ' / eval)':>30s}"
    lines += [head, "-" * len(head)]
    for name, row in result["models"].items():
        if row.get("status") == "not registered" or "train" not in row:
            lines.append(f"{name:{width}s} {row.get('status', '?')}")
            continue
        cells = []
        for b in Bs:
            r = row["train"].get(b, {})
            cells.append(_cell(r))
        ev = row.get("eval", {})
        last = row["train"].get(Bs[-1], {})
        mem = f"{_fmt(last.get('peak_mem_mib'))} / {_fmt(ev.get('peak_mem_mib'))}"
        lines.append(f"{name:{width}s} {_fmt(row.get('params')):>9s} " + " ".join(f"{c:>26s}" for c in cells)
                     + f" {_cell(ev):>22s} {mem:>30s}")
    lines.append("")
    lines += [f"  {name}: {note}" for name, note in result.get("notes", {}).items() if note]
    h = result.get("headline")
    if h:
        lines.append(f"{h} train B=32: {_fmt(result[f'{h}_b32_seq_per_s'])} seq/s; bare nn.LSTM B=32: "
                     f"{_fmt(result['nn_lstm_b32_seq_per_s'])} seq/s; ratio nn.LSTM / {h}: "
                     f"{_fmt(result[f'{h}_to_nn_lstm_ratio'], 1)}x (by CPU time: "
                     f"{_fmt(result.get(f'{h}_to_nn_lstm_ratio_cpu_time'), 1)}x); {h} train B=1: "
                     f"{_fmt(result[f'{h}_b1_seq_per_s'], 1)} seq/s")
    for name, r in result.get("speedups", {}).items():
        cells = [f"train B={b} x{_fmt(x, 2)}" for b, x in r["train"].items()] + [f"eval x{_fmt(r['eval'], 2)}"]
        lines.append(f"{name} / {r['vs']}, seq/s: " + ", ".join(cells))
    cs = result.get("copy_solve")
    for path, r in (cs or {}).get("paths", {}).items():
        seeds = ", ".join(f"seed {k}: {_fmt(v['solve_s'], 1)} s ({_fmt(v['sequences'])} seqs)"
                          for k, v in r["per_seed"].items())
        lines.append(f"Time to solve copy (quick suite's recipe, row {path}, <= {cs['target_bit_errors']} bit "
                     f"errors on validation): median {_fmt(r['median_s'], 1)} s  [{seeds}]")
    sc = result.get("eval_scaling", {})
    if sc.get("status") == "ok":
        lines.append(f"{sc['model']} eval scaling (batch {sc['batch']}), seconds per batch (relative to the first):")
        lines.append("  by length: " + ", ".join(f"L={r['length']} (rows {r['rows']}) {r['s_per_batch']:.2f}s "
                                                 f"(x{r['relative']:.2f})" for r in sc["by_length"]))
        lines.append("  by rows:   " + ", ".join(f"rows={r['rows']} (L {r['length']}) {r['s_per_batch']:.2f}s "
                                                 f"(x{r['relative']:.2f})" for r in sc["by_rows"]))
    return "\n".join(lines)


def _cell(r: dict) -> str:
    if not r:
        return "-"
    if r.get("status") != "ok":
        return str(r.get("status"))[:26]
    lo, hi = r["spread"]
    return f"{r['seq_per_s']:,.1f} [{lo:,.0f}-{hi:,.0f}]"


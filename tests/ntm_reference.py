"""A plain, literal NTM forward pass, for testing the fast one (Graves 2014 §3, eqs. 2-9).

One head at a time, one equation per line, powers and rolls as written in the paper, using the
parameters of a built `NTM` (reading its matrices column block by column block). Slow on purpose;
`tests/test_ntm_paths.py` checks every code path of the model (outputs and gradients) against it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def reference_forward(model, x: torch.Tensor) -> torch.Tensor:
    """x (B, T, I) -> logits (B, T, O) of `model` (an NTM), computed literally."""
    cfg = model.cfg
    B, T, _ = x.shape
    R, W, M, C, S = cfg.read_heads, cfg.write_heads, cfg.memory_width, cfg.controller_size, len(cfg.shifts)
    D = M + 3 + S
    mem, w0, reads0 = model.memory.initial(B, x)
    w_prev = [w0[:, j] for j in range(R + W)]
    reads = [reads0[:, j] for j in range(R)]
    ctrl = model.controller
    hc = [(x.new_zeros(B, C), x.new_zeros(B, C)) for _ in range(cfg.controller_layers)]
    outputs = []
    for t in range(T):
        # controller input: [x_t, r_{t-1}]
        if cfg.controller == "lstm":
            h_below = None
            for layer in range(cfg.controller_layers):
                h, c = hc[layer]
                if layer == 0:
                    z = (x[:, t] @ ctrl.w_x.T + torch.cat(reads, 1) @ ctrl.w_rh[:, :R * M].T
                         + h @ ctrl.w_rh[:, R * M:].T + ctrl.bias[0])
                else:
                    wu = ctrl.w_up[layer - 1]
                    z = h_below @ wu[:, :C].T + h @ wu[:, C:].T + ctrl.bias[layer]
                i, f, o = torch.sigmoid(z[:, :C]), torch.sigmoid(z[:, C:2 * C]), torch.sigmoid(z[:, 2 * C:3 * C])
                c = f * c + i * torch.tanh(z[:, 3 * C:])
                h = o * torch.tanh(c)
                hc[layer] = (h, c)
                h_below = h
        else:
            act = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid}[cfg.feedforward_activation]
            h = act(x[:, t] @ ctrl.w_x.T + torch.cat(reads, 1) @ ctrl.w_r.T + ctrl.bias)
        v = h @ model.heads.proj.weight.T + model.heads.proj.bias
        if cfg.head_clip > 0:
            v = torch.clamp(v, -cfg.head_clip, cfg.head_clip)

        def head_weighting(j, memory):
            p = v[:, j * D:(j + 1) * D]
            k = torch.tanh(p[:, :M]) if cfg.key_activation == "tanh" else p[:, :M]
            beta = F.softplus(p[:, M:M + 1])
            gamma = 1 + F.softplus(p[:, M + 1:M + 2])
            g = torch.sigmoid(p[:, M + 2:M + 3])
            s = torch.softmax(p[:, M + 3:], dim=1)
            # eq. 5-6: cosine similarity, then softmax with strength beta
            dot = (memory * k[:, None, :]).sum(-1)
            cos = dot / (torch.sqrt((k * k).sum(-1))[:, None] * torch.sqrt((memory * memory).sum(-1)) + 1e-8)
            wc = torch.exp(beta * cos) / torch.exp(beta * cos).sum(1, keepdim=True)
            wg = g * wc + (1 - g) * w_prev[j]  # eq. 7
            wt = sum(s[:, n:n + 1] * torch.roll(wg, shifts=sh, dims=1) for n, sh in enumerate(cfg.shifts))  # eq. 8
            w = wt ** gamma / (wt ** gamma).sum(1, keepdim=True)  # eq. 9
            if cfg.weighting_grad_clip > 0 and w.requires_grad:  # its gradient clipped in the backward pass
                w.register_hook(lambda grad: grad.clamp(-cfg.weighting_grad_clip, cfg.weighting_grad_clip))
            return w

        def erase_add(memory, ws):
            for j in range(W):  # all erases (eq. 3) ...
                e = torch.sigmoid(v[:, (R + W) * D + j * M:(R + W) * D + (j + 1) * M])
                memory = memory * (1 - ws[j][:, :, None] * e[:, None, :])
            for j in range(W):  # ... then all adds (eq. 4)
                a = v[:, (R + W) * D + (W + j) * M:(R + W) * D + (W + j + 1) * M]
                a = torch.tanh(a) if cfg.add_activation == "tanh" else a
                memory = memory + ws[j][:, :, None] * a[:, None, :]
            return memory

        if cfg.order == "read_first":
            ws = [head_weighting(j, mem) for j in range(R + W)]
            reads = [(ws[j][:, :, None] * mem).sum(1) for j in range(R)]  # eq. 2
            mem = erase_add(mem, ws[R:])
        else:
            ww = [head_weighting(R + j, mem) for j in range(W)]
            mem = erase_add(mem, ww)
            ws = [head_weighting(j, mem) for j in range(R)] + ww
            reads = [(ws[j][:, :, None] * mem).sum(1) for j in range(R)]
        w_prev = ws
        y = torch.cat([h] + reads, 1) @ model.output.weight.T + model.output.bias
        if cfg.output_clip > 0:
            y = torch.clamp(y, -cfg.output_clip, cfg.output_clip)
        outputs.append(y)
    return torch.stack(outputs, 1)

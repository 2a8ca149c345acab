"""The whole NTM recurrence (one-layer LSTM controller, read-first heads) as ONE autograd node.

`NTMSequence` runs the time loop of controller + memory step (`fused.memory_forward`) without
recording, then, in its backward, the reverse time loop by hand (`fused.memory_backward`, the
LSTM cell's chain rule), so autograd sees one node per sequence instead of several per step.
The gradients of the recurrent weights (controller's [reads, h] weight, head projection) are
not summed step by step: the per-step gradients of their outputs are written into (T, B, .)
buffers and each weight's gradient is then one matmul over all T * B rows.

Layout: the controller inputs and outputs live in one buffer HR (T + 1, B, R*M + C) whose row
t + 1 is [r_t, h_t] (row 0: the initial reads and h): row t is the controller's input at step t
(Graves 2014 §3: [x_t, r_{t-1}], the x_t part projected before the loop) and row t + 1 what the
output layer sees, so nothing is concatenated per step. `tests/test_ntm.py` checks this path
against autograd on plain ops and against the literal equations (float64).
"""
from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from ntm_bench.ntm.fused import activation_jacobian, memory_backward, memory_forward


class NTMSequence(torch.autograd.Function):
    """Inputs: xp (T, B, 4C) the controller's gate pre-activations from x_t (bias included),
    w_rh (4C, R*M + C), head projection weight (P, C) and bias (P,), Q0 (B, M, N) the initial
    memory transposed, w0 (B, H, N), r0 (B, R, M), h0 and c0 (B, C); layout and shifter as for
    `fused.MemoryStep`. Outputs: HR (T + 1, B, R*M + C) as above, and the final Q (B, M, N),
    w (B, H, N) and c (B, C) (the final reads and h are HR[-1])."""

    @staticmethod
    def forward(ctx, xp, w_rh, weight, bias, Q, w, r0, h0, c0, layout, shifter):
        T, B, _ = xp.shape
        RM, C = r0.shape[1] * r0.shape[2], h0.shape[1]
        HR = xp.new_empty(T + 1, B, RM + C)
        HR[0, :, :RM] = r0.reshape(B, RM)
        HR[0, :, RM:] = h0
        V = xp.new_empty(T, B, weight.shape[0])  # raw head projections
        S = xp.new_empty(T, B, 4 * C)  # [sigmoid(i, f, o), tanh(g)] per step
        Cs = xp.new_empty(T + 1, B, C)  # cell states, Cs[0] = c0
        Cs[0] = c0
        wt = weight.t()
        mems = []
        for t in range(T):
            gates = torch.addmm(xp[t], HR[t], w_rh.t())  # (B, 4C), Graves 2013 eqs. 7-11
            sig, gg = torch.sigmoid(gates[:, :3 * C], out=S[t, :, :3 * C]), torch.tanh(gates[:, 3 * C:], out=S[t, :, 3 * C:])
            c = torch.addcmul(sig[:, C:2 * C] * Cs[t], sig[:, :C], gg, out=Cs[t + 1])
            h = torch.mul(sig[:, 2 * C:], torch.tanh(c), out=HR[t + 1, :, RM:])
            Q, w, reads, mem = memory_forward(torch.addmm(bias, h, wt, out=V[t]), Q, w, layout, shifter)
            HR[t + 1, :, :RM] = reads.view(B, RM)
            mems.append(mem)
        ctx.mems, ctx.layout, ctx.shifter, ctx.r_shape = mems, layout, shifter, r0.shape
        ctx.save_for_backward(w_rh, weight, HR, V, S, Cs)
        return HR, Q, w, Cs[T].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, d_HR, d_Q, d_w, d_c):
        w_rh, weight, HR, V, S, Cs = ctx.saved_tensors
        mems, layout, shifter = ctx.mems, ctx.layout, ctx.shifter
        T1, B, RMC = HR.shape
        T, C = T1 - 1, weight.shape[1]
        RM = RMC - C
        R, M = ctx.r_shape[1], ctx.r_shape[2]
        # every elementwise derivative, for all steps at once
        J = activation_jacobian(V, layout)  # (T, B, P)
        i, f, o, gg = S.unflatten(-1, (4, C)).unbind(2)  # (T, B, C) each
        tc = torch.tanh(Cs[1:])
        dc_dh = o * (1 - tc * tc)  # d c_t / d h_t through h = o tanh(c)
        K = torch.stack([gg, Cs[:T], tc, i], 2)  # d gates / d [c, c, h, c], times the gates' derivatives
        K[:, :, :3].mul_(S[..., :3 * C].unflatten(-1, (3, C)) * (1 - S[..., :3 * C].unflatten(-1, (3, C))))
        K[:, :, 3].mul_(1 - gg * gg)
        d_gates = HR.new_empty(T, B, 4, C)  # per step: d of the controller's gates = d xp
        d_v = torch.empty_like(V)  # per step: d of the raw head projection
        d_in = None  # d of HR[t + 1] through step t + 1's controller input
        for t in range(T - 1, -1, -1):
            d_hr = d_HR[t + 1] if d_in is None else d_HR[t + 1] + d_in  # (B, R*M + C): [d r_t, d h_t]
            _, d_Q, d_w = memory_backward(mems[t], layout, shifter, d_Q, d_w, d_hr[:, :RM].view(B, R, M),
                                          d_v[t], J[t])
            mems[t] = None  # free this step's saved tensors as we go
            d_h = torch.addmm(d_hr[:, RM:], d_v[t], weight)  # + through the head projection
            d_c = torch.addcmul(d_c, d_h, dc_dh[t])
            torch.mul(d_c.unsqueeze(1), K[t], out=d_gates[t])
            torch.mul(d_h, K[t, :, 2], out=d_gates[t, :, 2])
            d_c = d_c * f[t]
            d_in = d_gates[t].view(B, 4 * C).mm(w_rh)  # (B, R*M + C)
        d_gates = d_gates.view(T, B, 4 * C)
        d_hr0 = d_HR[0] + d_in
        flat_v = d_v.view(T * B, -1)
        d_weight = flat_v.t().mm(HR[1:, :, RM:].reshape(T * B, C))
        d_w_rh = d_gates.view(T * B, -1).t().mm(HR[:T].reshape(T * B, RMC))
        return (d_gates, d_w_rh, d_weight, flat_v.sum(0), d_Q, d_w, d_hr0[:, :RM].reshape(B, R, M),
                d_hr0[:, RM:], d_c, None, None)

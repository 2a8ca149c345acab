"""The NTM's "python" path: the whole recurrence (controller + read-first heads) as ONE autograd node.

`python_sequence` has the signature of the readable `ntm.run_steps`. With gradients it runs
`NTMSequence`, which runs the time loop of controller + memory step (`step.memory_forward`) without
recording, then, in its backward, the reverse time loop by hand (`step.memory_backward`, the
controller's chain rule), so autograd sees one node per sequence instead of ~100 per step.
Without gradients (evaluation, traces) it runs a step loop of the same forward that keeps one
memory at a time (`step_loop`).
The gradients of the recurrent weights (the controller's, the head projection) are not summed
step by step: the per-step gradients of their outputs are written into (T, B, .) buffers and each
weight's gradient is then one matmul over all T * B rows.

Controllers: an LSTM of any number of layers (`LSTMLayers`) or one feed-forward layer
(`FeedForward`), with the parameters of `controller.py`.

Layout: the controller's first input and its output live in one buffer HR (T + 1, B, R*M + C)
whose row t + 1 is [r_t, h_t], h_t the controller's output (its top layer); row 0 holds the
initial reads and h. Row t is then the controller's input at step t (Graves 2014 §3: [x_t,
r_{t-1}], the x_t part projected before the loop; a one-layer LSTM also reads its own h_{t-1}
there) and row t + 1 what the output layer sees, so nothing is concatenated per step.
`tests/test_ntm_paths.py` checks this path against the readable one and against the literal
equations (float64).
"""
from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

import torch.nn.functional as F

from ntm_bench.ntm.ops.step import Shifter, activation_jacobian, cell_forward, memory_backward, memory_forward


def python_sequence(model, x, state, record=()):
    """`ntm.run_steps` on the Python path: x (B, T, I), state -> (logits (B, T, O), final state,
    records). With gradients: one `NTMSequence` node (nothing recorded); without: `step_loop`,
    which records the weightings ("w") and memories ("memory") named in `record`."""
    if not torch.is_grad_enabled():
        return step_loop(model, x, state, record)
    assert not record, "traces with gradients take the readable path (ops.select)"
    shifter = Shifter(model.heads.layout.shifts, state.memory.shape[1], x.device)
    return sequence_outputs(model, state, *NTMSequence.apply(shifter, *sequence_args(model, x, state)))


def sequence_args(model, x, state) -> tuple:
    """NTMSequence's inputs (less the shifter) from an NTM, its input x (B, T, I) and state."""
    ctrl, B, C = state.controller, x.shape[0], model.cfg.controller_size
    # every LSTM layer's (h, c) as (L, B, C) each; a feed-forward controller has none
    h0 = torch.stack([h for h, _ in ctrl]) if ctrl else x.new_empty(0, B, C)
    c0 = torch.stack([c for _, c in ctrl]) if ctrl else x.new_empty(0, B, C)
    Q = state.memory.transpose(1, 2).contiguous()  # (B, M, N), see step.memory_forward
    w = torch.cat([state.read_weights, state.write_weights], 1)  # (B, H, N)
    xp = model.controller.project_inputs(x.transpose(0, 1))  # (T, B, 4C or C)
    return (model.heads.layout, model.controller.cell, xp, Q, w, state.reads, h0, c0, model.heads.proj.weight,
            model.heads.proj.bias, *model.controller.sequence_weights())


def sequence_outputs(model, state, HR, Q, w, hs, cs):
    """(logits (B, T, O), final state, {}) from NTMSequence's outputs."""
    from ntm_bench.ntm.ntm import NTMState

    C, R = model.cfg.controller_size, model.cfg.read_heads
    RM = state.reads.shape[1] * state.reads.shape[2]
    reads, ctrl = HR[-1, :, :RM].view(state.reads.shape), tuple(zip(hs, cs))
    # HR[t + 1] = [r_t, h_t]: the output layer's columns [h, r] swapped to match
    w_out = torch.cat([model.output.weight[:, C:], model.output.weight[:, :C]], 1)
    logits = model.clip(F.linear(HR[1:], w_out, model.output.bias))
    return logits.transpose(0, 1), NTMState(Q.transpose(1, 2), w[:, :R], w[:, R:], reads, ctrl), {}


def step_loop(model, x, state, record=()):
    """The Python path without gradients, step by step: one memory at a time, and the weightings
    ("w": (B, T, H, N)) and memories ("memory": (B, T, N, M)) named in `record`."""
    from ntm_bench.ntm.ntm import NTMState

    B, T, _ = x.shape
    layout, ctrl, reads = model.heads.layout, state.controller, state.reads
    shifter = Shifter(layout.shifts, state.memory.shape[1], x.device)
    Q = state.memory.transpose(1, 2).contiguous()  # (B, M, N)
    w = torch.cat([state.read_weights, state.write_weights], 1)
    weight, bias = model.heads.proj.weight, model.heads.proj.bias
    xp = model.controller.project_inputs(x.transpose(0, 1)).unbind(0)  # T x (B, 4C or C)
    hs, rs, ws, ms = [], [], [], []
    for t in range(T):
        h, ctrl = _controller_step(model.controller, xp[t], reads.reshape(B, -1), ctrl)
        Q, w, reads, _ = memory_forward(torch.addmm(bias, h, weight.t()), Q, w, layout, shifter)
        hs.append(h)
        rs.append(reads)
        if "w" in record:
            ws.append(w)
        if "memory" in record:
            ms.append(Q.transpose(1, 2))
    out = torch.cat([torch.stack(hs), torch.stack(rs).view(T, B, -1)], -1)  # (T, B, C + R*M)
    logits = model.clip(model.output(out))
    R = model.cfg.read_heads
    records = {"w": torch.stack(ws, 1)} if ws else {}
    if ms:
        records["memory"] = torch.stack(ms, 1)
    return logits.transpose(0, 1), NTMState(Q.transpose(1, 2), w[:, :R], w[:, R:], reads, ctrl), records


def _controller_step(controller, xp, reads, state):
    """`controller.step` without autograd recording, its LSTM cell as `step.cell_forward`."""
    if controller.cell != "lstm":
        return controller.act(torch.addmm(xp, reads, controller.w_r.t())), ()
    h, c = state[0]
    h, c, _ = cell_forward(torch.addmm(xp, torch.cat([reads, h], 1), controller.w_rh.t()), c)
    new = [(h, c)]
    for layer in range(1, controller.layers):
        hl, cl = state[layer]
        h, c, _ = cell_forward(torch.addmm(controller.bias[layer], torch.cat([h, hl], 1),
                                           controller.w_up[layer - 1].t()), cl)
        new.append((h, c))
    return h, tuple(new)


class NTMSequence(torch.autograd.Function):
    """Inputs: shifter (`step.Shifter`) and layout (`heads.HeadLayout`); cell, the controller: "lstm", or a
    feed-forward layer's activation ("tanh", "relu", "sigmoid"); xp (T, B, G) the controller's
    first-layer pre-activations from x_t (bias included; G = 4C for an LSTM, C feed-forward);
    Q0 (B, M, N) the initial memory transposed, w0 (B, H, N), r0 (B, R, M); h0 and c0 (L, B, C)
    every LSTM layer's initial state ((0, B, C) for a feed-forward controller); the head
    projection's weight (P, C) and bias (P,); then the controller's weights, as
    `LSTMController.sequence_weights` / `FeedForwardController.sequence_weights` list them.
    Outputs: HR (T + 1, B, R*M + C) as above, the final Q (B, M, N) and w (B, H, N), and every
    LSTM layer's final h and c (L, B, C)."""

    @staticmethod
    def forward(ctx, shifter, layout, cell, xp, Q, w, r0, h0, c0, weight, bias, *cell_weights):
        T, B, _ = xp.shape
        RM, C = r0.shape[1] * r0.shape[2], weight.shape[1]
        HR = xp.new_empty(T + 1, B, RM + C)
        HR[0, :, :RM] = r0.reshape(B, RM)
        HR[0, :, RM:] = h0[-1] if cell == "lstm" else 0  # a feed-forward controller has no h_{-1}
        if cell == "lstm":
            controller = LSTMLayers(xp, HR, h0, c0, cell_weights)
        else:
            controller = FeedForward(xp, HR, cell, *cell_weights)
        V = xp.new_empty(T, B, weight.shape[0])  # raw head projections
        wt = weight.t()
        mems = []
        for t in range(T):
            h = controller.forward(t)  # h_t, written into HR[t + 1, :, RM:]
            Q, w, reads, mem = memory_forward(torch.addmm(bias, h, wt, out=V[t]), Q, w, layout, shifter)
            HR[t + 1, :, :RM] = reads.view(B, RM)
            mems.append(mem)
        ctx.mems, ctx.layout, ctx.shifter, ctx.r_shape = mems, layout, shifter, r0.shape
        ctx.controller = controller
        ctx.save_for_backward(weight, HR, V)
        return HR, Q, w, *controller.final_state()

    @staticmethod
    @once_differentiable
    def backward(ctx, d_HR, d_Q, d_w, d_hT, d_cT):
        weight, HR, V = ctx.saved_tensors
        mems, layout, shifter, controller = ctx.mems, ctx.layout, ctx.shifter, ctx.controller
        T1, B, RMC = HR.shape
        T, C = T1 - 1, weight.shape[1]
        RM = RMC - C
        R, M = ctx.r_shape[1], ctx.r_shape[2]
        J = activation_jacobian(V, layout)  # (T, B, P), every step's elementwise derivatives at once
        controller.start_backward(d_hT, d_cT)
        d_v = torch.empty_like(V)  # per step: d of the raw head projection
        for t in range(T - 1, -1, -1):
            d_hr = d_HR[t + 1] + controller.d_next()  # (B, R*M + C): [d r_t, d h_t]
            _, d_Q, d_w = memory_backward(mems[t], layout, shifter, d_Q, d_w, d_hr[:, :RM].view(B, R, M),
                                          d_v[t], J[t])
            mems[t] = None  # free this step's saved tensors as we go
            controller.backward(t, torch.addmm(d_hr[:, RM:], d_v[t], weight))  # + through the head projection
        d_hr0 = d_HR[0] + controller.d_next()
        flat_v = d_v.view(T * B, -1)
        d_weight = flat_v.t().mm(HR[1:, :, RM:].reshape(T * B, C))
        d_xp, d_cell_weights = controller.weight_grads()
        d_h0, d_c0 = controller.initial_state_grads(d_hr0)
        return (None, None, None, d_xp, d_Q, d_w, d_hr0[:, :RM].reshape(B, R, M), d_h0, d_c0, d_weight,
                flat_v.sum(0), *d_cell_weights)


class LSTMLayers:
    """An LSTM controller's layers over a whole sequence: `forward` step by step, then `backward`
    in reverse. Gate order [i, f, o, g]; weights [w_rh, w_up[0], bias[1], w_up[1], bias[2], ...]
    (`controller.LSTMController`; the first layer's bias is in xp).

    Each layer's inputs are one buffer X[l] (T + 1, B, .) whose row t is its input at step t:
    [r_{t-1}, h^0_{t-1}] for the first layer (X[0] is HR itself when there is one layer) and
    [h^{l-1}_t, h^l_{t-1}] above it. Layer l writes its h_t into its own columns (from `own[l]`)
    of its row t + 1, and passes it on to the layer above's row t or, from the top, to HR."""

    def __init__(self, xp, HR, h0, c0, weights):
        T, B, _ = xp.shape
        self.L, self.C = L, C = h0.shape[0], h0.shape[2]
        self.RM = RM = HR.shape[2] - C
        self.xp, self.HR, self.weights = xp, HR, weights
        self.X = [HR if L == 1 else xp.new_empty(T + 1, B, RM + C)] + [xp.new_empty(T + 1, B, 2 * C)
                                                                      for _ in range(L - 1)]
        self.own = [RM] + [C] * (L - 1)
        for X, own, h in zip(self.X, self.own, h0):
            X[0, :, own:] = h
        self.S = xp.new_empty(L, T, B, 4 * C)  # per layer and step: [sigmoid(i, f, o), tanh(g)]
        self.Cs = xp.new_empty(L, T + 1, B, C)  # cell states, Cs[:, 0] = c0
        self.Cs[:, 0] = c0

    def weight(self, layer: int) -> torch.Tensor:
        return self.weights[2 * layer - 1 if layer else 0]

    def forward(self, t: int) -> torch.Tensor:
        C, RM, X, HR = self.C, self.RM, self.X, self.HR
        if self.L > 1:
            X[0][t, :, :RM] = HR[t, :, :RM]  # r_{t-1}
        for layer in range(self.L):  # Graves 2013 eqs. 7-11
            if layer == 0:
                gates = torch.addmm(self.xp[t], X[0][t], self.weights[0].t())
            else:
                gates = torch.addmm(self.weights[2 * layer], X[layer][t], self.weight(layer).t())
            S, Cs = self.S[layer, t], self.Cs[layer]
            sig, gg = torch.sigmoid(gates[:, :3 * C], out=S[:, :3 * C]), torch.tanh(gates[:, 3 * C:], out=S[:, 3 * C:])
            c = torch.addcmul(sig[:, C:2 * C] * Cs[t], sig[:, :C], gg, out=Cs[t + 1])
            h = torch.mul(sig[:, 2 * C:], torch.tanh(c), out=X[layer][t + 1, :, self.own[layer]:])
            if layer + 1 < self.L:
                X[layer + 1][t, :, :C] = h
            elif self.L > 1:
                h = HR[t + 1, :, RM:].copy_(h)
        return h

    def final_state(self):
        """Every layer's final h and c, (L, B, C) each."""
        T = self.Cs.shape[1] - 1
        return torch.stack([X[T, :, own:] for X, own in zip(self.X, self.own)]), self.Cs[:, T].clone()

    def start_backward(self, d_hT, d_cT):
        """Every step's cell derivatives at once; the recurrence's gradients start from d h_T, d c_T."""
        L, C = self.L, self.C
        T, B = self.S.shape[1], self.S.shape[2]
        i, f, o, gg = self.S.unflatten(-1, (4, C)).unbind(3)  # (L, T, B, C) each
        tc = torch.tanh(self.Cs[:, 1:])
        self.dc_dh = o * (1 - tc * tc)  # d c_t / d h_t through h = o tanh(c)
        K = torch.stack([gg, self.Cs[:, :T], tc, i], 3)  # d gates / d [c, c, h, c], times the gates' derivatives
        sig = self.S[..., :3 * C].unflatten(-1, (3, C))
        K[:, :, :, :3].mul_(sig * (1 - sig))
        K[:, :, :, 3].mul_(1 - gg * gg)
        self.K, self.f = K, f
        self.d_gates = self.S.new_empty(L, T, B, 4, C)  # per layer and step: d of the gates
        self.d_c = list(d_cT.unbind(0))
        # d_in[l]: d of layer l's input row t + 1, through step t + 1; its h part starts as d h_T
        self.d_in = [X.new_zeros(B, X.shape[2]) for X in self.X]
        for d, own, dh in zip(self.d_in, self.own, d_hT):
            d[:, own:] = dh

    def d_next(self) -> torch.Tensor:
        """d HR[t + 1] = d [r_t, h_t] through step t + 1 (after `backward(t + 1)`)."""
        if self.L == 1:
            return self.d_in[0]
        return torch.cat([self.d_in[0][:, :self.RM], self.d_in[-1][:, self.C:]], 1)

    def backward(self, t: int, d_h: torch.Tensor) -> None:
        """d_h: d h_t of the top layer, all of it (the output layer, the heads, the next step)."""
        C = self.C
        B = d_h.shape[0]
        for layer in range(self.L - 1, -1, -1):
            if layer < self.L - 1:  # from the layer above at step t, and from this layer at t + 1
                d_h = self.d_in[layer + 1][:, :C] + self.d_in[layer][:, self.own[layer]:]
            K, d_gates = self.K[layer, t], self.d_gates[layer, t]
            d_c = torch.addcmul(self.d_c[layer], d_h, self.dc_dh[layer, t])
            torch.mul(d_c.unsqueeze(1), K, out=d_gates)
            torch.mul(d_h, K[:, 2], out=d_gates[:, 2])
            self.d_c[layer] = d_c * self.f[layer, t]
            self.d_in[layer] = d_gates.view(B, 4 * C).mm(self.weight(layer))

    def weight_grads(self):
        """(d xp, the gradients of `weights` in their order)."""
        L, T, B, _, C = self.d_gates.shape
        d_gates = self.d_gates.view(L, T * B, 4 * C)
        grads = [d_gates[0].t().mm(self.X[0][:T].reshape(T * B, -1))]
        for layer in range(1, L):
            grads += [d_gates[layer].t().mm(self.X[layer][:T].reshape(T * B, 2 * C)), d_gates[layer].sum(0)]
        return self.d_gates[0].view(T, B, 4 * C), grads

    def initial_state_grads(self, d_hr0):
        """(d h0, d c0), (L, B, C) each; d_hr0: d HR[0], whose h part is the top layer's h_{-1}."""
        d_h0 = [d[:, own:] for d, own in zip(self.d_in[:-1], self.own)] + [d_hr0[:, self.RM:]]
        return torch.stack(d_h0), torch.stack(self.d_c)


class FeedForward:
    """A feed-forward controller over a whole sequence: h_t = act(xp_t + r_{t-1} W_r^T), its
    input the reads part of HR[t] (`controller.FeedForwardController`, bias in xp); no state."""

    def __init__(self, xp, HR, activation: str, w_r):
        self.xp, self.HR, self.activation, self.w_r = xp, HR, activation, w_r
        self.RM = w_r.shape[1]

    def forward(self, t: int) -> torch.Tensor:
        RM, HR = self.RM, self.HR
        pre = torch.addmm(self.xp[t], HR[t, :, :RM], self.w_r.t())
        h = HR[t + 1, :, RM:]
        if self.activation == "tanh":
            return torch.tanh(pre, out=h)
        if self.activation == "sigmoid":
            return torch.sigmoid(pre, out=h)
        return torch.clamp_min(pre, 0, out=h)  # relu

    def final_state(self):
        empty = self.xp.new_empty(0, self.xp.shape[1], self.HR.shape[2] - self.RM)
        return empty, empty.clone()

    def start_backward(self, d_hT, d_cT):
        h = self.HR[1:, :, self.RM:]  # act' from h, all steps at once
        if self.activation == "tanh":
            self.d_act = 1 - h * h
        elif self.activation == "sigmoid":
            self.d_act = h * (1 - h)
        else:
            self.d_act = (h > 0).to(h.dtype)
        self.d_pre = torch.empty_like(self.xp)  # per step: d of the pre-activation
        self.d_hr = self.xp.new_zeros(self.xp.shape[1], self.HR.shape[2])  # h_t feeds no later step

    def d_next(self) -> torch.Tensor:
        return self.d_hr

    def backward(self, t: int, d_h: torch.Tensor) -> None:
        d_pre = torch.mul(d_h, self.d_act[t], out=self.d_pre[t])
        self.d_hr[:, :self.RM] = d_pre.mm(self.w_r)

    def weight_grads(self):
        T, B, C = self.d_pre.shape
        return self.d_pre, [self.d_pre.view(T * B, C).t().mm(self.HR[:T, :, :self.RM].reshape(T * B, self.RM))]

    def initial_state_grads(self, d_hr0):
        return None, None

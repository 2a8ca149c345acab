"""One step of the NTM's heads on the memory, forward and hand-written backward, for the Python path.

`memory_forward`: head activations, addressing, read and write (Graves 2014 §3), the same
equations as `heads.heads_step`; `memory_backward`: the chain rule written out. `sequence.py` runs
them over time without autograd recording: an NTM step is ~50 tiny tensor ops, and on a CPU the
per-op overhead of autograd, not the arithmetic, would be most of the time. `cell_forward`: the
LSTM cell, as the step loop without gradients computes it. `tests/test_ntm_paths.py` checks the
Python path against the readable one and the literal equations (float64, outputs and gradients).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ntm_bench.ntm.addressing import COS_EPS, SHARPEN_EPS, shift_index
from ntm_bench.ntm.heads import HeadLayout

_TINY = 1e-30  # x / max(|x|, tiny): the gradient of a norm at 0 is 0, as autograd's


def memory_forward(v, Q, w_prev, layout: HeadLayout, shifter):
    """One read-first step from the raw head projection v (B, P): (Q_t, w, reads, saved), `saved`
    being what `memory_backward` needs. Run without autograd recording.

    The memory is kept transposed, Q = M^T (B, M, N): on a CPU, row norms (a sum over dim 1) and
    the matmuls against Q are then contiguous and several times faster than on (B, N, M). Subnormal
    floats are best flushed (the NTM does so on a CPU): sharpened weightings are full of them."""
    B, M, N = Q.shape
    R, W, H, D = layout.read_heads, layout.write_heads, layout.heads, layout.block
    c = layout.clip
    u = v.clamp(-c, c) if c > 0 else v
    # §3.3 head parameters
    A = u[:, :H * D].view(B, H, D)
    k = torch.tanh(A[..., :M]) if layout.key_tanh else A[..., :M]  # (B, H, M)
    sp_x = A[..., M:M + 2]  # beta and gamma pre-activations (B, H, 2)
    sp = F.softplus(sp_x)
    beta, gamma = sp[..., :1], sp[..., 1:] + 1  # (B, H, 1)
    g = torch.sigmoid(A[..., M + 2:M + 3])  # (B, H, 1)
    s = torch.softmax(A[..., M + 3:], dim=-1)  # (B, H, S)
    e = torch.sigmoid(u[:, H * D:H * D + W * M]).view(B, W, M)
    a = u[:, H * D + W * M:].view(B, W, M)
    if layout.add_tanh:
        a = torch.tanh(a)
    # §3.3.1 content weighting
    kn = k.norm(dim=-1, keepdim=True)  # (B, H, 1)
    mn = (Q * Q).sum(1, keepdim=True).sqrt_()  # (B, 1, N) row norms
    den = kn * mn + COS_EPS  # (B, H, N)
    cos = torch.bmm(k, Q).div_(den)
    wc = torch.softmax(beta * cos, dim=-1)
    # §3.3.2 interpolation, shift, sharpening
    wg = torch.lerp(w_prev, wc, g)
    wt, G = shifter.forward(wg, s)  # (B, H, N)
    lg = torch.log(wt + SHARPEN_EPS)
    w = torch.softmax(gamma * lg, dim=-1)
    # §3.1-3.2 read from M_{t-1}, then erase and add
    wr, ww = w[:, :R], w[:, R:]
    reads = torch.bmm(wr, Q.transpose(1, 2))  # (B, R, M); not Q @ wr^T: that one loops over B
    if W == 1:  # M(i) (1 - w(i) e) + w(i) a; the outer product e^T w by a matmul: an elementwise op
        # with two operands broadcast along the contiguous N axis is ~4x slower on a CPU
        Q_new = torch.addcmul(Q, Q, torch.bmm(e.transpose(1, 2), ww), value=-1).baddbmm_(a.transpose(1, 2), ww)
    else:  # all erases, then all adds
        Q_new = (1 - e.unsqueeze(-1) * ww.unsqueeze(-2)).prod(1).mul_(Q).baddbmm_(a.transpose(1, 2), ww)
    saved = (v, Q, w_prev, w, k, kn, mn, den, cos, wc, beta, gamma, g, s, sp_x, e, a, G, wt, lg)
    return Q_new, w, reads, saved


def memory_backward(saved, layout: HeadLayout, shifter, d_Qn, d_w, d_reads, d_v=None, jac=None):
    """Gradients (d_v (B, P), d_Q (B, M, N), d_wprev (B, H, N)) of one memory step from those of
    its outputs; d_v may be given as a preallocated (B, P) buffer to write into, and jac (B, P)
    as the activations' elementwise derivatives (`activation_jacobian`) computed beforehand."""
    v, Q, w_prev, w, k, kn, mn, den, cos, wc, beta, gamma, g, s, sp_x, e, a, G, wt, lg = saved
    B, M, N = Q.shape
    R, W, H = layout.read_heads, layout.write_heads, layout.heads
    wr, ww = w[:, :R], w[:, R:]
    # write: Q_t = Q * keep + a^T w, keep = prod_h (1 - e_h^T w_h)
    d_keep = d_Qn * Q  # (B, M, N)
    if W == 1:
        d_Q = torch.addcmul(d_Qn, d_Qn * ww, e.transpose(1, 2), value=-1)  # d_Qn * keep
        d_ww = torch.baddbmm(torch.bmm(a, d_Qn), e, d_keep, alpha=-1)  # (B, 1, N)
        d_e = torch.bmm(ww, d_keep.transpose(1, 2)).neg_()  # (B, 1, M)
    else:  # keep = prod_h K_h: d K_h = d_keep * prod_{j != h} K_j (prefix x suffix products)
        K = 1 - e.unsqueeze(-1) * ww.unsqueeze(-2)  # (B, W, M, N)
        keep = K.prod(1)
        ones = torch.ones_like(K[:, :1])
        pre = torch.cat([ones, K[:, :-1].cumprod(1)], 1)
        suf = torch.cat([K[:, 1:].flip(1).cumprod(1).flip(1), ones], 1)
        d_K = d_keep.unsqueeze(1) * pre * suf  # (B, W, M, N)
        d_ww = torch.bmm(a, d_Qn) - (d_K * e.unsqueeze(-1)).sum(2)
        d_e = -(d_K * ww.unsqueeze(-2)).sum(-1)
        d_Q = keep.mul_(d_Qn)
    d_a = torch.bmm(ww, d_Qn.transpose(1, 2))  # (B, W, M)
    # read: r = w_r M_{t-1}
    d_wr = torch.bmm(d_reads, Q)  # (B, R, N)
    d_w = d_w + torch.cat([d_wr, d_ww], 1)  # (B, H, N)
    if layout.grad_clip > 0:
        d_w.clamp_(-layout.grad_clip, layout.grad_clip)  # d_w is this step's own sum, above
    # sharpening: w = softmax(gamma * log(wt + eps))
    d_y = w * (d_w - (d_w * w).sum(-1, keepdim=True))
    d_gamma = (d_y * lg).sum(-1, keepdim=True)
    d_wt = d_y * gamma / (wt + SHARPEN_EPS)
    # shift: wt(i) = sum_k s_k wg(i - shift_k)
    d_wg, d_s = shifter.backward(G, s, d_wt)
    # interpolation: wg = w_prev + g (wc - w_prev)
    d_wc = g * d_wg
    d_wprev = d_wg - d_wc
    d_g = (d_wg * (wc - w_prev)).sum(-1, keepdim=True)
    # content: wc = softmax(beta * dot / den), den = |k| |M(i)| + eps
    d_z = wc * (d_wc - (d_wc * wc).sum(-1, keepdim=True))
    d_beta = (d_z * cos).sum(-1, keepdim=True)
    d_dot = d_z * beta / den  # (B, H, N)
    d_den = -d_dot * cos
    d_kn = (d_den * mn).sum(-1, keepdim=True)  # (B, H, 1)
    d_mn = (d_den * kn).sum(1, keepdim=True)  # (B, 1, N)
    d_k = torch.bmm(d_dot, Q.transpose(1, 2))  # (B, H, M)
    d_k = d_k + d_kn * k / kn.clamp_min(_TINY)
    # rest of dQ: row norms, then the read and key outer products
    d_Q.addcmul_(Q, d_mn / mn.clamp_min(_TINY))
    d_Q.baddbmm_(d_reads.transpose(1, 2), wr).baddbmm_(k.transpose(1, 2), d_dot)
    # activations back to the raw projection, written straight into d_v's column blocks
    D = layout.block
    if d_v is None:
        d_v = torch.empty_like(v)
    dA = d_v[:, :H * D].view(B, H, D)
    if jac is not None:  # the elementwise derivatives are in jac: d_v = d(activated) * jac
        dA[..., :M] = d_k
        dA[..., M:M + 1] = d_beta
        dA[..., M + 1:M + 2] = d_gamma
        dA[..., M + 2:M + 3] = d_g
        torch.mul(s, d_s - (d_s * s).sum(-1, keepdim=True), out=dA[..., M + 3:])
        d_v[:, H * D:H * D + W * M].view(B, W, M).copy_(d_e)
        d_v[:, H * D + W * M:].view(B, W, M).copy_(d_a)
        return d_v.mul_(jac), d_Q, d_wprev
    if layout.key_tanh:
        torch.mul(d_k, 1 - k * k, out=dA[..., :M])
    else:
        dA[..., :M] = d_k
    sig = torch.sigmoid(sp_x)  # softplus' = sigmoid
    torch.mul(d_beta, sig[..., :1], out=dA[..., M:M + 1])
    torch.mul(d_gamma, sig[..., 1:], out=dA[..., M + 1:M + 2])
    torch.mul(d_g, g * (1 - g), out=dA[..., M + 2:M + 3])
    torch.mul(s, d_s - (d_s * s).sum(-1, keepdim=True), out=dA[..., M + 3:])
    torch.mul(d_e, e * (1 - e), out=d_v[:, H * D:H * D + W * M].view(B, W, M))
    if layout.add_tanh:
        torch.mul(d_a, 1 - a * a, out=d_v[:, H * D + W * M:].view(B, W, M))
    else:
        d_v[:, H * D + W * M:] = d_a.reshape(B, -1)
    if layout.clip > 0:
        d_v.mul_(v.abs() <= layout.clip)
    return d_v, d_Q, d_wprev


def activation_jacobian(v, layout: HeadLayout):
    """Elementwise derivatives of the head activations (clip included) at the raw projections
    v (..., P): 1 - tanh^2, sigmoid (softplus'), sigmoid' or 1; 1 in the shift columns, whose
    softmax is not elementwise (`memory_backward` applies it). One pass over all steps at once."""
    M, H, W, D = layout.width, layout.heads, layout.write_heads, layout.block
    c = layout.clip
    u = v.clamp(-c, c) if c > 0 else v
    J = torch.ones_like(v)
    A, JA = u[..., :H * D].unflatten(-1, (H, D)), J[..., :H * D].unflatten(-1, (H, D))
    if layout.key_tanh:
        torch.tanh(A[..., :M], out=JA[..., :M]).square_().neg_().add_(1)
    torch.sigmoid(A[..., M:M + 3], out=JA[..., M:M + 3])
    JA[..., M + 2:M + 3].mul_(1 - JA[..., M + 2:M + 3])
    E, JE = u[..., H * D:H * D + W * M], J[..., H * D:H * D + W * M]
    torch.sigmoid(E, out=JE)
    JE.mul_(1 - JE)
    if layout.add_tanh:
        torch.tanh(u[..., H * D + W * M:], out=J[..., H * D + W * M:]).square_().neg_().add_(1)
    if c > 0:
        J.mul_(v.abs() <= c)
    return J


class Shifter:
    """Circular shift (§3.3.2, eq. 8) for one N: wt(i) = sum_k s_k w((i - shift_k) mod N).

    A sorted, contiguous set of shifts lo..hi with lo <= 0 <= hi and |shift| < N (e.g. -1, 0, 1)
    sums S slices of a circularly padded copy (no gather); other sets gather with an index."""

    def __init__(self, shifts, rows: int, device):
        self.rows = rows
        self.lo, self.hi = lo, hi = min(shifts), max(shifts)
        self.contiguous = (list(shifts) == list(range(lo, hi + 1)) and lo <= 0 <= hi
                           and max(hi, -lo) < rows)
        if not self.contiguous:
            self.index = shift_index(shifts, rows, device)

    def _padded(self, w: torch.Tensor, back: bool):
        """Circularly padded w: padded[..., j] = w((j - left) mod N); window j = padded[..., j:j+N]
        holds w(i + j - left). Forward windows j = 0..S-1 are shifts hi..lo; back: lo..hi."""
        N = self.rows
        left, right = (-self.lo, self.hi) if back else (self.hi, -self.lo)
        return torch.cat([w[..., N - left:], w, w[..., :right]], -1)

    def forward(self, w: torch.Tensor, s: torch.Tensor):
        """w (B,H,N), s (B,H,S) -> (shifted w (B,H,N), what `backward` needs)."""
        N = self.rows
        if not self.contiguous:
            B, H, _ = w.shape
            G = w.index_select(-1, self.index[0]).view(B, H, -1, N)  # (B, H, S, N)
            return (G * s.unsqueeze(-1)).sum(2), G
        P = self._padded(w, back=False)
        sk = s.unsqueeze(-1).unbind(-2)  # S x (B, H, 1), ascending shifts
        S = len(sk)
        out = P[..., :N] * sk[S - 1]  # window 0 = shift hi
        for j in range(1, S):
            out.addcmul_(P[..., j:j + N], sk[S - 1 - j])
        return out, P

    def backward(self, saved: torch.Tensor, s: torch.Tensor, d_out: torch.Tensor):
        """Gradients (d_w (B,H,N), d_s (B,H,S)) from d_out (B,H,N)."""
        N = self.rows
        if not self.contiguous:
            B, H, _ = d_out.shape
            d_s = (saved * d_out.unsqueeze(2)).sum(-1)
            back = d_out.index_select(-1, self.index[1]).view(B, H, -1, N)
            return (back * s.unsqueeze(-1)).sum(2), d_s
        S = s.shape[-1]
        # d_s_k = sum_i wg(i - shift_k) d_out(i): window S-1-k of the forward padding
        d_s = torch.cat([(saved[..., S - 1 - k:S - 1 - k + N] * d_out).sum(-1, keepdim=True) for k in range(S)], -1)
        # transposed shift: d_w(j) = sum_k s_k d_out((j + shift_k) mod N), windows ascending
        P = self._padded(d_out, back=True)
        sk = s.unsqueeze(-1).unbind(-2)
        d_w = P[..., :N] * sk[0]
        for k in range(1, S):
            d_w.addcmul_(P[..., k:k + N], sk[k])
        return d_w, d_s


def cell_forward(gates, c_prev):
    """The LSTM cell from its pre-activation gates (B, 4C), laid out [i, f, o, g] (Graves 2013, eqs.
    7-11 without peepholes): (h, c, what a backward needs)."""
    C = c_prev.shape[1]
    sig = torch.sigmoid(gates[:, :3 * C])  # (B, 3C): input, forget, output gates
    gg = torch.tanh(gates[:, 3 * C:])  # (B, C): candidate
    i, f, o = sig.chunk(3, 1)
    c = torch.addcmul(f * c_prev, i, gg)
    tc = torch.tanh(c)
    return o * tc, c, (sig, gg, c_prev, tc)

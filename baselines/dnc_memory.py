"""The DNC's memory access (Graves et al. 2016, Nature, Methods "Memory addressing"), as functions.

Shapes: B batch, N memory rows, W word size, R read heads; one write head, as in the paper. Every
function is vectorised over the batch and the rows (no Python loop over either); `dnc.py` calls
them once per time step. The equations are quoted with the paper's symbols.

- Content lookup: C(M, k, beta)[i] = softmax_i(beta * D(k, M[i])), D the cosine similarity.
- Dynamic allocation: retention psi_t = prod_i (1 - f^i_t w^{r,i}_{t-1}); usage
  u_t = (u_{t-1} + w^w_{t-1} - u_{t-1} o w^w_{t-1}) o psi_t; free list phi_t = the rows sorted by
  ascending usage; allocation a_t[phi_t[j]] = (1 - u_t[phi_t[j]]) prod_{i<j} u_t[phi_t[i]].
- Write weighting: w^w_t = g^w_t (g^a_t a_t + (1 - g^a_t) c^w_t), c^w_t = C(M_{t-1}, k^w_t, beta^w_t).
- Memory: M_t = M_{t-1} o (E - w^w_t e_t^T) + w^w_t v_t^T; reads r^i_t = M_t^T w^{r,i}_t.
- Temporal links: p_t = (1 - sum_i w^w_t[i]) p_{t-1} + w^w_t;
  L_t[i, j] = (1 - w^w_t[i] - w^w_t[j]) L_{t-1}[i, j] + w^w_t[i] p_{t-1}[j], L_t[i, i] = 0;
  forward f^i_t = L_t w^{r,i}_{t-1}, backward b^i_t = L_t^T w^{r,i}_{t-1}.
- Read weighting: w^{r,i}_t = pi^i_t[1] b^i_t + pi^i_t[2] c^{r,i}_t + pi^i_t[3] f^i_t, the modes
  (backward, content, forward) a softmax over 3, c^{r,i}_t = C(M_t, k^{r,i}_t, beta^{r,i}_t).

The sort in the allocation. Ties are broken by row index: a stable ascending sort puts the
lower-numbered of two equally used rows first, so an empty memory is allocated row 0, then row 1, ...
Gradients: the paper ignores the discontinuities where the sort order changes; so do we. The
permutation is treated as a constant (computed without gradient), and the gradient flows through
the usage values it gathers, the products and (1 - u) into u_t, as if the order were fixed.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

NORM_EPS = 1e-6  # cosine similarity: |x| as sqrt(x.x + eps), smooth at an all-zero key or row


class Interface(NamedTuple):
    """The interface vector xi_t split and activated (Methods, "Interface parameters")."""
    read_keys: torch.Tensor  # (B, R, W)    k^{r,i}, no activation
    read_strengths: torch.Tensor  # (B, R)  beta^{r,i} = oneplus
    write_key: torch.Tensor  # (B, W)       k^w, no activation
    write_strength: torch.Tensor  # (B,)    beta^w = oneplus
    erase: torch.Tensor  # (B, W)           e = sigmoid
    write_vector: torch.Tensor  # (B, W)    v, no activation
    free_gates: torch.Tensor  # (B, R)      f^i = sigmoid
    allocation_gate: torch.Tensor  # (B,)   g^a = sigmoid
    write_gate: torch.Tensor  # (B,)        g^w = sigmoid
    read_modes: torch.Tensor  # (B, R, 3)   pi^i = softmax over (backward, content, forward)


def interface_size(word: int, reads: int) -> int:
    """W*R + 3W + 5R + 3 (Methods)."""
    return word * reads + 3 * word + 5 * reads + 3


def oneplus(x: torch.Tensor) -> torch.Tensor:
    """oneplus(x) = 1 + log(1 + e^x), in [1, inf)."""
    return 1 + F.softplus(x)


def split_interface(xi: torch.Tensor, word: int, reads: int) -> Interface:
    """xi (B, W*R + 3W + 5R + 3) -> Interface, in the paper's order
    [k^r (RW); beta^r (R); k^w (W); beta^w (1); e (W); v (W); f (R); g^a (1); g^w (1); pi (3R)]."""
    B, W, R = xi.shape[0], word, reads
    k_r, b_r, k_w, b_w, e, v, f, g_a, g_w, pi = xi.split([R * W, R, W, 1, W, W, R, 1, 1, 3 * R], dim=1)
    return Interface(k_r.view(B, R, W), oneplus(b_r), k_w, oneplus(b_w).squeeze(1), torch.sigmoid(e), v,
                     torch.sigmoid(f), torch.sigmoid(g_a).squeeze(1), torch.sigmoid(g_w).squeeze(1),
                     torch.softmax(pi.view(B, R, 3), dim=-1))


def row_norms(memory: torch.Tensor) -> torch.Tensor:
    """|M[i]| as sqrt(M[i].M[i] + eps): memory (B, N, W) -> (B, N). Computed once per memory: M_t's
    norms serve the read lookups at step t and the write lookup at step t + 1."""
    return torch.sqrt(torch.linalg.vector_norm(memory, dim=-1).square() + NORM_EPS)


def content_weighting(memory: torch.Tensor, norms: torch.Tensor, keys: torch.Tensor,
                      strengths: torch.Tensor) -> torch.Tensor:
    """C(M, k, beta) for several keys: memory (B, N, W), its `row_norms` (B, N), keys (B, K, W),
    strengths (B, K) -> (B, K, N), softmax over the rows of beta * cos(k, M[i])."""
    k_norm = torch.sqrt((keys * keys).sum(-1, keepdim=True) + NORM_EPS)  # (B, K, 1)
    cos = torch.bmm(keys, memory.transpose(1, 2)) / (k_norm * norms.unsqueeze(1))  # (B, K, N)
    return torch.softmax(strengths.unsqueeze(-1) * cos, dim=-1)


def usage_update(usage: torch.Tensor, write_prev: torch.Tensor, read_prev: torch.Tensor,
                 free_gates: torch.Tensor) -> torch.Tensor:
    """u_t = (u_{t-1} + w^w_{t-1} - u_{t-1} o w^w_{t-1}) o psi_t, psi_t = prod_i (1 - f^i w^{r,i}_{t-1}).
    usage, write_prev (B, N); read_prev (B, R, N); free_gates (B, R) -> (B, N)."""
    kept = (1 - free_gates.unsqueeze(-1) * read_prev).unbind(1)  # R x (B, N)
    retention = kept[0]
    for k in kept[1:]:  # psi_t; not torch.prod, whose backward takes a slow path when a factor is 0
        retention = retention * k
    return (usage + write_prev - usage * write_prev) * retention


def allocation_weighting(usage: torch.Tensor) -> torch.Tensor:
    """a_t from u_t (B, N): rows in ascending order of usage (ties: lower row first), each gets
    (1 - u) times the product of the usages before it. The order carries no gradient (module doc)."""
    with torch.no_grad():
        order = torch.sort(usage, dim=-1, stable=True).indices  # (B, N), phi_t
    u = usage.gather(-1, order)  # (B, N), sorted ascending; gradient flows to `usage` here
    before = torch.cumprod(torch.cat([torch.ones_like(u[:, :1]), u[:, :-1]], dim=-1), dim=-1)  # prod_{i<j}
    return torch.zeros_like(usage).scatter(-1, order, (1 - u) * before)  # back to row order


def write_weighting(allocation: torch.Tensor, content: torch.Tensor, allocation_gate: torch.Tensor,
                    write_gate: torch.Tensor) -> torch.Tensor:
    """w^w = g^w (g^a a + (1 - g^a) c^w): allocation, content (B, N); gates (B,) -> (B, N)."""
    g_a, g_w = allocation_gate.unsqueeze(-1), write_gate.unsqueeze(-1)
    return g_w * (g_a * allocation + (1 - g_a) * content)


def write_memory(memory: torch.Tensor, w: torch.Tensor, erase: torch.Tensor, vector: torch.Tensor) -> torch.Tensor:
    """M_t = M_{t-1} o (E - w e^T) + w v^T: memory (B, N, W), w (B, N), erase, vector (B, W)."""
    # = M + w (v - M o e): three passes over (B, N, W) instead of five
    return torch.addcmul(memory, w.unsqueeze(-1), vector.unsqueeze(1) - memory * erase.unsqueeze(1))


def precedence_update(precedence: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """p_t = (1 - sum_i w^w_t[i]) p_{t-1} + w^w_t: (B, N)."""
    return (1 - w.sum(-1, keepdim=True)) * precedence + w


def link_update(link: torch.Tensor, precedence_prev: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """L_t[i,j] = (1 - w[i] - w[j]) L_{t-1}[i,j] + w[i] p_{t-1}[j], zero diagonal. link (B, N, N);
    precedence_prev = p_{t-1} and w = w^w_t, (B, N) -> (B, N, N). The readable path (`LinkStep` in
    `dnc_native.py` is the fast one)."""
    N = link.shape[-1]
    scale = 1 - w.unsqueeze(2) - w.unsqueeze(1)  # (B, N, N)
    new = scale * link + w.unsqueeze(2) * precedence_prev.unsqueeze(1)
    off_diagonal = 1 - torch.eye(N, dtype=link.dtype, device=link.device)
    return new * off_diagonal


def directional_weightings(link: torch.Tensor, read_prev: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """f^i = L_t w^{r,i}_{t-1}, b^i = L_t^T w^{r,i}_{t-1}: link (B, N, N), read_prev (B, R, N) ->
    (forward, backward), each (B, R, N)."""
    forward = torch.bmm(read_prev, link.transpose(1, 2))  # f[r, i] = sum_j L[i, j] w[r, j]
    backward = torch.bmm(read_prev, link)  # b[r, j] = sum_i w[r, i] L[i, j]
    return forward, backward


def read_weighting(backward: torch.Tensor, content: torch.Tensor, forward: torch.Tensor,
                   modes: torch.Tensor) -> torch.Tensor:
    """w^r = pi[1] b + pi[2] c + pi[3] f: each (B, R, N), modes (B, R, 3) -> (B, R, N)."""
    return modes[..., 0:1] * backward + modes[..., 1:2] * content + modes[..., 2:3] * forward

"""Optimisers and gradient clipping for the training loop (TrainConfig.optimizer, .clip)."""
from __future__ import annotations

import math

import torch

from ntm_bench.config import TrainConfig


class GravesRMSprop(torch.optim.Optimizer):
    """RMSProp in the form of Graves 2013 (eq. 38-40), as used by Graves 2014 §4.6:
    n = rho n + (1-rho) g^2;  g_ = rho g_ + (1-rho) g;  D = mom D - lr g / sqrt(n - g_^2 + eps);  w += D."""

    def __init__(self, params, lr, rho=0.95, momentum=0.9, eps=1e-4):
        super().__init__(params, dict(lr=lr, rho=rho, momentum=momentum, eps=eps))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            lr, rho, mom, eps = group["lr"], group["rho"], group["momentum"], group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                if not st:
                    st["n"] = torch.zeros_like(p)
                    st["g"] = torch.zeros_like(p)
                    st["d"] = torch.zeros_like(p)
                g = p.grad
                st["n"].mul_(rho).addcmul_(g, g, value=1 - rho)
                st["g"].mul_(rho).add_(g, alpha=1 - rho)
                denom = (st["n"] - st["g"] * st["g"] + eps).sqrt_()
                st["d"].mul_(mom).addcdiv_(g, denom, value=-lr)
                p.add_(st["d"])


def make_optimizer(params, t: TrainConfig):
    if t.optimizer == "adam":
        return torch.optim.Adam(params, lr=t.lr)
    if t.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=t.lr, alpha=t.rms_decay, momentum=t.momentum)
    return GravesRMSprop(params, lr=t.lr, rho=t.rms_decay, momentum=t.momentum, eps=t.rms_eps)


def clip_gradients(params, t: TrainConfig) -> float:
    """Clip in place; return the global gradient norm before clipping (inf/NaN if any grad is)."""
    if t.clip == "norm":
        return float(torch.nn.utils.clip_grad_norm_(params, t.clip_value))
    norm = float(torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None]))
    if t.clip == "value":
        torch.nn.utils.clip_grad_value_(params, t.clip_value)
    return norm


def lr_factor(t: TrainConfig, step: int) -> float:
    """The learning rate at `step` (0-based, the update about to be made) as a fraction of t.lr."""
    f = min(1.0, (step + 1) / t.warmup_steps) if t.warmup_steps else 1.0
    if t.lr_schedule == "cosine":
        span = t.lr_decay_steps or t.steps
        f *= t.lr_final + (1 - t.lr_final) * 0.5 * (1 + math.cos(math.pi * min(step / span, 1.0)))
    return f

"""Every registered model on a CUDA device, where there is one (skipped elsewhere): in float64 its
logits and its parameters' gradients on the GPU equal those on the CPU (same weights, same batch),
and a training step's loss is finite. The NTM's own CUDA checks are in test_ntm_cuda.py."""
import copy

import pytest
import torch

from ntm_bench.metrics import call_model, output_kind
from ntm_bench.registry import get_model, get_task, model_names

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
TASKS = ("copy", "parity_check")  # a bit task and a categorical one


def _tiny(model: str, task: str) -> dict:
    presets = get_model(model).presets.get("tiny", {})
    return dict((presets.get(task) or presets.get("*") or {}).get("options", {}))


@pytest.mark.parametrize("task_name", TASKS)
@pytest.mark.parametrize("name", [m for m in model_names() if not get_model(m).reference])
def test_on_cuda_logits_and_gradients_equal_the_cpu(name, task_name):
    entry = get_model(name)
    if entry.tasks is not None and task_name not in entry.tasks:
        pytest.skip(f"{name} does not run {task_name}")
    task = get_task(task_name).cls()
    gen = torch.Generator().manual_seed(0)
    lo, hi = next(iter(task.default_train.values()))
    batch = task.sample(3, [lo, (lo + hi) // 2, hi], gen)
    torch.manual_seed(0)
    cpu = entry.build(task.input_size, task.output_size, _tiny(name, task_name)).double()
    gpu = copy.deepcopy(cpu).cuda()
    kind = output_kind(task)
    results = []
    for model, dev in ((cpu, "cpu"), (gpu, "cuda")):
        b = [t.to(dev) for t in batch]
        x = b[0].double()
        logits = call_model(model, x, b[3])
        loss = kind.loss(logits, b[1].double(), b[2]).mean()
        assert torch.isfinite(loss)
        model.zero_grad()
        loss.backward()
        results.append((logits.detach().cpu(), [p.grad.detach().cpu() if p.grad is not None else None
                                                 for p in model.parameters()]))
    (l_cpu, g_cpu), (l_gpu, g_gpu) = results
    assert torch.allclose(l_cpu, l_gpu, rtol=1e-6, atol=1e-8)
    for a, b in zip(g_cpu, g_gpu):
        assert (a is None) == (b is None)
        if a is not None:
            assert torch.allclose(a, b, rtol=1e-5, atol=1e-8)

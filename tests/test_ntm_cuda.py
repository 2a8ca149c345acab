"""The NTM's paths on a CUDA device, where there is one (skipped elsewhere): the readable and the
python path against the literal equations, and the native backend refused with one clear line."""
import pytest
import torch

from ntm_bench.errors import BenchError
from ntm_bench.ntm import NTM, NTMConfig
from ntm_reference import reference_forward

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
SMALL = dict(memory_rows=10, memory_width=5, controller_size=7)
CASES = {"default": {}, "lstm_2_layers_2_read_3_write": dict(controller_layers=2, read_heads=2, write_heads=3),
         "feedforward_wide_shifts": dict(controller="feedforward", read_heads=2, write_heads=2, shifts=(-2, 0, 1, 3))}


def _outputs_and_grads(model, fn, x):
    model.zero_grad()
    x = x.clone().requires_grad_()
    y = fn(x)
    (y * torch.linspace(-1, 1, y.numel(), dtype=y.dtype, device=y.device).view_as(y)).sum().backward()
    return [y.detach()] + [p.grad.clone() for p in model.parameters()] + [x.grad]


@pytest.mark.parametrize("backend", ["auto", "python", "plain"])
@pytest.mark.parametrize("case", list(CASES))
def test_on_cuda_every_path_equals_the_literal_equations(case, backend):
    torch.manual_seed(0)
    model = NTM(4, 3, NTMConfig(**SMALL, **CASES[case]), backend=backend).double().cuda()
    with torch.no_grad():
        model.heads.proj.weight.mul_(4)
    x = torch.randn(3, 9, 4, dtype=torch.float64, device="cuda")
    got = _outputs_and_grads(model, model, x)
    assert model.code_path == ("plain" if backend == "plain" else "python")  # no kernels on CUDA
    for a, b in zip(got, _outputs_and_grads(model, lambda x: reference_forward(model, x), x)):
        assert torch.allclose(a, b, rtol=1e-7, atol=1e-9)
    with torch.no_grad():
        assert torch.allclose(model(x), got[0], rtol=0, atol=1e-12)


def test_on_cuda_the_native_backend_is_one_clear_error():
    model = NTM(4, 3, NTMConfig(**SMALL), backend="native").cuda()
    with pytest.raises(BenchError, match="backend 'native'.*CPU"):
        model(torch.zeros(2, 3, 4, device="cuda"))

"""The Stack-RNN baseline (Joulin & Mikolov 2015, as Delétang et al. 2023 use it): the stack update
worked out by hand on a tiny stack, push-then-pop order, and the controller's wiring."""
from __future__ import annotations

import pytest
import torch

from baselines.stack_rnn import NO_OP, POP, PUSH, StackRNN, StackRNNConfig, update_stack
from ntm_bench.errors import BenchError
from ntm_bench.registry import get_model

torch.set_num_threads(1)


def tiny_stack() -> torch.Tensor:
    """One stack of 3 elements of size 2, top first: [1, 2] on [3, 4] on [5, 6]."""
    return torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]])  # (1, 3, 2)


def action(push: float, pop: float, no_op: float) -> torch.Tensor:
    a = torch.zeros(1, 3)
    a[0, PUSH], a[0, POP], a[0, NO_OP] = push, pop, no_op
    return a


V = torch.tensor([[7.0, 8.0]])  # the value a push puts on top


@pytest.mark.parametrize("actions,expected", [
    ((1, 0, 0), [[7, 8], [1, 2], [3, 4]]),  # push: v on top, the bottom [5, 6] falls off
    ((0, 1, 0), [[3, 4], [5, 6], [0, 0]]),  # pop: everything up one, zeros in at the bottom
    ((0, 0, 1), [[1, 2], [3, 4], [5, 6]]),  # no-op: unchanged
    # 0.5 push + 0.25 pop + 0.25 no-op, by hand:
    #   top    0.5 [7, 8] + 0.25 [3, 4] + 0.25 [1, 2] = [4.5, 5.5]
    #   middle 0.5 [1, 2] + 0.25 [5, 6] + 0.25 [3, 4] = [2.5, 3.5]
    #   bottom 0.5 [3, 4] + 0.25 [0, 0] + 0.25 [5, 6] = [2.75, 3.5]
    ((0.5, 0.25, 0.25), [[4.5, 5.5], [2.5, 3.5], [2.75, 3.5]]),
    #   top    0.2 [7, 8] + 0.8 [1, 2] = [2.2, 3.2]; middle 0.2 [1, 2] + 0.8 [3, 4] = [2.6, 3.6];
    #   bottom 0.2 [3, 4] + 0.8 [5, 6] = [4.6, 5.6]
    ((0.2, 0.0, 0.8), [[2.2, 3.2], [2.6, 3.6], [4.6, 5.6]]),
])
def test_stack_update_is_the_convex_combination_of_push_pop_and_no_op(actions, expected):
    new = update_stack(tiny_stack(), action(*actions), V)
    torch.testing.assert_close(new, torch.tensor([expected], dtype=torch.float32))


def test_pure_pushes_then_pure_pops_return_the_pushed_vectors_in_reverse_order():
    stack = torch.zeros(1, 4, 3)
    pushed = [torch.tensor([[1.0, -1.0, 0.5]]), torch.tensor([[2.0, 0.0, -2.0]]), torch.tensor([[0.3, 3.0, 3.0]])]
    for v in pushed:
        stack = update_stack(stack, action(1, 0, 0), v)
    popped = []
    for _ in pushed:
        popped.append(stack[:, 0].clone())  # read the top, then pop it
        stack = update_stack(stack, action(0, 1, 0), torch.full((1, 3), 99.0))  # a pop ignores the value
    for got, want in zip(popped, reversed(pushed)):
        torch.testing.assert_close(got, want)
    assert torch.equal(stack, torch.zeros(1, 4, 3))  # empty again


def test_each_sample_of_a_batch_takes_its_own_actions():
    stack = tiny_stack().expand(2, 3, 2)
    new = update_stack(stack, torch.cat([action(1, 0, 0), action(0, 1, 0)]), V.expand(2, 2))
    assert new[0].tolist() == [[7, 8], [1, 2], [3, 4]]
    assert new[1].tolist() == [[3, 4], [5, 6], [0, 0]]


def model(**options) -> StackRNN:
    torch.manual_seed(0)
    return get_model("stack_rnn").build(3, 2, {"hidden_size": 8, "stack_size": 5, "element_size": 3, **options}).eval()


def force(m: StackRNN, which: int) -> None:
    """Make the controller choose `which` with probability 1 (to float precision) at every step."""
    with torch.no_grad():
        m.actions.weight.zero_()
        m.actions.bias.fill_(-60.0)
        m.actions.bias[which] = 60.0


def test_the_model_pushes_its_values_and_pops_them_back_in_reverse_order():
    m = model()
    x = torch.randn(1, 3, 3, generator=torch.Generator().manual_seed(1))
    x_in = m.input(x)
    with torch.no_grad():
        force(m, PUSH)
        state = m.initial_state(x)
        values = []
        for t in range(3):
            h, state = m.step(x_in[:, t], state)
            values.append(m.push_value(h))  # D h_t: what this step pushed
        torch.testing.assert_close(state.stack[0, :3], torch.cat(values[::-1]))  # last pushed on top
        assert torch.equal(state.stack[0, 3:], torch.zeros(2, 3))
        force(m, POP)
        tops = []
        for t in range(3):
            tops.append(state.stack[:, 0])
            _, state = m.step(x_in[:, t], state)
        torch.testing.assert_close(torch.cat(tops), torch.cat(values[::-1]))
        assert torch.equal(state.stack, torch.zeros_like(state.stack))


def test_the_controller_reads_the_top_of_the_stack_and_nothing_else_of_it():
    m = model()
    x = torch.randn(2, 6, 3, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        y = m(x)
        m.read.weight.zero_()  # cut the stack out of the controller
        blind = m(x)
    assert not torch.allclose(y[:, 1:], blind[:, 1:])  # from step 2 on the stack's top matters
    torch.testing.assert_close(y[:, 0], blind[:, 0])  # at step 1 the stack is still empty
    m = model()
    state = m.initial_state(x)
    deep = state._replace(stack=state.stack.clone())
    deep.stack[:, 1:] = 5.0  # change everything below the top
    with torch.no_grad():
        h, _ = m.step(m.input(x[:, 0]), state)
        h_deep, _ = m.step(m.input(x[:, 0]), deep)
    torch.testing.assert_close(h, h_deep)


def test_output_at_a_step_does_not_see_the_later_steps():
    m = model()
    x = torch.randn(2, 10, 3, generator=torch.Generator().manual_seed(3))
    x2 = x.clone()
    x2[:, 6:] = 0.0
    with torch.no_grad():
        torch.testing.assert_close(m(x)[:, :6], m(x2)[:, :6])


def test_defaults_and_parameter_count():
    cfg = StackRNNConfig()
    assert (cfg.hidden_size, cfg.stack_size, cfg.element_size) == (256, 30, 8)
    m = StackRNN(10, 9)
    H, M = 256, 8
    expected = (10 * H + H) + H * H + M * H + (H * 3 + 3) + (H * M + M) + (H * 9 + 9)
    assert sum(p.numel() for p in m.parameters()) == expected


@pytest.mark.parametrize("option", ["hidden_size", "stack_size", "element_size"])
def test_sizes_below_one_are_one_clear_error(option):
    with pytest.raises(BenchError, match=f"stack_rnn option '{option}' must be at least 1"):
        get_model("stack_rnn").build(3, 2, {option: 0})


def test_stack_rnn_is_in_the_smoke_suite_and_not_in_quick():
    from ntm_bench.suite import load_suite

    assert "stack_rnn" in load_suite("smoke").models
    assert "stack_rnn" not in load_suite("quick").models

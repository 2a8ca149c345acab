"""The 15 tasks of the Chomsky-hierarchy benchmark (Delétang et al. 2023), registered on import:
regular (even_pairs, modular_arithmetic, parity_check, cycle_navigation), deterministic
context-free (stack_manipulation, reverse_string, modular_arithmetic_brackets, solve_equation) and
context-sensitive (duplicate_string, missing_duplicate_string, odds_first, binary_addition,
binary_multiplication, compute_sqrt, bucket_sort). Their outputs are symbols (output_kind
"categorical"); one file per task, tasks/chomsky/base.py has the layout they share."""
from tasks.chomsky import (  # noqa: F401 (registers)
    binary_addition,
    binary_multiplication,
    bucket_sort,
    compute_sqrt,
    cycle_navigation,
    duplicate_string,
    even_pairs,
    missing_duplicate_string,
    modular_arithmetic,
    modular_arithmetic_brackets,
    odds_first,
    parity_check,
    reverse_string,
    solve_equation,
    stack_manipulation,
)

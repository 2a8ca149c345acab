"""The 15 tasks of the Chomsky-hierarchy benchmark (Delétang et al. 2023), registered on import:
regular (even_pairs, modular_arithmetic, parity_check, cycle_navigation), deterministic
context-free (stack_manipulation, reverse_string, modular_arithmetic_brackets, solve_equation) and
context-sensitive (duplicate_string, missing_duplicate_string, odds_first, binary_addition,
binary_multiplication, compute_sqrt, bucket_sort). Their outputs are symbols (output_kind
"categorical"); tasks/chomsky/base.py has the layout they share."""
from tasks.chomsky import binary, context_free, context_sensitive, regular  # noqa: F401 (registers)

"""The config hashes of a built-in suite's runs (seed 0 of one task and model) under command-line
overrides: how the tests of a train field added after records existed check that its default leaves
run ids unchanged and that another value changes them."""
from ntm_bench.suite import load_suite


def config_hashes(*overrides, suite="quick", task="copy", model="ntm"):
    return [r.config_hash() for r in load_suite(suite, list(overrides), tasks=[task], models=[model], seeds=[0]).runs()]

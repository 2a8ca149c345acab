"""The algorithmic tasks of Graves et al. 2014 (§4) and the Chomsky-hierarchy tasks of Delétang et
al. 2023 (tasks/chomsky/); importing this package registers them (and the optimal N-gram predictor,
a reference model that lives beside its task)."""
from tasks import associative_recall, copy, dynamic_ngrams, priority_sort, repeat_copy  # noqa: F401 (registers)
from tasks import chomsky  # noqa: F401 (registers)

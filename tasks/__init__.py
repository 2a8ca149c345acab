"""The algorithmic tasks of Graves et al. 2014."""

"""Targets: linear functionals with named memories, random nonlinear teachers, datasets.

- :class:`LinearFunctional` -- ``y_k = dt sum_j rho(j dt) x_{k-j}`` (paper eq 5), with
  :meth:`LinearFunctional.named` for the kernels in :data:`NAMED_MEMORIES` (paper
  Appendix D and the official code).
- :class:`RandomRNNTeacher`, :class:`RandomTransformerTeacher` -- seeded causal
  nonlinear teachers (the filtering experiment, paper Fig 3 and Appendix I).
- :func:`make_dataset` -> :class:`SequenceDataset` -- seeded inputs, outputs, splits.
"""

from curse_of_memory.targets.dataset import INPUT_KINDS, SequenceDataset, make_dataset
from curse_of_memory.targets.linear import LinearFunctional, causal_convolution
from curse_of_memory.targets.named import NAMED_MEMORIES, NamedMemory, build_named_memory
from curse_of_memory.targets.teachers import RNN_CELLS, RandomRNNTeacher, RandomTransformerTeacher

__all__ = [
    "INPUT_KINDS",
    "NAMED_MEMORIES",
    "RNN_CELLS",
    "LinearFunctional",
    "NamedMemory",
    "RandomRNNTeacher",
    "RandomTransformerTeacher",
    "SequenceDataset",
    "build_named_memory",
    "causal_convolution",
    "make_dataset",
]

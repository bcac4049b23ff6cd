"""Memory functions M(H)(t) of causal sequence-to-sequence maps (paper Definition 3.1).

See :func:`memory_function` for the test inputs and the estimator of the supremum.
"""

from curse_of_memory.analysis.memory._function import KINDS, NORMALIZATIONS, memory_function
from curse_of_memory.analysis.memory._result import MemoryFunction
from curse_of_memory.analysis.memory._search import default_amplitudes

__all__ = ["KINDS", "NORMALIZATIONS", "MemoryFunction", "default_amplitudes", "memory_function"]

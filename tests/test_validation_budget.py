"""The memory budget check: refuse before allocating, with the size and the limit."""

from __future__ import annotations

import pytest

from curse_of_memory._validation import (
    MEMORY_LIMIT_VARIABLE,
    MemoryBudgetError,
    check_memory_budget,
    memory_budget,
)


def test_budget_defaults_to_most_of_physical_memory(monkeypatch):
    import os

    monkeypatch.delenv(MEMORY_LIMIT_VARIABLE, raising=False)
    physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert memory_budget() == int(0.8 * physical)


def test_over_budget_names_size_limit_and_override(monkeypatch):
    monkeypatch.setenv(MEMORY_LIMIT_VARIABLE, str(2**30))
    check_memory_budget(2**29, "small call")
    with pytest.raises(MemoryBudgetError, match=r"big call would need about 2\.0 GiB.*1\.0 GiB"):
        check_memory_budget(2**31, "big call")
    with pytest.raises(MemoryBudgetError, match=MEMORY_LIMIT_VARIABLE):
        check_memory_budget(2**31, "big call")
    check_memory_budget(2**31, "big call", limit=2**32)


@pytest.mark.parametrize("value", ["lots", "-5", "0"])
def test_bad_override_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv(MEMORY_LIMIT_VARIABLE, value)
    with pytest.raises(ValueError, match=MEMORY_LIMIT_VARIABLE):
        memory_budget()

"""Plain-language verdicts on memory decay fits, in the terms of Theorem 3.9."""

from __future__ import annotations

from collections.abc import Mapping


def verdict_words(fit, note: str = "") -> str:
    """What a ``DecayFit`` means for stable approximation by RNNs, in one sentence or two.

    ``note`` is added right after the description of the memory (e.g. which inputs agree).
    """
    if fit.law == "exponential":
        return (
            f"short (exponentially decaying) memory, rate {fit.rate:.3g}{note}. "
            "Theorem 3.9 does not rule out a stable RNN approximation."
        )
    if fit.law == "polynomial":
        return (
            f"LONG (polynomial, t^-{fit.exponent:.3g}) memory{note}. By the inverse approximation "
            "theorem (Thm 3.9) no tanh/hardtanh RNN approximates it stably: the curse of "
            "memory. A stable reparameterization (exp, softplus, inverse) lifts it."
        )
    detail = f" ({fit.reason})" if getattr(fit, "reason", "") else ""
    if fit.law == "non-decaying":
        return (
            f"NON-DECAYING memory on this window{note}{detail}. Theorem 3.9 needs "
            "exponentially decaying memory, so no tanh/hardtanh RNN approximates it stably."
        )
    if fit.law == "other":
        return (
            f"decaying memory that fits neither an exponential nor a power law{note}{detail}. "
            "If it decays more slowly than every exponential (e.g. "
            "e^-sqrt(t)), Theorem 3.9 rules out a stable tanh/hardtanh RNN approximation."
        )
    return f"decay law undetermined{detail}{note}."


def overall_verdict(fits: Mapping[str, object]) -> str:
    """One verdict for the fits of several test inputs (kind -> ``DecayFit``)."""
    determined = {kind: fit for kind, fit in fits.items() if fit.law != "undetermined"}
    if not determined:
        return verdict_words(next(iter(fits.values())))
    laws = {fit.law for fit in determined.values()}
    if len(laws) > 1:
        found = ", ".join(f"{kind}: {fit.law}" for kind, fit in determined.items())
        return (
            f"the test inputs disagree ({found}); the memory is not clearly short or long "
            "at this length: try a longer --length"
        )
    agree = f" ({', '.join(determined)} inputs agree)" if len(determined) > 1 else ""
    return verdict_words(next(iter(determined.values())), agree)

"""Finite-difference gradient checking for hand-written backward passes.

Usage, for a loss L(params) with analytic gradients from a backward pass::

    report = check_gradients(lambda: loss(params), params, grads)
    print(report)          # one row per parameter
    report.assert_ok(1e-6) # raises AssertionError with the table if any row fails

The checker perturbs entries of ``params`` in place (and restores them), so ``loss_fn`` must read
the current values of the arrays in ``params`` each time it is called. Everything must be float64:
central differences in float32 measure rounding noise, not the gradient.

Relative error of one parameter = max_i |a_i - n_i| / max(max_i (|a_i| + |n_i|), 1e-8), over the
checked entries i (a = analytic, n = numerical). It is scale-free, and the 1e-8 floor keeps an
all-zero gradient from dividing by zero (then the row reports the absolute error).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

__all__ = ["GradRow", "GradCheckReport", "numerical_gradient", "relative_error", "check_gradients"]


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """max|a - n| / max(max(|a| + |n|), 1e-8) over all entries; a, n: same shape."""
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    if a.shape != n.shape:
        raise ValueError(f"analytic {a.shape} and numeric {n.shape} gradients differ in shape")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - n)) / max(float(np.max(np.abs(a) + np.abs(n))), 1e-8))


def numerical_gradient(loss_fn: Callable[[], float], x: np.ndarray, indices=None,
                       eps: float = 1e-6) -> np.ndarray:
    """Central differences (L(x + eps e_i) - L(x - eps e_i)) / 2 eps at flat ``indices`` of x.

    x: float64 array, perturbed in place and restored. indices: (M,) flat indices (default all).
    Returns (M,) float64.
    """
    if x.dtype != np.float64:
        raise TypeError(f"gradient checks need float64 parameters, got {x.dtype}")
    idx = np.arange(x.size) if indices is None else np.asarray(indices)
    out = np.empty(idx.size)
    for k, i in enumerate(idx):
        pos = np.unravel_index(int(i), x.shape)  # works for 0-d arrays and non-contiguous views
        old = x[pos]
        x[pos] = old + eps
        plus = float(loss_fn())
        x[pos] = old - eps
        minus = float(loss_fn())
        x[pos] = old
        out[k] = (plus - minus) / (2.0 * eps)
    return out


@dataclass
class GradRow:
    name: str
    shape: tuple
    checked: int
    max_abs_error: float
    rel_error: float


@dataclass
class GradCheckReport:
    rows: list[GradRow] = field(default_factory=list)

    @property
    def max_rel_error(self) -> float:
        return max((r.rel_error for r in self.rows), default=0.0)

    def ok(self, tol: float = 1e-6) -> bool:
        return all(r.rel_error <= tol for r in self.rows)

    def table(self, tol: float = 1e-6) -> str:
        head = f"{'parameter':<24} {'shape':<16} {'checked':>7} {'max|a-n|':>10} {'rel.err':>10}  ok"
        lines = [head, "-" * len(head)]
        for r in self.rows:
            lines.append(f"{r.name:<24} {str(r.shape):<16} {r.checked:>7} {r.max_abs_error:>10.2e} "
                         f"{r.rel_error:>10.2e}  {'yes' if r.rel_error <= tol else 'NO'}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def assert_ok(self, tol: float = 1e-6) -> None:
        if not self.ok(tol):
            raise AssertionError(f"gradient check failed (tolerance {tol:g}):\n{self.table(tol)}")


def check_gradients(loss_fn: Callable[[], float], params: Mapping[str, np.ndarray],
                    grads: Mapping[str, np.ndarray], *, eps: float = 1e-6, max_entries: int = 100,
                    rng: np.random.Generator | None = None, names=None) -> GradCheckReport:
    """Compare analytic ``grads`` with central differences of ``loss_fn`` for each named parameter.

    params: name -> float64 array read by loss_fn. grads: name -> analytic dL/dparam, same shape.
    max_entries: tensors with more entries are checked on a random subset of this size (drawn
        from ``rng``, default a fixed Generator(0)), so big layers stay cheap.
    names: subset of parameter names to check (default: every parameter in ``params``). A
        parameter with no analytic gradient fails loudly (KeyError), and so does a gradient for
        a parameter that does not exist: a backward that forgets a parameter cannot pass.
    """
    if max_entries < 1:
        raise ValueError(f"max_entries must be >= 1, got {max_entries}")
    if eps <= 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    rng = np.random.default_rng(0) if rng is None else rng
    report = GradCheckReport()
    unknown = sorted(set(grads) - set(params))
    if unknown:
        raise KeyError(f"gradients given for {unknown} but there are no such parameters")
    if names is None:
        missing = sorted(set(params) - set(grads))
        if missing:
            raise KeyError(f"no analytic gradient for parameters {missing}")
    for name in (list(params) if names is None else list(names)):
        if name not in params:
            raise KeyError(f"gradient given for {name!r} but there is no such parameter")
        if name not in grads:
            raise KeyError(f"no analytic gradient for parameter {name!r}")
        x, g = params[name], np.asarray(grads[name])
        if g.shape != x.shape:
            raise ValueError(f"gradient of {name!r} has shape {g.shape}, parameter has {x.shape}")
        if x.size > max_entries:
            idx = rng.choice(x.size, size=max_entries, replace=False)
        else:
            idx = np.arange(x.size)
        num = numerical_gradient(loss_fn, x, idx, eps)
        ana = g.reshape(-1)[idx].astype(np.float64)
        report.rows.append(GradRow(name, tuple(x.shape), idx.size,
                                   float(np.max(np.abs(ana - num))) if idx.size else 0.0,
                                   relative_error(ana, num)))
    return report

"""The RNN-EM model of ``model.py`` written the way a PyTorch user would: ``nn.Linear`` layers,
standard torch ops and autograd instead of a hand-written BPTT, ``torch.optim.Adam`` and
``clip_grad_norm_`` for the update.

It exists only for the side-by-side speed comparison (``bench.py --compare torch``) and its
test (tests/test_twin_neural_em.py), which checks that loss, every gradient, one Adam update and
the evaluation pass equal the NumPy model's in float64. torch is the optional extra ``[compare]``,
never a runtime dependency of the package: nothing else imports this module.

Same notation as ``model.py``: x (B, D) clean binary image, x_noisy (T, B, D) noisy inputs, K
slots, gamma (B, K, D) soft assignments, o (B, K, D) output logits, psi = sigmoid(o), H hidden
units. One EM step:

    u = gamma_{t-1} * (psi_{t-1} - x_noisy_t)
    h = sigmoid(u W_in + h_{t-1} W_rec + b_h),   o = h W_out + b_out
    gamma_t = softmax_K(-softplus(s o)),  s = 1 - 2x                               (eq. 5.4)
    L_t = sum gamma_t softplus(s o) + inter_weight (1 - gamma_t) softplus(o), / B (eq. 5.6)

Parameter mapping (nn.Linear stores its weight as (out, in), the transpose of the NumPy (in, out)):
W_in -> inp.weight^T, b_h -> inp.bias, W_rec -> rec.weight^T (no bias), W_out -> out.weight^T,
b_out -> out.bias. The cell's single bias b_h lives in ``inp``, so ``rec`` has none.

One difference from the NumPy model, far below float32 round-off: ``F.softplus`` returns its
input unchanged above its threshold 20 (absolute error < 2.1e-9 there, derivative 1 instead of
sigmoid(a)). Logits beyond 20 do not occur in the float64 tests.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from neural_em_shapes.model import loss_weights

__all__ = ["RNNEMTwin", "build", "params_numpy", "grads_numpy", "loss_and_grads", "make_update",
           "make_eval"]

# NumPy parameter name -> (torch parameter path, stored transposed by nn.Linear)
_NAMES = {"W_in": ("inp.weight", True), "W_rec": ("rec.weight", True), "b_h": ("inp.bias", False),
          "W_out": ("out.weight", True), "b_out": ("out.bias", False)}

# The config fields that define the model and its loss: a twin serves only configs agreeing on them.
_MODEL_FIELDS = ("model", "hidden", "iterations", "loss_iterations", "gamma_grad", "inter_weight")


class RNNEMTwin(nn.Module):
    """RNN-EM unrolled over cfg.iterations EM steps; ``forward`` returns the weighted total loss.

    cfg: a NEMConfig with model "rnn-em" (uses hidden, iterations, loss_iterations, gamma_grad,
    inter_weight); D: pixels per image. Parameters start at nn.Linear's own initialisation;
    ``build`` copies NumPy parameters in.
    """

    def __init__(self, cfg, D: int, *, dtype: torch.dtype = torch.float32):
        super().__init__()
        if cfg.model != "rnn-em":
            raise NotImplementedError(f"the torch twin implements the rnn-em cell only, not {cfg.model!r}")
        self.cfg = cfg
        H = cfg.hidden
        self.inp = nn.Linear(D, H, dtype=dtype)               # W_in and the cell's bias b_h
        self.rec = nn.Linear(H, H, bias=False, dtype=dtype)   # W_rec
        self.out = nn.Linear(H, D, dtype=dtype)               # W_out, b_out
        self.weights = tuple(float(w) for w in loss_weights(cfg))

    def em(self, x: torch.Tensor, x_noisy: torch.Tensor, gamma0: torch.Tensor
           ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the T EM steps. x: (B, D), x_noisy: (T, B, D), gamma0: (B, K, D).

        Returns (total loss (), last gamma (B, K, D)). The loss is sum_t w_t L_t with the
        weights of ``model.loss_weights(cfg)``; steps of weight 0 skip their loss. With
        cfg.gamma_grad False every gamma is detached, so it is a constant both in the loss and
        in the next step's input, as in the NumPy backward.
        """
        if x_noisy.shape[0] != len(self.weights):
            raise ValueError(f"x_noisy holds {x_noisy.shape[0]} iterations, the twin was built "
                             f"for {len(self.weights)}")
        B, K, D = gamma0.shape
        s = (1 - 2 * x).unsqueeze(1)                          # (B, 1, D)
        h = gamma0.new_zeros(B, K, self.rec.in_features)
        psi = torch.zeros_like(gamma0)
        gamma = gamma0
        total = gamma0.new_zeros(())
        for w, xn in zip(self.weights, x_noisy):
            u = gamma * (psi - xn.unsqueeze(1))
            h = torch.sigmoid(self.inp(u) + self.rec(h))
            o = self.out(h)
            psi = torch.sigmoid(o)
            bce = F.softplus(s * o)                           # -log p(x | psi)
            gamma = torch.softmax(-bce, dim=1)
            if not self.cfg.gamma_grad:
                gamma = gamma.detach()
            if w:
                kl = F.softplus(o)                            # -log(1 - psi)
                loss = ((gamma * bce).sum() + self.cfg.inter_weight * ((1 - gamma) * kl).sum()) / B
                total = total + w * loss
        return total, gamma

    def forward(self, x: torch.Tensor, x_noisy: torch.Tensor, gamma0: torch.Tensor) -> torch.Tensor:
        """Total loss () of ``em``: the NumPy ``unrolled_forward``'s first return value."""
        return self.em(x, x_noisy, gamma0)[0]


def build(cfg, params: dict[str, np.ndarray], dtype: torch.dtype = torch.float32) -> RNNEMTwin:
    """A twin holding exactly the NumPy rnn-em ``params`` (``model.init_params`` layout), in dtype."""
    model = RNNEMTwin(cfg, params["W_in"].shape[0], dtype=dtype)
    with torch.no_grad():
        for name, (path, transposed) in _NAMES.items():
            p = model.get_parameter(path)
            value = torch.from_numpy(np.asarray(params[name]))
            value = value.T if transposed else value
            if value.shape != p.shape:
                raise ValueError(f"{name} has shape {tuple(params[name].shape)}, the twin for "
                                 f"hidden={cfg.hidden} needs {tuple(p.T.shape if transposed else p.shape)}")
            p.copy_(value)
    return model


def _to_numpy(model: RNNEMTwin, attr: str) -> dict[str, np.ndarray]:
    """``attr`` ("data" or "grad") of every parameter, as NumPy arrays (copies) in the NumPy layout."""
    out = {}
    for name, (path, transposed) in _NAMES.items():
        t = getattr(model.get_parameter(path), attr)
        out[name] = (t.T if transposed else t).detach().numpy().copy()
    return out


def params_numpy(model: RNNEMTwin) -> dict[str, np.ndarray]:
    """The twin's parameters under the NumPy names and shapes: W_in (D, H), W_rec (H, H),
    b_h (H,), W_out (H, D), b_out (D,)."""
    return _to_numpy(model, "data")


def grads_numpy(model: RNNEMTwin) -> dict[str, np.ndarray]:
    """The twin's ``.grad`` under the NumPy names and shapes (as ``params_numpy``)."""
    return _to_numpy(model, "grad")


def _check_cfg(model: RNNEMTwin, cfg) -> None:
    differ = [f for f in _MODEL_FIELDS if getattr(cfg, f) != getattr(model.cfg, f)]
    if differ:
        raise ValueError(f"the twin was built for another config: {', '.join(differ)} differ")


def _tensors(model: RNNEMTwin, *arrays: np.ndarray) -> list[torch.Tensor]:
    """NumPy inputs as tensors of the model's dtype: zero-copy when the dtype already matches
    (a read-only array, e.g. from np.broadcast_to, is copied: torch cannot wrap it safely)."""
    dtype = model.out.weight.dtype
    return [torch.from_numpy(a if a.flags.writeable else a.copy()).to(dtype) for a in arrays]


def loss_and_grads(model: RNNEMTwin, cfg, x: np.ndarray, x_noisy: np.ndarray, gamma0: np.ndarray
                   ) -> tuple[float, dict[str, np.ndarray]]:
    """Loss and gradients of one batch, like ``model.loss_and_grads`` (without its trace).

    x: (B, D), x_noisy: (T, B, D), gamma0: (B, K, D). Returns (loss, grads_numpy(model)).
    """
    _check_cfg(model, cfg)
    model.zero_grad(set_to_none=True)
    loss = model(*_tensors(model, x, x_noisy, gamma0))
    loss.backward()
    return loss.item(), grads_numpy(model)


def make_update(cfg, model: RNNEMTwin) -> Callable[[np.ndarray, np.ndarray, np.ndarray], float]:
    """One training update as a torch user writes it: Adam(lr=cfg.lr) created here once; each
    call does zero_grad, forward, backward, ``clip_grad_norm_(cfg.clip)`` (if cfg.clip > 0) and
    an optimiser step. The cosine lr schedule of train.py is left out: it does not change the
    cost of an update. step(x (B, D), x_noisy (T, B, D), gamma0 (B, K, D)) -> loss."""
    _check_cfg(model, cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)

    def step(x: np.ndarray, x_noisy: np.ndarray, gamma0: np.ndarray) -> float:
        opt.zero_grad(set_to_none=True)
        loss = model(*_tensors(model, x, x_noisy, gamma0))
        loss.backward()
        if cfg.clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        opt.step()
        return loss.item()

    return step


def make_eval(cfg, model: RNNEMTwin) -> Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """The evaluation pass: EM without gradients (the counterpart of ``unrolled_forward(...,
    keep_caches=False)``). run(x (B, D), x_noisy (T, B, D), gamma0 (B, K, D)) -> last gamma (B, K, D)."""
    _check_cfg(model, cfg)

    def run(x: np.ndarray, x_noisy: np.ndarray, gamma0: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model.em(*_tensors(model, x, x_noisy, gamma0))[1].numpy()

    return run

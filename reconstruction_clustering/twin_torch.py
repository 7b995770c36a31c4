"""A PyTorch twin of Reconstruction Clustering, for the side-by-side speed benchmark.

The same computations as ``dae.py`` (the denoising autoencoder), ``train.py`` (one training update)
and ``model.py`` (the RC loop), written the way a PyTorch user would write them: ``nn.Linear``
layers, autograd for the gradients, ``torch.optim.Adam`` for the update, ``torch.no_grad()`` for RC.
Used only by ``bench.py --compare torch`` and ``tests/test_twin_rc.py``. torch is the optional extra
``[compare]``, never a runtime dependency of the package: nothing else imports this module.

Conventions mirrored from the NumPy code:

- parameters: numpy ``W_enc`` (D, H), ``b_enc`` (H,), ``W_dec`` (H, D), ``b_dec`` (D,) are
  ``enc.weight`` = W_enc^T (H, D), ``enc.bias``, ``dec.weight`` = W_dec^T (D, H), ``dec.bias``;
- ``forward`` returns what ``decode(encode(x))`` returns: (logits, mu = sigmoid(logits));
- the loss is the BCE of the logits summed over pixels, averaged over the batch
  (``dae_loss_forward``); ReLU's subgradient at 0 is 0 on both sides;
- RC (``run_rc``): R-step psi = mu(gamma * x), E-step on psi clipped to [PSI_EPS, 1 - PSI_EPS]
  (``common.mixture.pixel_likelihoods``), soft (normalised over K) or hard (one-hot argmax over
  K, first maximum on ties), ``chunk`` images at a time.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from common.layers import ACTIVATIONS
from common.mixture import PSI_EPS

from .config import E_STEPS, DAEConfig

__all__ = ["DAETwin", "build", "params_numpy", "grads_numpy", "loss_and_grads", "make_update", "make_rc"]

_ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}
# numpy parameter name -> (module attribute, whether nn.Linear stores it transposed)
_NAMES = {"W_enc": ("enc.weight", True), "b_enc": ("enc.bias", False),
          "W_dec": ("dec.weight", True), "b_dec": ("dec.bias", False)}


class DAETwin(nn.Module):
    """The DAE of ``dae.py``: x (..., D) -> act(x W_enc + b_enc) (..., H) -> logits (..., D)."""

    def __init__(self, D: int, H: int, activation: str, dtype=torch.float32):
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS[:3]}, got {activation!r}")
        self.activation = activation
        self.act = _ACTIVATIONS[activation]
        self.enc = nn.Linear(D, H, dtype=dtype)
        self.dec = nn.Linear(H, D, dtype=dtype)

    def forward(self, x_in: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x_in (..., D) -> (logits, mu = sigmoid(logits)), both (..., D), as ``dae.decode``."""
        logits = self.dec(self.act(self.enc(x_in)))
        return logits, torch.sigmoid(logits)

    def loss(self, x_in: torch.Tensor, x_target: torch.Tensor) -> torch.Tensor:
        """Pixel-summed BCE of forward(x_in) against x_target, mean over the batch: x_in, x_target
        (N, D) -> scalar tensor (``dae.dae_loss_forward``)."""
        logits, _ = self(x_in)
        return F.binary_cross_entropy_with_logits(logits, x_target, reduction="sum") / x_in.shape[0]


def build(params: dict[str, np.ndarray], activation: str, dtype=torch.float32) -> DAETwin:
    """A DAETwin holding copies of the numpy parameters ``params`` (``dae.init_dae``'s names and
    shapes) in ``dtype``."""
    D, H = params["W_enc"].shape
    model = DAETwin(D, H, activation, dtype)
    with torch.no_grad():
        for name, tensor in _tensors(model).items():
            value = params[name].T if _NAMES[name][1] else params[name]
            tensor.copy_(torch.as_tensor(np.ascontiguousarray(value)))
    return model


def _tensors(model: DAETwin) -> dict[str, nn.Parameter]:
    """The model's parameters under their numpy names."""
    own = dict(model.named_parameters())
    return {name: own[attr] for name, (attr, _) in _NAMES.items()}


def _to_numpy(tensor: torch.Tensor, name: str) -> np.ndarray:
    """A C-contiguous numpy copy of ``tensor`` in the numpy layout of parameter ``name``."""
    a = tensor.detach().numpy()
    return np.ascontiguousarray(a.T if _NAMES[name][1] else a)


def params_numpy(model: DAETwin) -> dict[str, np.ndarray]:
    """The model's parameters as a numpy dict (the inverse of ``build``)."""
    return {name: _to_numpy(p, name) for name, p in _tensors(model).items()}


def grads_numpy(model: DAETwin) -> dict[str, np.ndarray]:
    """The gradients of the last backward pass as a numpy dict with ``dae_loss_backward``'s names
    and shapes."""
    return {name: _to_numpy(p.grad, name) for name, p in _tensors(model).items()}


def _tensor(a, dtype: torch.dtype) -> torch.Tensor:
    """``a`` as a tensor of ``dtype``; a numpy array already of that dtype is shared, not copied."""
    return torch.as_tensor(a, dtype=dtype)


def _dtype(model: DAETwin) -> torch.dtype:
    return model.enc.weight.dtype


def loss_and_grads(model: DAETwin, x_in, x_target) -> tuple[float, dict[str, np.ndarray]]:
    """(loss, grads) of ``dae.dae_loss_and_grads``: x_in (noisy), x_target (clean) (N, D)."""
    model.zero_grad(set_to_none=True)
    loss = model.loss(_tensor(x_in, _dtype(model)), _tensor(x_target, _dtype(model)))
    loss.backward()
    return loss.item(), grads_numpy(model)


def make_update(cfg: DAEConfig, model: DAETwin) -> Callable[[np.ndarray, np.ndarray], float]:
    """One training update of ``train.train_dae`` as a PyTorch user writes it.

    The optimiser (``torch.optim.Adam(lr=cfg.lr)``, or plain ``SGD`` for ``cfg.optimizer ==
    "sgd"``, as ``train_dae``) is created once. The returned ``step(x_noisy, x_clean)`` takes a
    batch (B, D) already corrupted by ``dae.salt_and_pepper`` and its clean copy, updates the
    model in place and returns the loss before the update.
    """
    if cfg.optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    elif cfg.optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    else:
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {cfg.optimizer!r}")
    dtype = _dtype(model)

    def step(x_noisy: np.ndarray, x_clean: np.ndarray) -> float:
        opt.zero_grad(set_to_none=True)
        loss = model.loss(_tensor(x_noisy, dtype), _tensor(x_clean, dtype))
        loss.backward()
        opt.step()
        return loss.item()

    return step


def _e_step(psi: torch.Tensor, on: torch.Tensor, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(gamma (n, K, D), log-likelihood (n,) float64, eq. 4.7) from psi (n, K, D) and the pixels
    that are on, on (n, 1, D) bool, as ``model.e_step``."""
    psi = psi.clamp(PSI_EPS, 1 - PSI_EPS)
    lik = torch.where(on, psi, 1 - psi)
    loglik = lik.mean(dim=1, dtype=torch.float64).log().sum(dim=-1)
    if kind == "soft":
        return lik / lik.sum(dim=1, keepdim=True), loglik
    return torch.zeros_like(lik).scatter_(1, lik.argmax(dim=1, keepdim=True), 1.0), loglik


def make_rc(model: DAETwin, activation: str, *, e_step_kind: str = "soft", chunk: int = 250
            ) -> Callable[[np.ndarray, np.ndarray, int], np.ndarray]:
    """The RC loop of ``model.run_rc`` from a given gamma_0, in the model's dtype.

    activation: the DAE's (``run_rc`` takes it with the parameters); must be the model's.
    Returns ``run(images, gamma0, iterations) -> (gamma, pred, loglik)``: images (N, D) binary,
    gamma0 (N, K, D) (e.g. ``common.seeding.initial_gamma``, which ``run_rc`` draws); gamma after
    ``iterations`` R-step + E-step rounds (N, K, D) in the model's dtype, and what run_rc records
    on the way (the same work): pred (iterations + 1, N, D) int16 argmax slot per pixel (index 0 =
    gamma_0) and loglik (iterations, N) float64. Images are processed ``chunk`` at a time (run_rc's
    default 250), which bounds memory at chunk * K * D per array.
    """
    if activation != model.activation:
        raise ValueError(f"activation {activation!r} is not the model's ({model.activation!r})")
    if e_step_kind not in E_STEPS:
        raise ValueError(f"E-step must be one of {E_STEPS}, got {e_step_kind!r}")
    dtype = _dtype(model)

    @torch.no_grad()
    def run(images: np.ndarray, gamma0: np.ndarray, iterations: int):
        x_all = _tensor(np.asarray(images).reshape(len(images), -1), dtype)
        g0 = _tensor(gamma0, dtype)
        N, K, D = g0.shape
        out = torch.empty(g0.shape, dtype=dtype)
        pred = torch.empty((iterations + 1, N, D), dtype=torch.int16)
        loglik = torch.empty((iterations, N), dtype=torch.float64)
        for a in range(0, N, chunk):
            x = x_all[a:a + chunk, None, :]                       # (n, 1, D)
            on = x > 0.5
            gamma = g0[a:a + chunk]
            pred[0, a:a + chunk] = gamma.max(dim=1).indices    # 8x faster than argmax(dim=1) here
            for t in range(iterations):
                _, psi = model(gamma * x)                          # R-step, eq. 4.19
                gamma, loglik[t, a:a + chunk] = _e_step(psi, on, e_step_kind)
                pred[t + 1, a:a + chunk] = gamma.max(dim=1).indices
            out[a:a + chunk] = gamma
        return out.numpy(), pred.numpy(), loglik.numpy()

    return run

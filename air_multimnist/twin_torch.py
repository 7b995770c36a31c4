"""A PyTorch twin of the AIR model of this package, for a side-by-side speed benchmark.

The same model (:mod:`air_multimnist.model`), objective (:mod:`air_multimnist.objectives`) and
training update (:func:`air_multimnist.train.train_step` plus the two Adam optimisers of
:func:`air_multimnist.train.train`), written the way a PyTorch user would: ``nn.LSTMCell``,
``nn.Sequential`` MLPs of ``nn.Linear`` layers, autograd instead of hand-written backward passes,
``torch.optim.Adam`` and ``clip_grad_norm_``. It is used only by ``bench.py --compare torch`` and
its test (tests/test_twin_air.py); torch is the optional extra ``[compare]``, never a runtime
dependency of the package.

Same model, same numbers: :func:`build` copies the numpy parameters in exactly, and in float64 the
twin's ELBO and every gradient equal numpy's to rounding (the test checks rtol 1e-9).
What is mirrored, and how:

* LSTM: the same work as numpy: the image is projected ONCE for all T steps (``img``, an
  nn.Linear(D, 4H) holding ``lstm.Wx`` and the bias ``lstm.b``), and each step adds the
  projections of z_{t-1} (``lstm_z``) and h_{t-1} (``lstm_h``) and applies the gates with torch
  ops, in numpy's gate order (i, f, o, g). ``nn.LSTMCell`` would re-project the constant
  2,500-pixel image on every step (about 0.9 GFLOP more per update than numpy does), so it is
  not used: the race is over the same arithmetic.
* Spatial transformer: the SAME separable bilinear "tent" interpolation as
  :mod:`air_multimnist.stn`: (N, n_out, n_src) weight matrices max(0, 1 - |src - j|) built with
  torch ops and applied with two batched matmuls, in the same order as numpy. For these
  scale-and-shift transforms ``F.affine_grid`` + ``F.grid_sample(align_corners=False)`` would give
  the same sampled values (same pixel-centre convention), but it gathers four neighbours per
  output pixel instead of running two small matmuls, and its gradient w.r.t. the sample
  coordinates at integer coordinates is one-sided (floor-based) where the tent's is 0, so the
  gradients would not match numpy's exactly there; hence the tent matmuls here.
* z_pres (REINFORCE + NVIL, Mnih & Gregor 2014): the loss is the surrogate
  ``-mean_b[F + sum_t A_t.detach() * log q(z_pres_t)]`` plus the baseline regression loss
  ``sum((b - target)^2 * active) / B``: exactly the gradients numpy's ``train_step`` forms, i.e.
  those of the NEGATIVE mean ELBO with ``dlogit = -score + A * score``. Detached, as in numpy: the
  z_pres draws, the learning signal A (target F_{>=t} minus baseline, times the drawn-step mask,
  then normalised), the baseline's input h (the baseline trains only on its own loss) and the
  regression target. The running normalisation of A mirrors
  :class:`air_multimnist.objectives.RunningNorm` (its state is a dict of that class's
  attributes, updated in place). The count prior k enters F as the constant log p(n) and the
  target as the per-step log P(n > t | n >= t) / log P(n = t | n >= t) of the drawn steps.
* Enumeration: ``-mean_b sum_n q(n) F(n)`` differentiated by autograd.
* Training update (:func:`make_update`): as train.train, Adam on the model with the global-norm
  clip, a second Adam at lr * baseline_lr_mult on the baseline, the cosine schedule and the
  count_k anneal. ``clip_grad_norm_`` divides by norm + 1e-6 where common.optim uses
  norm + 1e-12 (a relative difference of 1e-6 / norm in the clipped gradient) and does not raise
  on a non-finite norm.
* dtype: numpy's z_pres objective works in float64 whatever the model dtype; the twin computes it
  in the model's dtype (float32 for the benchmark). Exact agreement is claimed for float64 only.

Shapes: B batch, T = cfg.max_objects steps, H = cfg.lstm, Hm = cfg.hidden, Z = cfg.z_what,
n = cfg.window, C = cfg.canvas, D = C * C.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from air_multimnist.model import SD_FLOOR
from air_multimnist.objectives import RunningNorm
from air_multimnist.train import count_k_at
from common.optim import cosine_lr

__all__ = ["TwinOutput", "AIRTwin", "build", "params_numpy", "grads_numpy", "loss_and_grads",
           "make_update", "make_eval", "render", "crop"]

_MLPS = ("predict", "enc", "dec")
_ARCH = ("canvas", "window", "max_objects", "lstm", "hidden", "z_what", "decoder_bias",
         "where_prior_mu", "where_prior_sd")
_LOG_2PI = math.log(2 * math.pi)


# ----------------------------------------------------------------------------- spatial transformer

def _centres(n: int, dtype: torch.dtype) -> torch.Tensor:
    """(n,) normalised pixel centres (2 i + 1) / n - 1 (computed in float64 like stn._centres)."""
    return ((2 * torch.arange(n, dtype=torch.float64) + 1) / n - 1).to(dtype)


def _tent(src: torch.Tensor, n_src: int) -> torch.Tensor:
    """Tent weights max(0, 1 - |src[..., i] - j|), j = 0..n_src-1: src (N, m) -> (N, m, n_src)."""
    return torch.relu(1 - (src.unsqueeze(-1) - torch.arange(n_src, dtype=src.dtype)).abs())


def render(patch: torch.Tensor, z_where: torch.Tensor, canvas: int) -> torch.Tensor:
    """Windows onto the canvas, Ky patch Kx^T: patch (N, h, h), z_where (N, 3) -> (N, C, C)."""
    h = patch.shape[-1]
    u = _centres(canvas, patch.dtype)
    s, x, y = z_where[:, 0:1], z_where[:, 1:2], z_where[:, 2:3]
    Ky = _tent(((s * u + y + 1) * h - 1) / 2, h)      # (N, C, h)
    Kx = _tent(((s * u + x + 1) * h - 1) / 2, h)
    return torch.bmm(Ky, torch.bmm(patch, Kx.transpose(1, 2)))


def crop(image: torch.Tensor, z_where: torch.Tensor, window: int) -> torch.Tensor:
    """Attention glimpse at the inverse transform: image (N, C, C), z_where (N, 3) -> (N, n, n)."""
    H = image.shape[-1]
    w = _centres(window, image.dtype)
    s, x, y = z_where[:, 0:1], z_where[:, 1:2], z_where[:, 2:3]
    Ky = _tent((((w - y) / s + 1) * H - 1) / 2, H)    # (N, n, C)
    Kx = _tent((((w - x) / s + 1) * H - 1) / 2, H)
    return torch.bmm(Ky, torch.bmm(image, Kx.transpose(1, 2)))


# ----------------------------------------------------------------------------- the model

def _mlp(d_in: int, hidden: int, d_out: int, dtype: torch.dtype) -> nn.Sequential:
    """Linear -> ReLU -> Linear (every MLP of AIR)."""
    return nn.Sequential(nn.Linear(d_in, hidden, dtype=dtype), nn.ReLU(), nn.Linear(hidden, d_out, dtype=dtype))


def _kl_normal(mu, sd, prior_mu, prior_sd) -> torch.Tensor:
    """KL(N(mu, sd^2) || N(prior_mu, prior_sd^2)) summed over the last axis: (B, k) -> (B,)."""
    return (torch.log(prior_sd / sd) + (sd * sd + (mu - prior_mu) ** 2) / (2 * prior_sd * prior_sd) - 0.5).sum(-1)


class TwinOutput(NamedTuple):
    """The T steps' outputs stacked on dim 1."""
    logit: torch.Tensor     # (B, T) z_pres logits
    kl: torch.Tensor        # (B, T) KL of z_where + KL of z_what
    obj: torch.Tensor       # (B, T, C, C) rendered objects
    z_where: torch.Tensor   # (B, T, 3)
    h: torch.Tensor         # (B, T, H) LSTM outputs (the baseline's input)


class AIRTwin(nn.Module):
    """AIR's inference network, encoder, decoder and the NVIL baseline as torch modules.

    ``img`` (D -> 4H), ``lstm_z`` (3 + Z -> 4H), ``lstm_h`` (H -> 4H): the LSTM; ``predict`` (H -> Hm -> 7), ``enc`` (n*n -> Hm -> 2Z),
    ``dec`` (Z -> Hm -> n*n), ``baseline`` (H -> Hm -> 1): Linear-ReLU-Linear. Torch's default
    initialisation; :func:`build` loads numpy parameters.
    """

    def __init__(self, cfg, dtype: torch.dtype = torch.float32):
        super().__init__()
        C, n, H, Hm, Z = cfg.canvas, cfg.window, cfg.lstm, cfg.hidden, cfg.z_what
        self.cfg = cfg
        self.img = nn.Linear(C * C, 4 * H, dtype=dtype)
        self.lstm_z = nn.Linear(3 + Z, 4 * H, bias=False, dtype=dtype)
        self.lstm_h = nn.Linear(H, 4 * H, bias=False, dtype=dtype)
        self.predict = _mlp(H, Hm, 7, dtype)
        self.enc = _mlp(n * n, Hm, 2 * Z, dtype)
        self.dec = _mlp(Z, Hm, n * n, dtype)
        self.baseline = _mlp(H, Hm, 1, dtype)
        self.register_buffer("where_prior_mu", torch.tensor(cfg.where_prior_mu, dtype=dtype))
        self.register_buffer("where_prior_sd", torch.tensor(cfg.where_prior_sd, dtype=dtype))

    @property
    def dtype(self) -> torch.dtype:
        return self.img.weight.dtype

    def body_parameters(self) -> list:
        """The trainable parameters of the model proper (everything but the baseline)."""
        return [p for name, p in self.named_parameters() if p.requires_grad and not name.startswith("baseline.")]

    def forward(self, x: torch.Tensor, eps_where: torch.Tensor | None = None,
                eps_what: torch.Tensor | None = None) -> TwinOutput:
        """All T steps on images x (B, C, C). eps_where (B, T, 3), eps_what (B, T, Z): standard
        normal noise of the reparameterised samples, or None for the posterior means."""
        cfg = self.cfg
        B, n, Z = x.shape[0], cfg.window, cfg.z_what
        H = cfg.lstm
        xw = self.img(x.reshape(B, -1))             # the constant image, projected once
        z = x.new_zeros(B, 3 + Z)
        h, c = x.new_zeros(B, H), x.new_zeros(B, H)
        outs = []
        for t in range(cfg.max_objects):
            a = xw + self.lstm_z(z) + self.lstm_h(h)
            i, f, o = torch.sigmoid(a[:, :3 * H]).split(H, dim=1)
            c = f * c + i * torch.tanh(a[:, 3 * H:])
            h = o * torch.tanh(c)
            logit, where_mu, where_raw = self.predict(h).split([1, 3, 3], dim=1)
            where_sd = F.softplus(where_raw) + SD_FLOOR
            z_where = where_mu if eps_where is None else where_mu + where_sd * eps_where[:, t]
            what_mu, what_raw = self.enc(crop(x, z_where, n).reshape(B, n * n)).split([Z, Z], dim=1)
            what_sd = F.softplus(what_raw) + SD_FLOOR
            z_what = what_mu if eps_what is None else what_mu + what_sd * eps_what[:, t]
            patch = torch.sigmoid(self.dec(z_what) + cfg.decoder_bias).view(B, n, n)
            kl = (_kl_normal(where_mu, where_sd, self.where_prior_mu, self.where_prior_sd)
                  + _kl_normal(what_mu, what_sd, 0.0, 1.0))
            outs.append((logit[:, 0], kl, render(patch, z_where, cfg.canvas), z_where, h))
            z = torch.cat([z_where, z_what], 1)
        return TwinOutput(*(torch.stack(v, 1) for v in zip(*outs)))


def build(cfg, params: dict, bparams: dict, dtype: torch.dtype = torch.float32) -> AIRTwin:
    """An AIRTwin holding exactly the numpy parameters ``params`` (:func:`model.init_params`
    layout) and ``bparams`` (:func:`model.init_baseline`), cast to ``dtype``."""
    model = AIRTwin(cfg, dtype)

    def t(name):
        return torch.as_tensor(np.asarray({**params, **bparams}[name]), dtype=dtype)

    with torch.no_grad():
        model.img.weight.copy_(t("lstm.Wx").T)
        model.img.bias.copy_(t("lstm.b"))
        model.lstm_z.weight.copy_(t("lstm.Wz").T)
        model.lstm_h.weight.copy_(t("lstm.Wh").T)
        for name in (*_MLPS, "baseline"):
            first, _, second = getattr(model, name)
            first.weight.copy_(t(f"{name}.W1").T)
            first.bias.copy_(t(f"{name}.b1"))
            second.weight.copy_(t(f"{name}.W2").T)
            second.bias.copy_(t(f"{name}.b2"))
    return model


def _to_numpy(tensors: dict) -> dict:
    """Detached numpy copies of a dict of tensors."""
    return {k: v.detach().numpy().copy() for k, v in tensors.items()}


def _numpy_layout(model: AIRTwin, get: Callable) -> tuple[dict, dict | None]:
    """(model dict, baseline dict or None) of ``get(parameter)`` (its data or grad) in numpy's
    names, shapes and order; None for the baseline when get returns None (no baseline grads)."""
    out = {"lstm.Wx": get(model.img.weight).T, "lstm.Wz": get(model.lstm_z.weight).T,
           "lstm.Wh": get(model.lstm_h.weight).T, "lstm.b": get(model.img.bias)}

    def mlp(name):
        first, _, second = getattr(model, name)
        return {f"{name}.W1": get(first.weight).T, f"{name}.b1": get(first.bias),
                f"{name}.W2": get(second.weight).T, f"{name}.b2": get(second.bias)}

    for name in _MLPS:
        out.update(mlp(name))
    base = None if get(model.baseline[0].weight) is None else _to_numpy(mlp("baseline"))
    return _to_numpy(out), base


def params_numpy(model: AIRTwin) -> tuple[dict, dict]:
    """The twin's current parameters as numpy (params, bparams) dicts."""
    return _numpy_layout(model, lambda p: p.data)


def grads_numpy(model: AIRTwin) -> tuple[dict, dict | None]:
    """The gradients of the last backward as numpy (grads, bgrads) dicts in numpy's names, shapes
    and order (bgrads None when the baseline got none, as with the enumerate estimator)."""
    return _numpy_layout(model, lambda p: p.grad)


# ----------------------------------------------------------------------------- objectives

def _count_prior(k: float, T: int, dtype: torch.dtype):
    """Count prior p(n) proportional to k^n, n = 0..T (objectives.count_log_prior / step_prior),
    computed in float64: (log p(n) (T+1,), log P(n > t | n >= t) (T,), log P(n = t | n >= t) (T,))."""
    w = torch.arange(T + 1, dtype=torch.float64) * math.log(k)
    log_pn = w - torch.logsumexp(w, 0)
    tail = torch.logcumsumexp(log_pn.flip(0), 0).flip(0)     # log P(n >= t), t = 0..T
    log_go = tail[1:] - tail[:-1]
    return log_pn.to(dtype), log_go.to(dtype), torch.log1p(-torch.exp(log_go)).to(dtype)


def _log_likelihood(x: torch.Tensor, mean: torch.Tensor, sigma: float) -> torch.Tensor:
    """log N(x | mean, sigma^2 I) summed over the last axis (D pixels)."""
    D = x.shape[-1]
    return -0.5 * ((x - mean) ** 2).sum(-1) / sigma ** 2 - D * (math.log(sigma) + 0.5 * _LOG_2PI)


def _normalise(A: torch.Tensor, mask: torch.Tensor, state: dict) -> torch.Tensor:
    """objectives.RunningNorm in torch: update the moving mean/variance of the drawn steps'
    signals (the first moving values are the first batch's), then (A - mean) / max(1, std).
    state: {"alpha", "mean", "var", "n"} (RunningNorm's attributes), updated in place. Step 0 is
    always drawn, so the masked set is never empty."""
    vals = A[mask > 0]
    m, v = float(vals.mean()), float(vals.var(correction=0))
    if state["n"] == 0:
        state["mean"], state["var"] = m, v
    else:
        a = state["alpha"]
        state["mean"], state["var"] = a * state["mean"] + (1 - a) * m, a * state["var"] + (1 - a) * v
    state["n"] += 1
    return (A - state["mean"]) / max(1.0, math.sqrt(state["var"]))


def _reinforce_losses(model: AIRTwin, out: TwinOutput, x, u, sigma: float, k: float, norm_state: dict | None):
    """REINFORCE surrogate + NVIL baseline losses on a sampled count (objectives.elbo_reinforce).

    x (B, D), u (B, T) uniforms (z_pres_t = [u_t < p_t] while every earlier one is 1).
    Returns (surrogate + baseline loss, elbo (B,), n (B,), baseline loss)."""
    B, T = out.logit.shape
    logit, kl, obj = out.logit, out.kl, out.obj.flatten(2)
    with torch.no_grad():
        on = torch.cumprod((u < torch.sigmoid(logit)).to(logit.dtype), 1)   # z_pres
        active = torch.cat([torch.ones_like(on[:, :1]), on[:, :-1]], 1)      # z_pres_t was drawn
    n = on.sum(1).long()
    log_pn, log_go, log_stop = _count_prior(k, T, logit.dtype)
    loglik = _log_likelihood(x, torch.einsum("bt,btd->bd", on, obj), sigma)
    logq = active * (on * F.logsigmoid(logit) + (1 - on) * F.logsigmoid(-logit))   # (B, T)
    elbo = loglik - (on * kl).sum(1) + log_pn[n] - logq.sum(1)
    b = model.baseline(out.h.detach())[..., 0]                                        # (B, T)
    with torch.no_grad():
        logp = active * (on * log_go + (1 - on) * log_stop)
        later = (-on * kl + logp - logq).flip(1).cumsum(1).flip(1)                    # sum over s >= t
        target = (loglik[:, None] + later) * active                                   # F_{>=t}
        signal = (target - b) * active
        if norm_state is not None:
            signal = _normalise(signal, active, norm_state) * active
    surrogate = -(elbo + (signal * logq).sum(1)).mean()
    baseline_loss = (((b - target) * active) ** 2).sum() / B
    return surrogate + baseline_loss, elbo, n, baseline_loss


def _enumerate_loss(out: TwinOutput, x, sigma: float, k: float):
    """Exact ELBO over the T+1 counts (objectives.elbo_enumerate): returns (-mean ELBO, elbo (B,),
    q (B, T+1))."""
    B, T = out.logit.shape
    logit, obj = out.logit, out.obj.flatten(2)
    zero = logit.new_zeros(B, 1)
    logq = torch.cat([zero, F.logsigmoid(logit).cumsum(1)], 1) + torch.cat([F.logsigmoid(-logit), zero], 1)
    recon = torch.cat([torch.zeros_like(obj[:, :1]), obj.cumsum(1)], 1)     # (B, T+1, D): sum_{t<n} o_t
    ll = _log_likelihood(x[:, None], recon, sigma)                          # (B, T+1)
    cumkl = torch.cat([zero, out.kl.cumsum(1)], 1)
    q = logq.exp()
    elbo = (q * (ll - cumkl + _count_prior(k, T, logit.dtype)[0] - logq)).sum(1)
    return -elbo.mean(), elbo, q


def _check_arch(cfg, model: AIRTwin) -> None:
    """Refuse a cfg whose architecture differs from the one the model was built with."""
    bad = [f for f in _ARCH if getattr(cfg, f) != getattr(model.cfg, f)]
    if bad:
        raise ValueError(f"cfg and the twin's build config differ in {bad}")


def _losses(model: AIRTwin, cfg, x, eps_where, eps_what, u, norm_state, count_k: float):
    """Forward + loss of one update (tensors in): returns (loss to backward, stats dict with
    "elbo", "n_mean", "baseline_loss" as numpy train_step reports them)."""
    out = model(x, eps_where, eps_what)
    xf = x.reshape(x.shape[0], -1)
    if cfg.estimator == "enumerate":
        loss, elbo, q = _enumerate_loss(out, xf, cfg.sigma, count_k)
        n_mean, bl = (q * torch.arange(q.shape[1], dtype=q.dtype)).sum(1).mean(), float("nan")
    else:
        loss, elbo, n, bl = _reinforce_losses(model, out, xf, u, cfg.sigma, count_k, norm_state)
        n_mean, bl = n.double().mean(), bl.item()
    return loss, {"elbo": elbo.mean().item(), "n_mean": n_mean.item(), "baseline_loss": bl}


# ----------------------------------------------------------------------------- public API

def loss_and_grads(model: AIRTwin, cfg, x: np.ndarray, eps_where: np.ndarray, eps_what: np.ndarray,
                   u: np.ndarray | None, norm_state: dict | None, count_k: float):
    """One gradient evaluation with GIVEN noise, comparable with numpy's train_step on the same draws.

    x (B, C, C); eps_where (B, T, 3); eps_what (B, T, Z); u (B, T) uniforms of z_pres (unused,
    may be None, for the enumerate estimator). norm_state: None (no signal normalisation) or
    the state of an objectives.RunningNorm as a dict ``{"alpha", "mean", "var", "n"}``, e.g.
    ``dict(vars(norm))``; it is updated in place as numpy's RunningNorm updates itself.
    Returns (stats {"elbo", "n_mean", "baseline_loss"}, grads of the NEGATIVE mean ELBO surrogate
    in numpy's layout, baseline grads in numpy's layout or None for enumerate).
    """
    _check_arch(cfg, model)
    dt = model.dtype
    model.zero_grad(set_to_none=True)
    loss, stats = _losses(model, cfg, torch.as_tensor(x, dtype=dt), torch.as_tensor(eps_where, dtype=dt),
                          torch.as_tensor(eps_what, dtype=dt), None if u is None else torch.as_tensor(u, dtype=dt),
                          norm_state, count_k)
    loss.backward()
    return (stats, *grads_numpy(model))


def make_update(cfg, model: AIRTwin, noise: Callable | None = None) -> Callable[[np.ndarray], float]:
    """A training-update closure ``step(x (B, C, C)) -> mean ELBO`` as train.train runs them:
    draw the noise, forward, surrogate + baseline losses, backward, clip_grad_norm_ of the model
    parameters to cfg.clip (if > 0), torch.optim.Adam steps of the model (lr = cfg.lr) and of
    the baseline (cfg.lr * cfg.baseline_lr_mult), both on the cosine schedule of
    common.optim.cosine_lr (LambdaLR), with the count prior annealed by train.count_k_at and a
    fresh running normaliser (if cfg.signal_norm).

    noise: None (torch.randn for eps_where (B, T, 3) and eps_what (B, T, Z), torch.rand for
    u (B, T), in the model's dtype) or a callable ``noise(B) -> (eps_where, eps_what, u)``
    (arrays or tensors; u may be None for enumerate) so a test can feed numpy's draws.
    """
    _check_arch(cfg, model)
    dt, T, Z = model.dtype, cfg.max_objects, cfg.z_what
    body = model.body_parameters()
    opt = torch.optim.Adam(body, lr=cfg.lr)
    bopt = torch.optim.Adam(model.baseline.parameters(), lr=cfg.lr * cfg.baseline_lr_mult)
    schedules = [torch.optim.lr_scheduler.LambdaLR(o, lambda i: cosine_lr(1.0, cfg.lr_final, i, cfg.updates))
                 for o in (opt, bopt)]
    norm_state = dict(vars(RunningNorm())) if cfg.signal_norm else None
    reinforce = cfg.estimator == "reinforce"
    done = 0

    def draw(B):
        if noise is not None:
            return tuple(None if a is None else torch.as_tensor(a, dtype=dt) for a in noise(B))
        return (torch.randn(B, T, 3, dtype=dt), torch.randn(B, T, Z, dtype=dt),
                torch.rand(B, T, dtype=dt) if reinforce else None)

    def step(x: np.ndarray) -> float:
        nonlocal done
        xt = torch.as_tensor(x, dtype=dt)
        loss, stats = _losses(model, cfg, xt, *draw(xt.shape[0]), norm_state, count_k_at(cfg, done))
        opt.zero_grad(set_to_none=True)
        bopt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.clip > 0:
            nn.utils.clip_grad_norm_(body, cfg.clip)
        opt.step()
        bopt.step()
        for s in schedules:
            s.step()
        done += 1
        return stats["elbo"]

    return step


def make_eval(cfg, model: AIRTwin) -> Callable[[np.ndarray], np.ndarray]:
    """A closure ``run(x (N, C, C)) -> counts (N,) int64``: deterministic inference as
    evaluate.infer does it (posterior means, no sampling; z_pres_t = [sigmoid(logit_t) > 0.5]
    while every earlier one is 1), under torch.no_grad()."""
    _check_arch(cfg, model)

    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            logit = model(torch.as_tensor(x, dtype=model.dtype)).logit
            return torch.cumprod((torch.sigmoid(logit) > 0.5).long(), 1).sum(1).numpy()

    return run

"""Adam against a hand-computed reference, and global-norm clipping."""

import math

import numpy as np
import pytest

from common.optim import Adam, global_norm


def test_adam_matches_hand_computed_steps():
    # Kingma & Ba Algorithm 1 worked by hand for a scalar, lr 0.1, gradients 0.5 then -1.
    # step 1: m = 0.05, v = 0.00025, m_hat = 0.5, v_hat = 0.25 -> p = 1 - 0.1 * 0.5 / 0.5 = 0.9
    # step 2: m = 0.9*0.05 - 0.1 = -0.055, v = 0.999*0.00025 + 0.001 = 0.00124975,
    #         m_hat = -0.055 / 0.19, v_hat = 0.00124975 / 0.001999
    m_hat = -0.055 / 0.19
    v_hat = 0.00124975 / 0.001999
    expected1 = 1.0 - 0.1 * 0.5 / (0.5 + 1e-8)  # eps = 1e-8 shifts step 1 by 2e-9
    expected2 = expected1 - 0.1 * m_hat / (math.sqrt(v_hat) + 1e-8)
    p = {"w": np.array([1.0])}
    opt = Adam(lr=0.1)
    opt.step(p, {"w": np.array([0.5])})
    assert p["w"][0] == pytest.approx(expected1, abs=1e-12)
    opt.step(p, {"w": np.array([-1.0])})
    assert p["w"][0] == pytest.approx(expected2, abs=1e-12)
    assert expected2 == pytest.approx(0.936610, abs=1e-6)
    assert opt.t == 2


def test_adam_keeps_state_per_name_and_dtype():
    rng = np.random.default_rng(0)
    p = {"a": rng.standard_normal(3).astype(np.float32), "b": rng.standard_normal((2, 2)).astype(np.float32)}
    opt = Adam(lr=1e-2)
    for _ in range(3):
        opt.step(p, {"a": np.ones(3, np.float32), "b": np.full((2, 2), -2.0, np.float32)})
    assert p["a"].dtype == np.float32 and set(opt.m) == {"a", "b"}
    # Constant gradients: every step moves by lr against the sign (m_hat / sqrt(v_hat) = +-1).
    # A zero gradient for "b" leaves its parameter where Adam's momentum takes it, but "a"'s state
    # is kept apart from "b"'s.
    va = opt.moments("a")[1]
    opt.step(p, {"a": np.ones(3, np.float32), "b": np.zeros((2, 2), np.float32)})
    assert not np.array_equal(opt.moments("b")[1], va[:1])
    st = opt.state_dict()
    opt2 = Adam(lr=1e-2)
    opt2.load_state_dict(st)
    assert opt2.t == opt.t and np.array_equal(opt2.m["a"], opt.m["a"])


def test_constant_gradient_moves_lr_per_step():
    p = {"w": np.zeros(4)}
    opt = Adam(lr=0.01)
    for _ in range(5):
        opt.step(p, {"w": np.array([1.0, -1.0, 3.0, -0.2])})
    np.testing.assert_allclose(p["w"], [-0.05, 0.05, -0.05, 0.05], atol=1e-8)


def test_global_norm_and_the_clip_scale():
    from common.optim import _clip_scale
    g = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}
    assert global_norm(g) == pytest.approx(5.0)
    assert _clip_scale(g, 1.0) == pytest.approx((0.2, 5.0))
    assert _clip_scale(g, 10.0) == pytest.approx((1.0, 5.0))
    with pytest.raises(FloatingPointError, match="non-finite"):
        _clip_scale({"a": np.array([np.nan])}, 1.0)
    with pytest.raises(FloatingPointError, match="non-finite"):
        Adam(lr=0.1, clip_norm=1.0).step({"a": np.zeros(1)}, {"a": np.array([np.nan])})


def test_adam_with_clipping_uses_clipped_gradient():
    # With clipping the first step's direction is unchanged but v sees the clipped gradient.
    p = {"w": np.array([0.0, 0.0])}
    opt = Adam(lr=0.1, clip_norm=1.0)
    norm = opt.step(p, {"w": np.array([30.0, 40.0])})
    assert norm == pytest.approx(50.0)
    np.testing.assert_allclose(opt.moments("w")[1], 0.001 * np.array([0.6, 0.8]) ** 2)


def test_bad_arguments():
    with pytest.raises(ValueError, match="learning rate"):
        Adam(lr=0)
    with pytest.raises(ValueError, match="betas"):
        Adam(beta1=1.0)
    with pytest.raises(KeyError, match="unknown parameters"):
        Adam().step({"a": np.zeros(1)}, {"b": np.zeros(1)})
    with pytest.raises(ValueError, match="shape"):
        Adam().step({"a": np.zeros(2)}, {"a": np.zeros(3)})


def test_adam_refuses_a_parameter_without_a_gradient():
    """A backward that forgets a parameter must not leave it silently untrained (the old Adam only
    refused extra gradients, so this passed)."""
    p = {"enc.W": np.zeros((2, 2), np.float32), "enc.b": np.zeros(2, np.float32)}
    with pytest.raises(KeyError, match="no gradient for parameters \\['enc.b'\\]"):
        Adam().step(p, {"enc.W": np.ones((2, 2), np.float32)})
    assert np.all(p["enc.W"] == 0)             # nothing was updated


def test_cosine_lr_runs_from_lr_to_lr_final():
    from common.optim import cosine_lr
    assert cosine_lr(1e-3, 0.1, 0, 100) == pytest.approx(1e-3)
    assert cosine_lr(1e-3, 0.1, 99, 100) == pytest.approx(1e-4)
    assert cosine_lr(1e-3, 0.1, 49.5, 100) == pytest.approx(0.55e-3)
    assert cosine_lr(1e-3, 1.0, 37, 100) == pytest.approx(1e-3)        # lr_final = 1: constant
    lrs = [cosine_lr(1.0, 0.0, t, 50) for t in range(50)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))
    with pytest.raises(ValueError):
        cosine_lr(1e-3, 0.1, 0, 0)


@pytest.mark.parametrize("beta1, clip", [(0.9, None), (0.9, 0.5), (0.0, None), (0.5, 1.0)])
def test_lazy_scaled_adam_equals_textbook_adam_over_many_steps(beta1, clip):
    # 400 updates cross several rescales of the stored first moment (every ~87 updates for
    # beta1 = 0.9, every update for beta1 = 0), with clipping and a changing learning rate: the
    # fused update must stay the textbook Algorithm 1 to float64 rounding.
    rng = np.random.default_rng(0)
    p = {"a": rng.standard_normal((300, 7)), "b": rng.standard_normal(5)}
    q = {k: v.copy() for k, v in p.items()}
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(x) for k, x in p.items()}
    opt = Adam(lr=1e-2, beta1=beta1, clip_norm=clip)
    for t in range(1, 401):
        g = {k: rng.standard_normal(x.shape) * (1 + t % 7) for k, x in p.items()}
        opt.lr = lr = 1e-2 * (1 - t / 800)
        opt.step(p, g)
        if clip:
            n = math.sqrt(sum(float((x ** 2).sum()) for x in g.values()))
            g = {k: x * min(1.0, clip / (n + 1e-12)) for k, x in g.items()}
        for k in q:
            m[k] = beta1 * m[k] + (1 - beta1) * g[k]
            v[k] = 0.999 * v[k] + 0.001 * g[k] ** 2
            q[k] -= lr * (m[k] / (1 - beta1 ** t)) / (np.sqrt(v[k] / (1 - 0.999 ** t)) + 1e-8)
    for k in p:
        np.testing.assert_allclose(p[k], q[k], rtol=0, atol=1e-12)
        np.testing.assert_allclose(opt.moments(k)[0], m[k], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(opt.moments(k)[1], v[k], rtol=1e-12, atol=1e-15)
    assert opt.m_scale >= 1e-4 and opt.t == 400


def test_adam_state_round_trip_continues_identically():
    rng = np.random.default_rng(1)
    p1 = {"w": rng.standard_normal(50).astype(np.float32)}
    opt1 = Adam(lr=1e-2)
    grads = [{"w": rng.standard_normal(50).astype(np.float32)} for _ in range(120)]
    for g in grads[:100]:
        opt1.step(p1, g)
    p2 = {"w": p1["w"].copy()}
    opt2 = Adam(lr=1e-2)
    opt2.load_state_dict(opt1.state_dict())
    for g in grads[100:]:
        opt1.step(p1, g)
        opt2.step(p2, g)
    np.testing.assert_array_equal(p1["w"], p2["w"])

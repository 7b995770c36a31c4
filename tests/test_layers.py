"""Float64 gradient checks of common.layers and agreement with direct formulas."""

import numpy as np
import pytest

from common.gradcheck import check_gradients
from common.layers import (ACTIVATIONS, activation_backward, activation_forward, bce_logits_backward,
                           bce_logits_forward, linear_backward, linear_forward, mm, sigmoid, softplus)


def _rng():
    return np.random.default_rng(0)


def test_sigmoid_softplus_match_direct_formulas():
    a = np.linspace(-30, 30, 601)
    np.testing.assert_allclose(sigmoid(a), 1 / (1 + np.exp(-a)), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(softplus(a), np.log1p(np.exp(a)), rtol=1e-12)
    assert np.isfinite(softplus(np.array([1e4, -1e4]))).all()


def test_mm_matches_einsum_for_leading_dims():
    r = _rng()
    a, W = r.normal(size=(3, 4, 5)), r.normal(size=(5, 2))
    np.testing.assert_allclose(mm(a, W), np.einsum("bkn,nm->bkm", a, W), rtol=1e-12)


@pytest.mark.parametrize("kind", ACTIVATIONS)
def test_linear_activation_bce_stack_gradients(kind):
    """loss = sum_n w_n BCE(act(x W1 + b1) W2 + b2, t) checked against every input and parameter."""
    r = _rng()
    p = {"x": r.normal(size=(2, 3, 6)), "W1": r.normal(size=(6, 5)) * 0.5, "b1": r.normal(size=5) * 0.1,
         "W2": r.normal(size=(5, 4)) * 0.5, "b2": r.normal(size=4) * 0.1}
    t = (r.random((2, 3, 4)) < 0.5).astype(float)
    mask = r.random((2, 3, 4))
    dl = r.normal(size=(2, 3))

    def forward():
        a, c1 = linear_forward(p["x"], p["W1"], p["b1"])
        h, c2 = activation_forward(a, kind)
        o, c3 = linear_forward(h, p["W2"], p["b2"])
        loss, c4 = bce_logits_forward(o, t, mask)
        return float(np.sum(loss * dl)), (c1, c2, c3, c4)

    _, (c1, c2, c3, c4) = forward()
    do = bce_logits_backward(dl, c4)
    dh, g2 = linear_backward(do, c3)
    da = activation_backward(dh, c2)
    dx, g1 = linear_backward(da, c1)
    grads = {"x": dx, "W1": g1["W"], "b1": g1["b"], "W2": g2["W"], "b2": g2["b"]}
    check_gradients(lambda: forward()[0], p, grads).assert_ok(1e-6)


def test_bce_matches_direct_formula_and_handles_extreme_logits():
    r = _rng()
    l, t = r.normal(size=(4, 7)) * 3, (r.random((4, 7)) < 0.5).astype(float)
    q = sigmoid(l)
    direct = -(t * np.log(q) + (1 - t) * np.log(1 - q)).sum(-1)
    np.testing.assert_allclose(bce_logits_forward(l, t)[0], direct, rtol=1e-10)
    big = bce_logits_forward(np.array([[800.0, -800.0]]), np.array([[1.0, 0.0]]))[0]
    assert np.all(np.isfinite(big)) and big[0] < 1e-12


def test_layers_keep_float32():
    r = _rng()
    x = r.normal(size=(3, 4)).astype(np.float32)
    W, b = r.normal(size=(4, 2)).astype(np.float32), np.zeros(2, np.float32)
    y, c = linear_forward(x, W, b)
    h, ca = activation_forward(y, "tanh")
    loss, cl = bce_logits_forward(h, np.ones_like(h))
    dx, g = linear_backward(activation_backward(bce_logits_backward(np.ones(3, np.float32), cl), ca), c)
    assert {a.dtype for a in (y, h, loss, dx, g["W"], g["b"])} == {np.dtype(np.float32)}


def test_unknown_activation_is_rejected():
    with pytest.raises(ValueError, match="unknown activation"):
        activation_forward(np.zeros(2), "swish")


def test_layernorm_gradients_and_definition():
    """Layer norm with and without the affine map: float64 check of x, gain and bias, and the
    normalised rows have mean 0 and variance 1."""
    from common.layers import layernorm_backward, layernorm_forward
    r = _rng()
    p = {"x": r.normal(size=(2, 3, 7)) * 3 + 1, "gain": r.normal(size=7), "bias": r.normal(size=7)}
    dl = r.normal(size=(2, 3, 7))
    for affine in (True, False):
        def forward():
            y, c = layernorm_forward(p["x"], p["gain"] if affine else None, p["bias"] if affine else None)
            return float(np.sum(y * dl)), c
        _, c = forward()
        dx, g = layernorm_backward(dl, c)
        params = p if affine else {"x": p["x"]}
        check_gradients(lambda: forward()[0], params, {"x": dx, **g}).assert_ok(1e-6)
    y, _ = layernorm_forward(p["x"])
    np.testing.assert_allclose(y.mean(-1), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(-1), 1, rtol=1e-4)
    with pytest.raises(AssertionError):                       # a wrong backward fails the check
        _, c = forward()
        dx, _ = layernorm_backward(dl, c)
        check_gradients(lambda: forward()[0], {"x": p["x"]}, {"x": dx * 1.01}).assert_ok(1e-6)


def test_softmax_gradient():
    from common.layers import softmax, softmax_backward
    r = _rng()
    p = {"a": r.normal(size=(4, 3, 5))}
    dl = r.normal(size=(4, 3, 5))
    loss = lambda: float(np.sum(softmax(p["a"], 0) * dl))
    check_gradients(loss, p, {"a": softmax_backward(dl, softmax(p["a"], 0), 0)}).assert_ok(1e-6)
    np.testing.assert_allclose(softmax(np.array([[1000.0, 0.0]]), 1), [[1.0, 0.0]])


def _conv_naive(x, W, b, stride, pad):
    """The definition, one output pixel at a time (float64)."""
    t, bo, l, r = (pad,) * 4 if isinstance(pad, int) else pad
    xp = np.pad(x, ((0, 0), (t, bo), (l, r), (0, 0)))
    kh, kw, C, F = W.shape
    Ho, Wo = (xp.shape[1] - kh) // stride + 1, (xp.shape[2] - kw) // stride + 1
    y = np.zeros((x.shape[0], Ho, Wo, F))
    for i in range(Ho):
        for j in range(Wo):
            patch = xp[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            y[:, i, j] = np.einsum("nhwc,hwcf->nf", patch, W) + b
    return y


@pytest.mark.parametrize("stride, pad", [(1, 0), (2, 1), (2, (1, 2, 0, 1)), (1, 2), (1, (1, 2, 1, 2)), (1, (4, 0, 1, 5))])
def test_conv2d_matches_the_definition_and_its_gradients_check(stride, pad):
    """Stride 2 with padding 1 on 4x4 kernels is the 28 -> 14 -> 7 encoder of RNN-EM on flying
    shapes (thesis Table 5.1); stride 1 with (1, 2, 1, 2) its decoder ("SAME"), whose input
    gradient is a convolution of dy; padding wider than the kernel falls back to col2im."""
    from common.layers import conv2d_backward, conv2d_forward
    r = _rng()
    p = {"x": r.normal(size=(2, 7, 6, 3)), "W": r.normal(size=(4, 4, 3, 5)) * 0.3, "b": r.normal(size=5)}
    y, c = conv2d_forward(p["x"], p["W"], p["b"], stride, pad)
    np.testing.assert_allclose(y, _conv_naive(p["x"], p["W"], p["b"], stride, pad), rtol=1e-12, atol=1e-12)
    dl = r.normal(size=y.shape)
    dx, g = conv2d_backward(dl, c)
    assert dx.shape == p["x"].shape
    check_gradients(lambda: float(np.sum(conv2d_forward(p["x"], p["W"], p["b"], stride, pad)[0] * dl)), p,
                    {"x": dx, **g}).assert_ok(1e-6)


def test_conv2d_keeps_float32_and_shapes_of_the_flying_shapes_encoder():
    from common.layers import conv2d_forward
    r = _rng()
    x = r.random((3, 28, 28, 1), dtype=np.float32)
    y, _ = conv2d_forward(x, (r.normal(size=(4, 4, 1, 32)) * 0.1).astype(np.float32), np.zeros(32, np.float32), 2, 1)
    assert y.shape == (3, 14, 14, 32) and y.dtype == np.float32
    y2, _ = conv2d_forward(y, (r.normal(size=(4, 4, 32, 64)) * 0.1).astype(np.float32), np.zeros(64, np.float32), 2, 1)
    assert y2.shape == (3, 7, 7, 64)


def test_upsample_and_elu_gradients():
    from common.layers import elu_backward, elu_forward, upsample_nearest_backward, upsample_nearest_forward
    r = _rng()
    p = {"x": r.normal(size=(2, 3, 4, 2))}
    y, f = upsample_nearest_forward(p["x"], 2)
    assert y.shape == (2, 6, 8, 2) and y[0, 5, 7, 1] == p["x"][0, 2, 3, 1]
    dl = r.normal(size=y.shape)
    check_gradients(lambda: float(np.sum(upsample_nearest_forward(p["x"], 2)[0] * dl)), p,
                    {"x": upsample_nearest_backward(dl, f)}).assert_ok(1e-6)
    q = {"a": r.normal(size=(4, 5)) * 2}
    d2 = r.normal(size=(4, 5))
    h, c = elu_forward(q["a"])
    np.testing.assert_allclose(h, np.where(q["a"] > 0, q["a"], np.exp(q["a"]) - 1), rtol=1e-12)
    check_gradients(lambda: float(np.sum(elu_forward(q["a"])[0] * d2)), q, {"a": elu_backward(d2, c)}).assert_ok(1e-6)
    h5, c5 = elu_forward(q["a"], 0.5)
    np.testing.assert_allclose(h5, np.where(q["a"] > 0, q["a"], 0.5 * (np.exp(q["a"]) - 1)), rtol=1e-12)
    check_gradients(lambda: float(np.sum(elu_forward(q["a"], 0.5)[0] * d2)), q, {"a": elu_backward(d2, c5)}).assert_ok(1e-6)


def test_upsample_conv2d_is_upsampling_then_same_conv_and_its_gradients_check():
    from common.layers import (conv2d_forward, upsample_conv2d_backward, upsample_conv2d_forward,
                               upsample_nearest_forward)
    r = _rng()
    p = {"x": r.normal(size=(2, 3, 4, 3)), "W": r.normal(size=(4, 4, 3, 2)) * 0.3, "b": r.normal(size=2)}
    y, c = upsample_conv2d_forward(p["x"], p["W"], p["b"])
    ref = conv2d_forward(upsample_nearest_forward(p["x"], 2)[0], p["W"], p["b"], 1, (1, 2, 1, 2))[0]
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)
    dl = r.normal(size=y.shape)
    dx, g = upsample_conv2d_backward(dl, c)
    check_gradients(lambda: float(np.sum(upsample_conv2d_forward(p["x"], p["W"], p["b"])[0] * dl)), p,
                    {"x": dx, **g}).assert_ok(1e-6)

"""Float64 gradient checks of common.layers' MLP pair (mlp_forward / mlp_backward) over its input
and EVERY parameter, and agreement with the linear/activation pairs it is built from."""

import numpy as np
import pytest

from common.gradcheck import check_gradients
from common.layers import (ACTIVATIONS, MLPCache, activation_forward, glorot, linear_forward, mlp_backward,
                           mlp_forward)


def _params(r, prefix, sizes):
    p = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]), 1):
        p[f"{prefix}.W{i}"] = glorot(r, a, b, np.float64)
        p[f"{prefix}.b{i}"] = r.normal(scale=0.1, size=b)
    return p


@pytest.mark.parametrize("activations", [("relu", "identity"), ("tanh", "sigmoid", "relu"), ("identity",)])
def test_mlp_gradients_wrt_input_and_every_parameter(activations):
    r = np.random.default_rng(0)
    sizes = [5, 6, 4, 3][:len(activations) + 1]
    p = {"x": r.normal(size=(2, 3, sizes[0])), **_params(r, "net", sizes)}
    w = r.normal(size=(2, 3, sizes[-1]))

    def loss():
        return float(np.sum(w * mlp_forward(p["x"], p, "net", activations)[0]))

    out, cache = mlp_forward(p["x"], p, "net", activations)
    assert isinstance(cache, MLPCache) and out.shape == (2, 3, sizes[-1])
    dx, grads = mlp_backward(w, cache)
    assert set(grads) == {k for k in p if k != "x"}
    check_gradients(loss, p, {"x": dx, **grads}).assert_ok(1e-6)   # every parameter, no names=


def test_mlp_equals_its_layers_and_skips_dx_on_request():
    r = np.random.default_rng(1)
    p = _params(r, "dec", [4, 7, 2])
    x = r.normal(size=(6, 4))
    out, cache = mlp_forward(x, p, "dec", ("relu", "identity"))
    h = activation_forward(linear_forward(x, p["dec.W1"], p["dec.b1"])[0], "relu")[0]
    np.testing.assert_array_equal(out, linear_forward(h, p["dec.W2"], p["dec.b2"])[0])
    dout = r.normal(size=out.shape)
    dx, g = mlp_backward(dout, cache)
    none, g2 = mlp_backward(dout, cache, need_dx=False)
    assert none is None and dx.shape == x.shape
    for k in g:
        np.testing.assert_array_equal(g[k], g2[k])


def test_mlp_rejects_unknown_activation_and_missing_parameter():
    r = np.random.default_rng(2)
    p = _params(r, "enc", [3, 2])
    with pytest.raises(ValueError):
        mlp_forward(np.ones((1, 3)), p, "enc", ("swish",))
    with pytest.raises(KeyError):
        mlp_forward(np.ones((1, 3)), p, "enc", ("relu", "identity"))
    assert set(ACTIVATIONS) >= {"relu", "identity"}

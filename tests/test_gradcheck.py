"""The gradient checker passes correct gradients and catches wrong ones."""

import numpy as np
import pytest

from common.gradcheck import check_gradients, numerical_gradient, relative_error


def _tiny_net(rng):
    params = {"W": rng.standard_normal((4, 3)), "b": rng.standard_normal(3)}
    x = rng.standard_normal((5, 4))
    y = rng.standard_normal((5, 3))

    def loss():
        h = np.tanh(x @ params["W"] + params["b"])
        return 0.5 * np.sum((h - y) ** 2)

    def grads(forget_tanh_derivative=False):
        h = np.tanh(x @ params["W"] + params["b"])
        dpre = (h - y) * (1.0 if forget_tanh_derivative else 1 - h ** 2)
        return {"W": x.T @ dpre, "b": dpre.sum(0)}

    return params, loss, grads


def test_correct_gradient_passes():
    params, loss, grads = _tiny_net(np.random.default_rng(0))
    report = check_gradients(loss, params, grads())
    report.assert_ok(1e-7)
    assert report.max_rel_error < 1e-8
    assert {r.name for r in report.rows} == {"W", "b"}
    assert "W" in report.table() and "rel.err" in report.table()


@pytest.mark.parametrize("mistake", ["forgot_tanh_derivative", "flipped_sign", "off_by_0.1_percent"])
def test_wrong_gradient_fails(mistake):
    params, loss, grads = _tiny_net(np.random.default_rng(1))
    g = grads()
    if mistake == "forgot_tanh_derivative":
        g = grads(forget_tanh_derivative=True)
    elif mistake == "flipped_sign":
        g = {"W": g["W"], "b": -g["b"]}
    else:
        g = {"W": g["W"] * (1 + 1e-3), "b": g["b"]}
    report = check_gradients(loss, params, g)
    assert not report.ok(1e-6)
    with pytest.raises(AssertionError, match="gradient check failed"):
        report.assert_ok(1e-6)


def test_parameters_are_restored_and_subset_is_used():
    rng = np.random.default_rng(2)
    params = {"w": rng.standard_normal((50, 40))}
    before = params["w"].copy()
    calls = []

    def loss():
        calls.append(1)
        return float(np.sum(np.sin(params["w"])))

    report = check_gradients(loss, params, {"w": np.cos(params["w"])}, max_entries=30)
    np.testing.assert_array_equal(params["w"], before)
    assert report.rows[0].checked == 30 and len(calls) == 60
    report.assert_ok(1e-8)


def test_float32_and_bad_input_rejected():
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(lambda: 0.0, np.zeros(3, dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        check_gradients(lambda: 0.0, {"a": np.zeros(3)}, {"a": np.zeros(4)})
    with pytest.raises(KeyError, match="no such parameter"):
        check_gradients(lambda: 0.0, {"a": np.zeros(3)}, {"b": np.zeros(3)})


def test_relative_error_definition():
    a = np.array([1.0, -2.0])
    n = np.array([1.0, -2.5])
    assert relative_error(a, n) == pytest.approx(0.5 / 4.5)
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_error(np.zeros(2), np.array([1e-9, 0.0])) == pytest.approx(1e-9 / 1e-8)


def test_missing_gradient_fails():
    """The old checker looped over the keys of the gradient dict: a parameter the backward forgot
    was never checked. Now every parameter is checked by default."""
    params, loss, grads = _tiny_net(np.random.default_rng(3))
    g = grads()
    del g["b"]
    with pytest.raises(KeyError, match="no analytic gradient for parameters \\['b'\\]"):
        check_gradients(loss, params, g)
    with pytest.raises(KeyError, match="no such parameters"):
        check_gradients(loss, params, {**grads(), "c": np.zeros(1)})
    # an explicit subset is still allowed
    check_gradients(loss, params, g, names=["W"]).assert_ok(1e-7)

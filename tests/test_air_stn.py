"""Float64 checks of AIR's separable bilinear spatial transformer (render and crop), w.r.t. both
the sampled image and z_where, with smooth images and non-integer offsets (away from the tent's kinks)."""

import numpy as np

from air_multimnist.stn import crop_backward, crop_forward, render_backward, render_forward, window_box
from common.gradcheck import check_gradients


def _smooth(r, n, size):
    g = np.linspace(-1, 1, size)
    c = r.uniform(-0.5, 0.5, size=(n, 2, 1))
    return np.exp(-((g[None, :, None] - c[:, 0:1]) ** 2 + (g[None, None, :] - c[:, 1:2].transpose(0, 2, 1)) ** 2) * 3)


def _zw(r, n):
    return np.stack([r.uniform(1.6, 3.2, n), r.uniform(-0.9, 0.9, n), r.uniform(-0.9, 0.9, n)], 1) + 0.0137


def test_render_gradients_wrt_patch_and_z_where():
    r = np.random.default_rng(0)
    p = {"patch": _smooth(r, 3, 7), "zw": _zw(r, 3)}
    w = r.normal(size=(3, 13, 13))

    def loss():
        return np.sum(w * render_forward(p["patch"], p["zw"], 13)[0])

    _, cache = render_forward(p["patch"], p["zw"], 13)
    dpatch, dz = render_backward(w, cache)
    check_gradients(loss, p, {"patch": dpatch, "zw": dz}, eps=1e-7).assert_ok(1e-6)


def test_crop_gradients_wrt_image_and_z_where():
    r = np.random.default_rng(1)
    p = {"image": _smooth(r, 3, 15), "zw": _zw(r, 3) * np.array([0.7, 1, 1])}
    w = r.normal(size=(3, 6, 6))

    def loss():
        return np.sum(w * crop_forward(p["image"], p["zw"], 6)[0])

    _, cache = crop_forward(p["image"], p["zw"], 6)
    dimage, dz = crop_backward(w, cache)
    check_gradients(loss, p, {"image": dimage, "zw": dz}, eps=1e-7).assert_ok(1e-6)


def test_render_then_crop_recovers_the_window_and_box_matches():
    """Identity at s = 1 and shift 0 with equal sizes; when window pixels land exactly on canvas
    pixels (s = canvas / window, shifts on the pixel lattice) crop inverts render exactly."""
    r = np.random.default_rng(2)
    patch = r.random((2, 10, 10))
    ident = np.array([[1.0, 0, 0], [1.0, 0, 0]])
    out, _ = render_forward(patch, ident, 10)
    np.testing.assert_allclose(out, patch, atol=1e-12)
    zw = np.array([[2.5, 0.3, -0.1], [2.5, -0.1, 0.5]])
    canvas, _ = render_forward(patch, zw, 25)
    back, _ = crop_forward(canvas, zw, 10)
    np.testing.assert_allclose(back, patch, atol=1e-9)
    box = window_box(zw, 25)
    np.testing.assert_allclose(box[:, 2], 25 / zw[:, 0])
    ink = canvas[0] > 1e-12
    rows, cols = np.where(ink.any(1))[0], np.where(ink.any(0))[0]
    assert abs(rows[0] - box[0, 0]) < 1.0 and abs(cols[0] - box[0, 1]) < 1.0

"""common.inference: what every paper's inference API validates, and the segmentation PNG."""

import numpy as np
import pytest

from common.inference import InputError, check_images, grouping_from_gamma, save_segmentation_png


def test_check_images_accepts_one_image_or_a_batch_in_every_layout():
    img = np.zeros((6, 6), np.float32)
    img[1:3, 1:3] = 1
    for x in (img, img.reshape(-1), img[None], img.reshape(1, -1)):
        out = check_images(x, (6, 6))
        assert out.shape == (1, 6, 6) and out.dtype == np.float32
    assert check_images(np.stack([img] * 4), (6, 6)).shape == (4, 6, 6)


def test_uint8_is_converted_and_bool_accepted():
    u = np.zeros((6, 6), np.uint8)
    u[0, 0] = 255
    u[0, 1] = 100
    out = check_images(u, (6, 6))
    assert out[0, 0, 0] == 1.0 and out[0, 0, 1] == pytest.approx(100 / 255)
    assert check_images(u, (6, 6), binary=True)[0, 0, 1] == 0.0
    assert check_images(u > 0, (6, 6))[0, 0, 1] == 1.0


@pytest.mark.parametrize("bad, match", [
    (np.full((6, 6), np.nan), "NaN"),
    (np.full((6, 6), -0.5), r"\[0, 1\]"),
    (np.full((6, 6), 255.0), "uint8"),
    (np.zeros((6, 6), np.int64), "int64"),
    (np.zeros((5, 6)), "shape"),
    (np.zeros((2, 3, 6, 6)), "shape"),
    (np.zeros((0, 6, 6)), "non-empty"),
])
def test_bad_images_are_refused_in_one_line(bad, match):
    with pytest.raises(InputError, match=match) as e:
        check_images(bad, (6, 6))
    assert "\n" not in str(e.value)


def test_grouping_from_gamma_and_png(tmp_path):
    images = np.zeros((2, 4, 4), np.float32)
    images[:, :2] = 1
    gammas = np.zeros((3, 2, 2, 16), np.float32)
    gammas[:, :, 1, :8] = 1            # ink rows belong to slot 1 ...
    gammas[0, :, 0, :] = 2             # ... except at gamma_0, where slot 0 holds everything
    g = grouping_from_gamma(images, gammas, np.zeros(2))
    assert g.labels.shape == (2, 4, 4) and g.labels_per_iteration.shape == (3, 2, 4, 4) and g.K == 2
    assert (g.labels[:, :2] == 1).all() and (g.labels[:, 2:] == -1).all()
    assert (g.labels_per_iteration[0][:, :2] == 0).all()
    p = g.save_png(tmp_path / "seg.png", index=1)
    assert p.stat().st_size > 0 and p.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(InputError):
        save_segmentation_png(tmp_path / "x.png", images[0], np.zeros((3, 3), int))

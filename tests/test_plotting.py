"""common.plotting: slot colours, colouring of groupings, image grids, caption strips and GIFs."""

import imageio.v3 as iio
import numpy as np
import pytest

from common.plotting import (BACKGROUND, SLOT_COLOURS, UNASSIGNED, colourise, image_grid, label_frame,
                             save_gif, soft_colourise)


def test_slot_colours_fixed_distinct_and_not_grey():
    assert SLOT_COLOURS.shape[1] == 3 and len(SLOT_COLOURS) >= 8
    assert np.all((SLOT_COLOURS >= 0) & (SLOT_COLOURS <= 1))
    first = SLOT_COLOURS[:9]
    dist = np.linalg.norm(first[:, None] - first[None], axis=-1) + np.eye(9)
    assert dist.min() > 0.15                                   # the first 9 are well apart
    assert np.linalg.norm(first - UNASSIGNED, axis=1).min() > 0.15  # grey stays reserved
    with pytest.raises(ValueError):
        SLOT_COLOURS[0, 0] = 0.0                               # read-only: colours cannot drift


def test_colourise_maps_slots_masks_background_and_greys_negatives():
    assign = np.array([[0, 1], [2, -1]])
    out = colourise(assign, K=3)
    assert out.shape == (2, 2, 3)
    np.testing.assert_allclose(out[0, 0], SLOT_COLOURS[0])
    np.testing.assert_allclose(out[1, 0], SLOT_COLOURS[2])
    np.testing.assert_allclose(out[1, 1], UNASSIGNED)
    masked = colourise(assign, images=np.array([[1.0, 0.0], [1.0, 1.0]]), K=3)
    np.testing.assert_allclose(masked[0, 1], BACKGROUND)
    np.testing.assert_allclose(masked[0, 0], SLOT_COLOURS[0])
    black = colourise(assign, images=np.zeros((2, 2)), background=(0, 0, 0))
    assert black.max() == 0
    batch = colourise(np.zeros((5, 4, 7, 7), dtype=np.int64))  # any leading dimensions
    assert batch.shape == (5, 4, 7, 7, 3)


@pytest.mark.parametrize("kwargs, match", [
    (dict(assign=np.zeros((2, 2))), "integer"),
    (dict(assign=np.array([[0, 4]]), K=4), "out of range"),
    (dict(assign=np.zeros((2, 2), int), K=99), "K must be"),
    (dict(assign=np.zeros(3, int)), "H, W"),
    (dict(assign=np.zeros((2, 2), int), images=np.zeros((3, 3))), "does not match"),
])
def test_colourise_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        colourise(**kwargs)


def test_soft_colourise_one_hot_equals_hard_and_is_masked():
    rng = np.random.default_rng(0)
    slots = rng.integers(0, 3, (6, 6))
    img = (rng.random((6, 6)) > 0.5).astype(float)
    gamma = np.moveaxis(np.eye(3)[slots], -1, 0)               # (K, H, W) one-hot
    np.testing.assert_allclose(soft_colourise(gamma, img), colourise(slots, img, 3))
    half = soft_colourise(np.full((2, 6, 6), 0.5), np.ones((6, 6)))
    np.testing.assert_allclose(half[0, 0], SLOT_COLOURS[:2].mean(0))
    with pytest.raises(ValueError, match="K, H, W"):
        soft_colourise(np.ones((6, 6)), img)
    with pytest.raises(ValueError, match="does not match"):
        soft_colourise(gamma, np.ones((5, 6)))
    with pytest.raises(ValueError, match="finite"):
        soft_colourise(gamma * np.nan, img)


def test_image_grid_writes_a_png_with_ragged_rows(tmp_path):
    rng = np.random.default_rng(0)
    rows = [[rng.random((28, 28)), colourise(rng.integers(0, 4, (28, 28)))],
            [rng.random((28, 28, 3)), None, np.zeros((28, 28), np.uint8)]]
    p = image_grid(rows, titles=["a", "b", "c"], row_labels=["r1", "r2"], path=tmp_path / "g.png",
                   suptitle="title", title_colours=["k", SLOT_COLOURS[1], "red"])
    img = iio.imread(p)
    assert p.exists() and img.ndim == 3 and img.shape[-1] in (3, 4)
    assert img.shape[0] > 150 and img.shape[1] > 300           # 2 x 3 cells of 1.2 inches at 100 dpi


@pytest.mark.parametrize("kwargs, match", [
    (dict(rows=[]), "at least one"),
    (dict(rows=[[np.zeros((4, 4, 2))]]), "row 0, column 0"),
    (dict(rows=[[np.zeros((4, 4))]], row_labels=["a", "b"]), "row labels"),
    (dict(rows=[[np.zeros((4, 4))]], titles=["a", "b"]), "titles"),
    (dict(rows=[[np.zeros((4, 4))]], cell_inches=0), "cell_inches"),
])
def test_image_grid_rejects_bad_input(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        image_grid(path=tmp_path / "x.png", **kwargs)


def test_label_frame_adds_a_caption_strip_keeping_dtype():
    f8 = np.zeros((30, 120, 3), np.uint8)
    out = label_frame(f8, "update 10", height=16)
    assert out.shape == (46, 120, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[:30], f8)
    strip = out[30:]
    assert strip.min() < 128 < strip.max()                     # dark text on a light strip
    ff = label_frame(np.ones((10, 50, 3), np.float32), "x")
    assert ff.dtype == np.float32 and ff.shape[1] == 50 and ff.max() <= 1.0
    with pytest.raises(ValueError, match="H, W, 3"):
        label_frame(np.zeros((10, 10)), "x")


def test_save_gif_upscales_loops_and_captions(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.random((3, 7, 9, 3))
    p = save_gif(frames, tmp_path / "a.gif", fps=5, upscale=4)
    back = iio.imread(p, index=None)
    assert back.shape == (3, 28, 36, 3)
    assert iio.immeta(p).get("loop") == 0                      # loops forever
    # Nearest-neighbour upscale: each source pixel is a constant 4x4 block.
    assert np.all(back[:, ::4, ::4] == back[:, 3::4, 3::4])
    grey = save_gif((rng.random((2, 5, 5)) * 255).astype(np.uint8), tmp_path / "b.gif", upscale=2,
                    captions=["one", "two"])
    g = iio.imread(grey, index=None)
    assert g.shape[0] == 2 and g.shape[2] == 10 and g.shape[1] > 10  # caption strip below
    one = iio.imread(save_gif(frames[:1], tmp_path / "c.gif", upscale=1), index=None)
    assert one.shape == (1, 7, 9, 3)


@pytest.mark.parametrize("frames, kwargs, match", [
    (np.zeros((0, 4, 4, 3)), {}, "N >= 1"),
    (np.zeros((2, 4, 4, 2)), {}, "N, H, W, 3"),
    (np.full((1, 4, 4, 3), np.nan), {}, "finite"),
    (np.zeros((1, 4, 4, 3)), dict(upscale=1.5), "upscale"),
    (np.zeros((1, 4, 4, 3)), dict(fps=0), "fps"),
    (np.zeros((2, 4, 4, 3)), dict(captions=["a"]), "captions"),
])
def test_save_gif_rejects_bad_input(tmp_path, frames, kwargs, match):
    with pytest.raises(ValueError, match=match):
        save_gif(frames, tmp_path / "x.gif", **kwargs)
    assert not (tmp_path / "x.gif").exists()

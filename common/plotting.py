"""Figure helpers shared by the papers: fixed slot colours, colouring of groupings, image grids and
GIFs. No paper logic lives here.

Everything draws with matplotlib's object-oriented API (``Figure`` + the Agg canvas), never
pyplot: no global figure registry to leak memory in long sessions and no display backend needed,
so the helpers work headless and never change the backend of a caller's interactive session.

Conventions: images are (H, W) floats in [0, 1] (binary data: 0 background, 1 foreground);
RGB images are (H, W, 3) floats in [0, 1]; a "slot assignment" is an int array of slot indices.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

__all__ = ["SLOT_COLOURS", "BACKGROUND", "UNASSIGNED", "colourise", "soft_colourise", "image_grid",
           "label_frame", "save_gif", "iteration_columns", "match_truth_to_slots", "truth_colours"]

# tab10 without its grey (grey is reserved for UNASSIGNED), then the light tab20 partners of the
# same hues. The first 9 are well separated; slots beyond 9 reuse hues in a lighter shade.
_TAB10_NO_GREY = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                  "#bcbd22", "#17becf"]
_TAB20_LIGHT_NO_GREY = ["#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2",
                        "#dbdb8d", "#9edae5"]


def _hex_to_rgb(h: str) -> tuple[float, float, float]:
    return tuple(int(h[i:i + 2], 16) / 255.0 for i in (1, 3, 5))


SLOT_COLOURS = np.array([_hex_to_rgb(h) for h in _TAB10_NO_GREY + _TAB20_LIGHT_NO_GREY])  # (18, 3)
SLOT_COLOURS.flags.writeable = False
BACKGROUND = np.array([1.0, 1.0, 1.0])   # white: pixels whose image value is 0
UNASSIGNED = np.array([0.5, 0.5, 0.5])   # grey: foreground pixels with a negative slot index


def _rgb(colour) -> np.ndarray:
    c = np.asarray(colour, dtype=np.float64)
    if c.shape != (3,) or not np.all((c >= 0) & (c <= 1)):
        raise ValueError(f"a colour must be 3 floats in [0, 1], got {colour!r}")
    return c


def colourise(assign, images=None, K: int | None = None, *, background=BACKGROUND,
              unassigned=UNASSIGNED) -> np.ndarray:
    """Colour each pixel by its slot: (..., H, W) int -> (..., H, W, 3) float in [0, 1].

    assign: slot index per pixel, 0..K-1 -> SLOT_COLOURS[k]; negative -> ``unassigned`` (grey),
        e.g. pass ``labels - 1`` to show ground truth whose label 0 marks overlap pixels.
    images: optional, same shape as ``assign``; pixels with value <= 0.5 (background of a binary
        image) are drawn in ``background`` whatever their slot.
    K: number of slots; every index must be < K (default: the number of SLOT_COLOURS).
    """
    a = np.asarray(assign)
    if a.ndim < 2:
        raise ValueError(f"assign must be (..., H, W), got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"assign must hold integer slot indices, got dtype {a.dtype}")
    K = len(SLOT_COLOURS) if K is None else int(K)
    if not 1 <= K <= len(SLOT_COLOURS):
        raise ValueError(f"K must be in 1..{len(SLOT_COLOURS)} (the number of SLOT_COLOURS), got {K}")
    if a.size and a.max() >= K:
        raise ValueError(f"slot index {int(a.max())} out of range for K={K}")
    out = SLOT_COLOURS[np.clip(a, 0, None)]
    out[a < 0] = _rgb(unassigned)
    if images is not None:
        im = np.asarray(images)
        if im.shape != a.shape:
            raise ValueError(f"images shape {im.shape} does not match assign shape {a.shape}")
        out[im <= 0.5] = _rgb(background)
    return out


def soft_colourise(gamma, image, *, background=BACKGROUND) -> np.ndarray:
    """Soft assignments as colour: gamma (K, H, W), image (H, W) -> (H, W, 3) float in [0, 1].

    Each pixel is the gamma-weighted mix of the slot colours, blended with ``background`` by the
    image value (so a binary image shows the mix on the foreground only). gamma should sum to 1
    over K; the result is clipped to [0, 1] either way.
    """
    g = np.asarray(gamma, dtype=np.float64)
    im = np.asarray(image, dtype=np.float64)
    if g.ndim != 3:
        raise ValueError(f"gamma must be (K, H, W), got shape {g.shape}")
    if not 1 <= g.shape[0] <= len(SLOT_COLOURS):
        raise ValueError(f"gamma has K={g.shape[0]} slots; SLOT_COLOURS covers 1..{len(SLOT_COLOURS)}")
    if im.shape != g.shape[1:]:
        raise ValueError(f"image shape {im.shape} does not match gamma's (H, W) = {g.shape[1:]}")
    if not (np.all(np.isfinite(g)) and np.all(np.isfinite(im))):
        raise ValueError("gamma and image must be finite")
    mix = np.einsum("khw,kc->hwc", g, SLOT_COLOURS[:g.shape[0]])
    w = np.clip(im, 0, 1)[..., None]
    return np.clip(w * mix + (1 - w) * _rgb(background), 0, 1)


def _check_image(img, where: str) -> np.ndarray:
    a = np.asarray(img)
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[-1] in (3, 4))):
        raise ValueError(f"{where}: expected an (H, W) or (H, W, 3) image, got shape {a.shape}")
    return a


def image_grid(rows: Sequence[Sequence], titles: Sequence[str] | None = None,
               row_labels: Sequence[str] | None = None, *, path, cell_inches: float = 1.2,
               suptitle: str | None = None, title_colours: Sequence | None = None,
               cmap: str = "gray_r", dpi: int = 100) -> Path:
    """Save a grid of images (one list per row) as a figure; returns the path.

    rows: rows of (H, W) images in [0, 1] (drawn with ``cmap``, vmin 0, vmax 1; the default
        gray_r draws 0 white like BACKGROUND) or (H, W, 3) RGB images; None leaves a cell blank,
        rows may differ in length.
    titles: column titles shown over the top row; title_colours optionally colours them.
    row_labels: one label per row, shown to the left.
    """
    rows = [list(r) for r in rows]
    if not rows or not any(rows):
        raise ValueError("image_grid needs at least one image")
    nrows, ncols = len(rows), max(len(r) for r in rows)
    if titles is not None and len(titles) > ncols:
        raise ValueError(f"{len(titles)} titles for {ncols} columns")
    if title_colours is not None and (titles is None or len(title_colours) != len(titles)):
        raise ValueError("title_colours needs one colour per title")
    if row_labels is not None and len(row_labels) != nrows:
        raise ValueError(f"{len(row_labels)} row labels for {nrows} rows")
    if cell_inches <= 0:
        raise ValueError(f"cell_inches must be > 0, got {cell_inches}")
    from matplotlib.figure import Figure

    head = 0.45 if suptitle else 0.0
    fig = Figure(figsize=(ncols * cell_inches + (0.4 if row_labels else 0), nrows * cell_inches + head),
                 dpi=dpi, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, row in enumerate(rows):
        for j in range(ncols):
            ax = axes[i, j]
            img = row[j] if j < len(row) else None
            # Ticks off but the axes kept (axis("off") would also hide the row label).
            ax.set_xticks([])
            ax.set_yticks([])
            for s in ax.spines.values():
                s.set_color("0.8")
            if img is None:
                ax.set_visible(j == 0 and row_labels is not None)
                continue
            a = _check_image(img, f"row {i}, column {j}")
            if a.ndim == 2:
                ax.imshow(a, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
            else:
                ax.imshow(a if a.dtype == np.uint8 else np.clip(a, 0, 1), interpolation="nearest")
    for j, t in enumerate(titles or []):
        colour = {} if title_colours is None else {"color": title_colours[j]}
        axes[0, j].set_title(t, fontsize=9, **colour)
    for i, lab in enumerate(row_labels or []):
        axes[i, 0].set_ylabel(lab, fontsize=9)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    path = Path(path)
    fig.savefig(path)
    return path


def label_frame(frame, text: str, *, height: int | None = None, background=BACKGROUND,
                colour=(0.0, 0.0, 0.0)) -> np.ndarray:
    """Add a caption strip under an RGB frame: (H, W, 3) -> (H + height, W, 3), same dtype.

    height defaults to max(14, min(28, W // 16)) pixels; the text is rendered with matplotlib and centred.
    """
    f = np.asarray(frame)
    if f.ndim != 3 or f.shape[-1] != 3:
        raise ValueError(f"frame must be (H, W, 3), got shape {f.shape}")
    W = f.shape[1]
    height = max(14, min(28, W // 16)) if height is None else int(height)
    if height < 1:
        raise ValueError(f"height must be >= 1, got {height}")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dpi = 100
    fig = Figure(figsize=(W / dpi, height / dpi), dpi=dpi, facecolor=_rgb(background))
    canvas = FigureCanvasAgg(fig)
    fig.text(0.5, 0.5, text, ha="center", va="center", color=_rgb(colour),
             fontsize=0.6 * height * 72 / dpi)
    canvas.draw()
    strip = np.asarray(canvas.buffer_rgba())[..., :3]
    # Figure sizes are rounded to whole pixels; crop or pad to exactly (height, W).
    strip = np.pad(strip[:height, :W], ((0, max(0, height - strip.shape[0])),
                                        (0, max(0, W - strip.shape[1])), (0, 0)), mode="edge")
    if f.dtype != np.uint8:
        strip = (strip / 255.0).astype(f.dtype)
    return np.concatenate([f, strip], axis=0)


def save_gif(frames, path, *, fps: float = 4.0, upscale: int = 4, captions: Sequence[str] | None = None,
             hold_last_s: float = 0.0) -> Path:
    """Write frames as a GIF that loops forever; returns the path.

    frames: (N, H, W, 3) RGB or (N, H, W) grey, floats in [0, 1] or uint8.
    upscale: integer nearest-neighbour magnification (28x28 frames are unreadable otherwise).
    captions: optional text per frame, drawn under the upscaled frame (``label_frame``).
    hold_last_s: extra seconds to show the last frame before the loop restarts.
    """
    f = np.asarray(frames)
    if f.ndim == 3:
        f = np.repeat(f[..., None], 3, axis=-1)
    if f.ndim != 4 or f.shape[-1] != 3 or len(f) == 0:
        raise ValueError(f"frames must be (N, H, W, 3) or (N, H, W) with N >= 1, got shape {np.shape(frames)}")
    if f.dtype != np.uint8:
        if not np.issubdtype(f.dtype, np.floating) or not np.all(np.isfinite(f)):
            raise ValueError(f"frames must be uint8 or finite floats in [0, 1], got dtype {f.dtype}")
        f = np.round(np.clip(f, 0, 1) * 255).astype(np.uint8)
    if int(upscale) != upscale or upscale < 1:
        raise ValueError(f"upscale must be an integer >= 1, got {upscale}")
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    if hold_last_s < 0:
        raise ValueError(f"hold_last_s must be >= 0, got {hold_last_s}")
    if captions is not None and len(captions) != len(f):
        raise ValueError(f"{len(captions)} captions for {len(f)} frames")
    up = int(upscale)
    f = np.repeat(np.repeat(f, up, axis=1), up, axis=2)
    if captions is not None:
        f = np.stack([label_frame(fr, str(c)) for fr, c in zip(f, captions)])
    import imageio.v3 as iio

    ms = 1000.0 / fps
    durations = [ms] * (len(f) - 1) + [ms + 1000.0 * hold_last_s]
    path = Path(path)
    # Pillow: duration in ms per frame, loop=0 = forever.
    iio.imwrite(path, f, extension=".gif", duration=durations if len(f) > 1 else durations[0], loop=0)
    return path


# ----------------------------------------------------------------------------- slot/iteration helpers

def iteration_columns(T: int, max_cols: int = 8) -> np.ndarray:
    """Indices of the EM iterations to show: all if T <= max_cols, else evenly spaced including
    the first and always the last."""
    if T < 1 or max_cols < 1:
        raise ValueError(f"T and max_cols must be >= 1, got {T}, {max_cols}")
    if T <= max_cols:
        return np.arange(T)
    return np.unique(np.round(np.linspace(0, T - 1, max_cols)).astype(int))


def match_truth_to_slots(labels: np.ndarray, slots: np.ndarray, K: int) -> np.ndarray:
    """Colour index for each true group so that it matches the slot covering it best.

    labels: (H, W) int, 0 = background/overlap, g >= 1 = group; slots: (H, W) int in 0..K-1.
    Returns m (labels.max() + 1,) with m[0] = -1 (grey overlap) and m[g] a slot index. Greedy
    one-to-one: the largest (group, slot) overlap first. Groups left over when there are more
    groups than slots get colours K, K+1, ... so they stay distinct.
    """
    G = int(labels.max()) if labels.size else 0
    counts = np.zeros((G + 1, K), dtype=np.int64)
    np.add.at(counts, (labels.ravel(), slots.ravel()), 1)
    counts[0] = -1  # label 0 is not a group
    m = np.full(G + 1, -1, dtype=np.int64)
    present = [g for g in range(1, G + 1) if np.any(labels == g)]
    c = counts.astype(float)
    for _ in range(min(len(present), K)):
        g, k = np.unravel_index(np.argmax(c), c.shape)
        m[g] = k
        c[g, :] = -np.inf
        c[:, k] = -np.inf
    extra = K
    for g in present:
        if m[g] < 0:
            m[g] = min(extra, len(SLOT_COLOURS) - 1)
            extra += 1
    return m


def truth_colours(labels: np.ndarray, images: np.ndarray, slots: np.ndarray | None = None, K: int = 0):
    """Ground truth as RGB; matched to ``slots`` if given, else group g gets colour g-1."""
    lab = labels.astype(np.int64)
    if slots is None:
        return colourise(lab - 1, images)
    return colourise(match_truth_to_slots(lab, slots, K)[lab], images)

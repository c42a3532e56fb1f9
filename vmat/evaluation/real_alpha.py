"""The real-alpha track of ``vmat eval``: photographs with true soft alpha, and a coarse mask to start from.

A folder laid out like the alphamatting.com training set::

    DIR/image/NAME.png    the photograph (RGB)
    DIR/alpha/NAME.png    its true alpha (grey, or RGB with equal channels)
    DIR/trimap1/NAME.png  optional: a trimap (0 background, 255 foreground, anything else unknown)

Every method gets the same coarse mask per image (:func:`coarse_mask`): the true alpha above 0.5, dilated
or eroded by a radius drawn from ``[-max_radius, max_radius]`` and shifted by up to ``max_shift`` on each
axis, both fractions of the image's longer side, drawn from a generator seeded by ``(seed, crc32(NAME))``,
so adding images does not change the others' masks. Each method turns (image, coarse mask) into an alpha
by running as a one-frame clip with one person (any method of :mod:`vmat.evaluation.methods`), and is
scored with :mod:`vmat.metrics.matting`:

- on the whole image: SAD and Grad and Conn in thousands, MSE x 1e3 (mean over the image);
- in the unknown band: the same sums over the band, MSE as the mean over the band's pixels. The band is
  the trimap's unknown region when ``trimap1/`` exists, otherwise the pixels within ``band`` (a fraction
  of the longer side, at least 1 px) of the true alpha's soft pixels (``0 < alpha < 1``) and of the edge
  of ``alpha > 0.5``. Conn is computed on the whole image first (connectivity is a global property) and
  its map summed over the band, as Deep Image Matting's evaluation does.

The results hold ``coarse-mask`` (the coarse mask itself as the alpha) and ``default`` (the pipeline's
default decomposer with its default options) besides the methods asked for.

This module also registers the ``pymatting`` method (when the optional ``pymatting`` package is installed):
pymatting's closed-form, KNN or LBDM solver on the same trimap the default decomposer builds from each
mask, the reference the default's own solver is measured against.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from vmat.decomposition import MaskMattingConfig
from vmat.errors import ConfigError, InputNotFoundError, NotMediaError
from vmat.evaluation.methods import Method, MethodInput, _baseline, method_factory, register_method
from vmat.geometry import morph, shift
from vmat.io.image_sequence import read_image
from vmat.matting import trimap_from_mask
from vmat.metrics.matting import CONN_SCALE, GRAD_SCALE, MSE_SCALE, SAD_SCALE, ErrorMaps
from vmat.pipeline.run import RunConfig

PYMATTING_SOLVERS = ("cf", "knn", "lbdm")


@register_method(
    "pymatting",
    "pymatting's solver (option solver=cf|knn|lbdm, default cf) on the trimap the default decomposer builds "
    "from each guidance mask (needs `pip install pymatting`)",
)
def make_pymatting(solver: str = "cf") -> Method:
    try:
        import pymatting
    except ImportError as error:
        raise ConfigError("the pymatting method needs the pymatting package: pip install pymatting") from error
    if solver not in PYMATTING_SOLVERS:
        raise ConfigError(f"pymatting's solver is one of {', '.join(PYMATTING_SOLVERS)}, not {solver!r}.")
    estimate = getattr(pymatting, f"estimate_alpha_{solver}")

    def mattes(image: np.ndarray, guidance: np.ndarray) -> np.ndarray:
        rgb = image.astype(np.float64) / 255.0
        alphas = []
        for k, mask in enumerate(guidance):
            others = guidance[np.arange(len(guidance)) != k].any(axis=0)
            trimap = trimap_from_mask(mask, MaskMattingConfig().trimap, others=others)
            alphas.append(np.clip(estimate(rgb, trimap.astype(np.float64)), 0.0, 1.0).astype(np.float32))
        return np.stack(alphas) if alphas else guidance.astype(np.float32)

    return _baseline(mattes)


COARSE_MASK = "coarse-mask"
DEFAULT = "default"
DEFAULT_SPEC = RunConfig.decomposer  # the decomposer names are also the eval methods' names
METRICS = ("sad", "mse", "grad", "conn", "sad_band", "mse_band", "grad_band", "conn_band")


@dataclass(frozen=True)
class CoarseMaskConfig:
    """How the coarse mask is made from the true alpha; sizes are fractions of the image's longer side."""

    threshold: float = 0.5
    max_radius: float = 0.01  # dilation (positive) or erosion (negative) radius drawn from [-max, max]
    max_shift: float = 0.005  # shift on each axis drawn from [-max, max]
    band: float = 0.01  # half-width of the unknown band when there is no trimap
    seed: int = 0


@dataclass(frozen=True)
class RealAlphaImage:
    """One image of the track: ``image (H, W, 3)`` uint8 RGB, ``alpha (H, W)`` float32 in [0, 1],
    ``band (H, W)`` bool (the unknown band) and where the band came from (``"trimap1"`` or ``"alpha"``)."""

    name: str
    image: np.ndarray
    alpha: np.ndarray
    band: np.ndarray
    band_source: str


def _pixels(fraction: float, shape: tuple[int, ...]) -> int:
    return round(fraction * max(shape[:2]))


def coarse_mask(alpha: np.ndarray, name: str, config: CoarseMaskConfig = CoarseMaskConfig()) -> np.ndarray:
    """The coarse mask ``(H, W)`` bool of image ``name`` from its true ``alpha (H, W)`` (module docstring)."""
    rng = np.random.default_rng([config.seed, zlib.crc32(name.encode())])
    max_radius, max_shift = _pixels(config.max_radius, alpha.shape), _pixels(config.max_shift, alpha.shape)
    radius = int(rng.integers(-max_radius, max_radius + 1))
    dy, dx = (int(v) for v in rng.integers(-max_shift, max_shift + 1, 2))
    return shift(morph(alpha > config.threshold, radius), dy, dx)


def alpha_band(alpha: np.ndarray, config: CoarseMaskConfig = CoarseMaskConfig()) -> np.ndarray:
    """The unknown band ``(H, W)`` bool around the true ``alpha`` when no trimap is given (module docstring)."""
    hard = (alpha > config.threshold).astype(np.uint8)
    edge = hard > cv2.erode(hard, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE)
    soft = (alpha > 0) & (alpha < 1)
    return morph(edge | soft, max(1, _pixels(config.band, alpha.shape)))


def _grey(path: Path, what: str) -> np.ndarray:
    pixels = _read(path)
    if not (np.array_equal(pixels[..., 0], pixels[..., 1]) and np.array_equal(pixels[..., 0], pixels[..., 2])):
        raise ConfigError(f"{path} is not a grey {what}: its colour channels differ.")
    return pixels[..., 0]


def _read(path: Path) -> np.ndarray:
    if not path.is_file():
        raise InputNotFoundError(
            f"{path} is missing: every image/NAME.png needs alpha/NAME.png (and trimap1/NAME.png when trimap1/ exists)."
        )
    pixels = read_image(path, alpha=False)
    if pixels is None:
        raise NotMediaError(f"{path} cannot be read as an image.")
    return pixels


def list_real_alpha(folder: Path) -> list[str]:
    """The image names of a real-alpha folder, checked for its layout (not yet for each file's content)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputNotFoundError(f"The real-alpha folder {folder} does not exist.")
    for sub in ("image", "alpha"):
        if not (folder / sub).is_dir():
            raise ConfigError(
                f"{folder} is not laid out as image/NAME.png + alpha/NAME.png (optional trimap1/NAME.png): "
                f"it has no {sub}/ folder."
            )
    names = sorted(p.stem for p in (folder / "image").glob("*.png") if not p.name.startswith("."))
    if not names:
        raise ConfigError(f"{folder / 'image'} holds no .png images.")
    return names


def load_real_alpha(folder: Path, name: str, config: CoarseMaskConfig = CoarseMaskConfig()) -> RealAlphaImage:
    """Read image ``name`` of ``folder`` with its alpha and unknown band, checking sizes."""
    folder = Path(folder)
    image = _read(folder / "image" / f"{name}.png")
    alpha = _grey(folder / "alpha" / f"{name}.png", "alpha").astype(np.float32) / 255.0
    height, width = image.shape[:2]

    def check_size(pixels: np.ndarray, path: Path) -> None:
        if pixels.shape[:2] != (height, width):
            raise ConfigError(f"{path} is {pixels.shape[1]}x{pixels.shape[0]} but its image is {width}x{height}.")

    check_size(alpha, folder / "alpha" / f"{name}.png")
    if (folder / "trimap1").is_dir():
        trimap_path = folder / "trimap1" / f"{name}.png"
        trimap = _grey(trimap_path, "trimap")
        check_size(trimap, trimap_path)
        band, source = (trimap > 0) & (trimap < 255), "trimap1"
    else:
        band, source = alpha_band(alpha, config), "alpha"
    return RealAlphaImage(name, image, alpha, band, source)


def score_alpha(pred: np.ndarray, gt: np.ndarray, band: np.ndarray) -> dict[str, float]:
    """The :data:`METRICS` of ``pred`` against ``gt`` (both ``(H, W)`` in [0, 1]) on the image and in ``band``."""
    maps = ErrorMaps.of(pred, gt)
    inside = max(int(band.sum()), 1)
    return {
        "sad": float(maps.absolute.sum() * SAD_SCALE),
        "mse": float(maps.squared.mean() * MSE_SCALE),
        "grad": float(maps.gradient.sum() * GRAD_SCALE),
        "conn": float(maps.connectivity.sum() * CONN_SCALE),
        "sad_band": float(maps.absolute[band].sum() * SAD_SCALE),
        "mse_band": float(maps.squared[band].sum() / inside * MSE_SCALE),
        "grad_band": float(maps.gradient[band].sum() * GRAD_SCALE),
        "conn_band": float(maps.connectivity[band].sum() * CONN_SCALE),
    }


def run_on_image(method: Method, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A method's alpha ``(H, W)`` float32 for one ``image (H, W, 3)`` uint8 and one person's ``mask (H, W)`` bool.

    An empty mask (eroded away) gives an all-zero alpha without running the method: there is no one to matte.
    """
    if not mask.any():
        return np.zeros(mask.shape, np.float32)
    outputs = list(method(iter([MethodInput(0, image, mask[None], [1])])))
    expected = (1, *mask.shape)
    if len(outputs) != 1 or np.shape(outputs[0].alpha) != expected:
        shapes = [np.shape(o.alpha) for o in outputs]
        raise ConfigError(
            f"the method returned {len(outputs)} frame(s) of alphas {shapes} for one image, expected one of {expected}."
        )
    return np.clip(np.asarray(outputs[0].alpha[0], np.float32), 0.0, 1.0)


@dataclass
class RealAlphaResults:
    """``methods``: ``{name: {"spec": spec, **mean metrics, "images": {image: metrics}}}`` with ``coarse-mask``
    first, then ``default``, then the methods asked for; ``band_source``: ``{image: "trimap1" | "alpha"}``."""

    methods: dict[str, dict]
    band_source: dict[str, str]


def evaluate_real_alpha(
    folder: Path,
    specs: Sequence[str],
    config: CoarseMaskConfig = CoarseMaskConfig(),
    *,
    on_image: Callable[[str], None] | None = None,
) -> RealAlphaResults:
    """Score ``coarse-mask``, ``default`` and each method spec (``NAME[:k=v,...]``; the names ``coarse-mask``
    and ``default`` are always there and may be repeated) on every image of ``folder``.

    Images are read one at a time; each method gets a fresh instance per image, and a spec asked for twice
    (``default`` is ``mask-matting`` today) runs once. ``on_image(name)`` is called before each image.
    """
    names = list_real_alpha(folder)
    asked = [spec for spec in dict.fromkeys(specs) if spec not in (COARSE_MASK, DEFAULT)]
    runs = list(dict.fromkeys([DEFAULT_SPEC, *asked]))
    factories = {spec: method_factory(spec) for spec in runs}  # bad specs fail before any image
    rows: dict[str, dict[str, dict[str, float]]] = {COARSE_MASK: {}, **{spec: {} for spec in runs}}
    band_source: dict[str, str] = {}
    for name in names:
        if on_image is not None:
            on_image(name)
        item = load_real_alpha(folder, name, config)
        band_source[name] = item.band_source
        mask = coarse_mask(item.alpha, name, config)
        rows[COARSE_MASK][name] = score_alpha(mask.astype(np.float32), item.alpha, item.band)
        for spec, factory in factories.items():
            rows[spec][name] = score_alpha(run_on_image(factory(), item.image, mask), item.alpha, item.band)

    def entry(spec: str) -> dict:
        means = {key: float(np.mean([row[key] for row in rows[spec].values()])) for key in METRICS}
        return {"spec": spec, **means, "images": rows[spec]}

    methods = {COARSE_MASK: entry(COARSE_MASK), DEFAULT: entry(DEFAULT_SPEC)} | {spec: entry(spec) for spec in asked}
    return RealAlphaResults(methods, band_source)


# (key, column title, format); all lower is better. SAD, Grad, Conn in thousands, MSE x 1e3.
COLUMNS = (
    ("sad", "SAD↓", "{:.2f}"),
    ("mse", "MSE↓", "{:.2f}"),
    ("grad", "Grad↓", "{:.2f}"),
    ("conn", "Conn↓", "{:.2f}"),
    ("sad_band", "SAD band↓", "{:.2f}"),
    ("mse_band", "MSE band↓", "{:.2f}"),
    ("grad_band", "Grad band↓", "{:.2f}"),
    ("conn_band", "Conn band↓", "{:.2f}"),
)

UNITS = (
    "SAD, Grad, Conn: /1000 summed over the image (or the band); MSE: x1e-3, mean over the image (or the band's pixels); "
    "band: the trimap's unknown region when trimap1/ exists, else the pixels near the true alpha's soft edge."
)


def format_real_alpha_table(results: RealAlphaResults, verbose: bool = False) -> str:
    """Markdown table: one mean row per method (``spec`` in brackets when it differs from the name),
    followed by its per-image rows when ``verbose``."""
    header = ["method", "image"] + [title for _, title, _ in COLUMNS]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for name, entry in results.methods.items():
        label = name if entry["spec"] in (name, COARSE_MASK) else f"{name} ({entry['spec']})"
        rows = [("mean", entry)] + (list(entry["images"].items()) if verbose else [])
        for image, row in rows:
            lines.append("| " + " | ".join([label, image] + [fmt.format(row[key]) for key, _, fmt in COLUMNS]) + " |")
    return "\n".join(lines)

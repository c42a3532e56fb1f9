"""Colour conventions for decoding YUV video to RGB and encoding RGB back to YUV.

The classic silent error in video tools is converting with the wrong matrix: libswscale assumes BT.601
when a stream does not say, while HD video is almost always BT.709, so colours shift. vmat never relies on
that default:

- Decoding uses the stream's own matrix and range tags. When a stream has no tag, vmat assumes what
  players assume: BT.709 for HD (height >= 720 or width >= 1280), BT.601 below, limited ("tv") range for
  YUV and full ("pc") range for the ``yuvj*`` formats. :class:`ColourInfo` records whether it was assumed.
- Encoding always converts with BT.709 in limited range and writes all four tags (matrix, range,
  primaries, transfer) so that players need not guess.

Only the matrix and range are converted; primaries and transfer are passed through as tags (vmat does no
gamut or HDR tone mapping: 10-bit PQ/HLG input is decoded to 8-bit RGB as is).
"""

from __future__ import annotations

from dataclasses import dataclass

from av.video.reformatter import ColorPrimaries, ColorRange, ColorTrc, Colorspace

# FFmpeg's AVColorSpace values (what streams and frames report) -> libswscale's matrices (what it converts with).
_MATRIX_BY_AVCOL_SPC = {
    1: Colorspace.ITU709,
    4: Colorspace.FCC,
    5: Colorspace.ITU601,  # BT.470BG
    6: Colorspace.ITU601,  # SMPTE 170M, the same matrix
    7: Colorspace.SMPTE240M,
    9: Colorspace.BT2020,  # BT.2020 non-constant luminance
    10: Colorspace.BT2020,  # BT.2020 constant luminance: nearest matrix libswscale has
}
_MATRIX_NAMES = {
    Colorspace.ITU709: "bt709",
    Colorspace.FCC: "fcc",
    Colorspace.ITU601: "bt601",
    Colorspace.SMPTE240M: "smpte240m",
    Colorspace.BT2020: "bt2020",
}
_RANGE_NAMES = {ColorRange.MPEG: "tv", ColorRange.JPEG: "pc"}
_AVCOL_SPC_RGB = 0
_UNSPECIFIED = 2  # the same value in AVColorSpace, AVColorPrimaries and AVColorTransferCharacteristic

OUTPUT_MATRIX = Colorspace.ITU709
OUTPUT_RANGE = ColorRange.MPEG


@dataclass(frozen=True)
class ColourInfo:
    """How a video's pixels map to RGB.

    ``matrix`` is ``"bt709"``, ``"bt601"``, ``"bt2020"``, ``"smpte240m"``, ``"fcc"`` or ``"rgb"`` (no matrix);
    ``range`` is ``"tv"`` (limited, 16-235) or ``"pc"`` (full, 0-255); ``primaries`` and ``transfer`` are
    FFmpeg's tag values (2 = unspecified). ``assumed`` is true when the stream carried no matrix or range tag
    and vmat chose one by the rules in this module.
    """

    matrix: str
    range: str
    primaries: int
    transfer: int
    assumed: bool

    @property
    def sws_matrix(self) -> Colorspace | None:
        return None if self.matrix == "rgb" else {v: k for k, v in _MATRIX_NAMES.items()}[self.matrix]

    @property
    def sws_range(self) -> ColorRange:
        return ColorRange.JPEG if self.range == "pc" else ColorRange.MPEG


def resolve_colour(
    avcol_spc: int,
    avcol_range: int,
    primaries: int,
    transfer: int,
    *,
    pixel_format: str,
    width: int,
    height: int,
) -> ColourInfo:
    """Decide the matrix and range to decode a stream with, from its tags and, where untagged, its size."""
    is_rgb = avcol_spc == _AVCOL_SPC_RGB or pixel_format.startswith(("rgb", "bgr", "gbr", "argb", "abgr", "gray", "pal", "ya"))
    if is_rgb:
        return ColourInfo("rgb", "pc", primaries, transfer, assumed=False)
    assumed = False
    if avcol_spc in _MATRIX_BY_AVCOL_SPC:
        matrix = _MATRIX_BY_AVCOL_SPC[avcol_spc]
    else:
        matrix = Colorspace.ITU709 if (height >= 720 or width >= 1280) else Colorspace.ITU601
        assumed = True
    if avcol_range in (ColorRange.MPEG, ColorRange.JPEG):
        colour_range = ColorRange(avcol_range)
    else:
        colour_range = ColorRange.JPEG if pixel_format.startswith("yuvj") else ColorRange.MPEG
        assumed = True
    return ColourInfo(_MATRIX_NAMES[matrix], _RANGE_NAMES[colour_range], primaries, transfer, assumed)


def output_tags(source: ColourInfo | None) -> dict[str, int]:
    """Codec-context colour tags for an encoded YUV output.

    The matrix and range are always BT.709 limited range (what the writer converts with); primaries and
    transfer pass through from the source when it declared them, since vmat does not convert the gamut.
    """
    primaries = int(ColorPrimaries.BT709)
    transfer = int(ColorTrc.BT709)
    if source is not None and source.primaries not in (0, _UNSPECIFIED):
        primaries = source.primaries
    if source is not None and source.transfer not in (0, _UNSPECIFIED):
        transfer = source.transfer
    return {
        "colorspace": int(OUTPUT_MATRIX),
        "color_range": int(OUTPUT_RANGE),
        "color_primaries": primaries,
        "color_trc": transfer,
    }

"""Sizes of the MP-Mat network, as named configurations."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from vmat.errors import ConfigError


@dataclass(frozen=True)
class MPMatConfig:
    """Every size the network is built from; a checkpoint stores these values so it rebuilds itself.

    ``queries`` counts the instance queries (the background query comes on top, so the output has
    ``1 + queries`` planes); the first ``guided_slots`` of them are tied to guidance masks, the rest are free.
    Old checkpoints store no ablation switches; :meth:`from_dict` then gives them their defaults (all on).
    """

    name: str = "small"
    encoder_channels: tuple[int, int] = (16, 32)  # at 1/2 and 1/4 resolution
    encoder_blocks: int = 1  # residual blocks at 1/4 resolution
    feature_channels: int = 48  # C: the scene features at 1/4 resolution
    planes: int = 4  # N: planes of the scene geometry-level representation
    plane_channels: int = 32  # width of the plane feature extractor E_d and its attention
    interpreter_channels: tuple[int, int, int] = (8, 16, 24)  # UNet H at 1/4, 1/8, 1/16 resolution
    hidden: int = 64  # width of the instance queries and the transformer decoder
    heads: int = 4
    decoder_layers: int = 2
    feedforward: int = 128
    queries: int = 12  # K
    guided_slots: int = 8  # M: people a frame can hold by guidance
    embedding: int = 24  # per-pixel embedding width (opacity and colour embeddings are dotted with it)
    uncertain_fraction: float = 0.10  # T: share of most uncertain pixels that guide refinement
    # Ablation switches (tables 2-4); all True is the full MP-Mat, each False removes one component.
    use_depth: bool = True  # False: the network sees zeros for depth (RGB only, "w/o depth")
    use_planes: bool = True  # False: no Plane Generation Network, SG-MP is the scene features alone
    background_instance: bool = True  # False: no background colour estimation, plane 0's colour is the image
    colour_estimation: bool = True  # False: no colour planes at all, every plane's colour is the image
    refinement: bool = True  # False: no uncertainty-guided refinement (T = 0)

    def __post_init__(self) -> None:
        if self.queries < self.guided_slots:
            raise ConfigError(f"An MP-Mat config needs at least as many queries as guided slots ({self.guided_slots}).")
        if not 0.0 < self.uncertain_fraction <= 1.0:
            raise ConfigError("The uncertain fraction T of an MP-Mat config must lie in (0, 1].")

    @property
    def sg_mp_planes(self) -> int:
        """Plane masks in SG-MP: ``planes``, or 0 when the Plane Generation Network is ablated."""
        return self.planes if self.use_planes else 0

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, object]) -> MPMatConfig:
        """Rebuild from :meth:`to_dict` output (JSON turns tuples into lists; they are turned back).

        Fields missing from ``values`` (a checkpoint written before they existed) take their defaults.
        """
        known = {field.name: field for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"Unknown MP-Mat config fields {unknown}; the checkpoint is from another version.")
        fixed = {key: tuple(value) if isinstance(value, list) else value for key, value in values.items()}
        return cls(**fixed)


# Appendix B/E sizes: N = 10 planes, K = 25 queries, T = 10 %; the widths give 17.54 M
# parameters, the 17.52 M of table 8.
PAPER = MPMatConfig(
    name="paper",
    encoder_channels=(64, 256),
    encoder_blocks=4,
    feature_channels=256,
    planes=10,
    plane_channels=128,
    interpreter_channels=(32, 64, 128),
    hidden=256,
    heads=8,
    decoder_layers=6,
    feedforward=2048,
    queries=25,
    guided_slots=8,
    embedding=88,
    uncertain_fraction=0.10,
)

# Trains and runs on a 2-core CPU.
SMALL = MPMatConfig()

# The small network with one component removed, for the ablations of tables 2-4.
_ABLATIONS = {
    "small-nodepth": "use_depth",
    "small-noplanes": "use_planes",
    "small-nobackground": "background_instance",
    "small-nocolour": "colour_estimation",
    "small-norefine": "refinement",
}

CONFIGS: dict[str, MPMatConfig] = {
    "paper": PAPER,
    "small": SMALL,
    **{name: dataclasses.replace(SMALL, name=name, **{switch: False}) for name, switch in _ABLATIONS.items()},
}


def get_config(name: str) -> MPMatConfig:
    """The named configuration; an unknown name raises :class:`ConfigError`."""
    try:
        return CONFIGS[name]
    except KeyError:
        raise ConfigError(f"Unknown MP-Mat config {name!r}; choose one of {sorted(CONFIGS)}.") from None

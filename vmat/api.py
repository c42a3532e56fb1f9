"""One-call functions (the Robust Video Matting ``convert_video`` style), thin over
:func:`vmat.pipeline.run.run_clip`::

    import vmat

    vmat.run("dance.mp4", "out", prompt="people.json", remove=[2], background="#00b140", process_size=640)
    vmat.matte("dance.mp4", "mattes", prompt="people.json")   # each person's matte and RGBA video

Options are the fields of :class:`~vmat.pipeline.run.RunConfig` and of its edit (``remove``, ``reorder``,
``background``, ``keep_shadow``, ``keep_hidden``, ``drag``) by name, checked as every other source of options is
(:func:`vmat.pipeline.config_file.coerce_options`): ``vmat.run(clip, out, crf=20)`` means what
``crf = 20`` in a ``--config`` file and ``--crf 20`` on the command line mean. ``config`` is a base
configuration: a :class:`RunConfig` or a TOML file's path; keyword options go over it.
"""

from __future__ import annotations

import os
from typing import Any

from vmat.pipeline.config_file import load_run_config, run_config_from_mapping
from vmat.pipeline.run import RunConfig, RunSummary, run_clip
from vmat.io.atomic import check_output_folder

PathLike = str | os.PathLike[str]


def run(
    source: PathLike,
    output_dir: PathLike = "vmat_out",
    *,
    prompt: PathLike | None = None,
    remove: tuple[int, ...] | list[int] | None = None,
    background: str | None = None,
    process_size: int | None = None,
    config: RunConfig | PathLike | None = None,
    overwrite: bool = False,
    **options: Any,
) -> RunSummary:
    """Run the whole pipeline on ``source`` and write its outputs into the folder ``output_dir``, as
    ``vmat run -o`` does: ``CLIP.vmat.mp4`` (the edited video) and ``CLIP.ids.png`` (each person's id), and
    whatever the options add (``write_layers``, ``write_masks``, ``write_people``).

    ``prompt``: a JSON prompt file or an id-mask PNG (of frame ``prompt_frame``); without one (nor
    ``masks_folder``) the people are found on the first frame. ``remove``: person ids to remove;
    ``background``: ``#rrggbb``, ``r,g,b``, ``blur:SIGMA``, an image or a video; ``process_size``: the
    longer side the models work at. Returns what was written and how long each stage took.
    Raises :class:`vmat.errors.VmatError` (one-sentence message) for anything the caller can fix.
    """
    named = {"prompt": prompt, "remove": remove, "background": background, "process_size": process_size}
    options = {name: value for name, value in named.items() if value is not None} | options
    folder = check_output_folder(output_dir, "output_dir")
    return run_clip(source, folder, _config(config, options, "vmat.run"), overwrite=overwrite)


def matte(
    source: PathLike,
    output_dir: PathLike,
    *,
    prompt: PathLike | None = None,
    config: RunConfig | PathLike | None = None,
    overwrite: bool = False,
    **options: Any,
) -> RunSummary:
    """Write each person of ``source`` into the folder ``output_dir`` as ``CLIP.personID.matte.mp4`` (the alpha,
    grey) and ``CLIP.personID.webm`` (colour and alpha, VP9), with ``CLIP.ids.png`` showing who is who; no
    edited video. ``prompt`` and the options are those of :func:`run`."""
    options = {"write_people": True, "write_video": False} | ({"prompt": prompt} if prompt is not None else {}) | options
    folder = check_output_folder(output_dir, "output_dir")
    return run_clip(source, folder, _config(config, options, "vmat.matte"), overwrite=overwrite)


def _config(base: RunConfig | PathLike | None, options: dict[str, Any], source: str) -> RunConfig:
    if base is not None and not isinstance(base, RunConfig):
        base = load_run_config(base)
    return run_config_from_mapping(options, source, base)

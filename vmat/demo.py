"""The quick start's main job, on a clip vmat generates, so that it runs on a fresh machine with no footage."""

from __future__ import annotations

import tempfile
from pathlib import Path

from vmat.errors import OutputError
from vmat.io import VideoWriter
from vmat.io.test_pattern import write_tone
from vmat.pipeline.edits import EditSpec
from vmat.pipeline.run import RunConfig, run_clip
from vmat.propagation.idmask import mask_path, write_id_mask
from vmat.synthetic.scene import SceneConfig, SyntheticScene

DEMO_SCENE = SceneConfig(level="medium", camera="static", width=640, height=360, num_frames=48, fps=24.0, seed=7)


def make_demo_clip(folder: Path, scene_config: SceneConfig = DEMO_SCENE) -> tuple[Path, Path, list[int]]:
    """Write ``folder/demo.mp4`` (a generated multi-person scene with a tone) and its per-frame id masks.

    Returns the clip, the id-mask folder and the people's ids.
    """
    scene = SyntheticScene(scene_config)
    clip, masks = folder / "demo.mp4", folder / "demo.masks"
    masks.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".vmat-demo-", dir=folder) as scratch:
        tone = write_tone(Path(scratch) / "tone.m4a", seconds=scene_config.num_frames / scene_config.fps)
        with VideoWriter(clip, fps=scene_config.fps, audio_from=tone) as writer:
            for frame in scene.frames():
                writer.write(frame.image)
                write_id_mask(mask_path(masks, frame.index), frame.id_map)
    return clip, masks, scene.instance_ids


def run_demo(folder: Path, scene_config: SceneConfig = DEMO_SCENE) -> list[str]:
    """Generate the demo clip and run the main job on it: remove one person and replace the background.

    Returns one line per output written.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create output folder {str(folder)!r}: {error.strerror}") from None
    clip, masks, ids = make_demo_clip(folder, scene_config)
    config = RunConfig(masks_folder=str(masks), edit=EditSpec(remove=(ids[0],), background="#2f6fb0"))
    summary = run_clip(clip, folder, config)
    return [f"wrote {clip} (generated input, {len(ids)} people, ids {ids}) and {masks}/ (their id masks)", summary.describe()]

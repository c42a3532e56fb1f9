"""The quick start's main job, on a clip vmat generates, so that it runs on a fresh machine with no footage."""

from __future__ import annotations

import tempfile
from pathlib import Path

from vmat.io import VideoWriter
from vmat.io.atomic import check_new_output, created_folder
from vmat.io.test_pattern import write_tone
from vmat.pipeline.edits import EditSpec
from vmat.pipeline.run import RunConfig, run_clip, run_outputs
from vmat.propagation.idmask import write_id_mask
from vmat.synthetic.scene import SceneConfig, SyntheticScene

DEMO_SCENE = SceneConfig(level="medium", camera="static", width=640, height=360, num_frames=48, fps=24.0, seed=7)


def make_demo_clip(folder: Path, scene_config: SceneConfig = DEMO_SCENE) -> tuple[Path, Path, list[int]]:
    """Write ``folder/demo.mp4`` (a generated multi-person scene with a tone) and ``folder/demo.prompt.png``,
    the id mask of its first frame: the prompt a user would draw to name the people.

    Returns the clip, the prompt and the people's ids.
    """
    scene = SyntheticScene(scene_config)
    clip, prompt = folder / "demo.mp4", folder / "demo.prompt.png"
    with tempfile.TemporaryDirectory(prefix=".vmat-demo-", dir=folder) as scratch:
        tone = write_tone(Path(scratch) / "tone.m4a", seconds=scene_config.num_frames / scene_config.fps)
        with VideoWriter(clip, fps=scene_config.fps, audio_from=tone) as writer:
            for frame in scene.frames():
                writer.write(frame.image)
                if frame.index == 0:
                    write_id_mask(prompt, frame.id_map)
    return clip, prompt, scene.instance_ids


def run_demo(folder: Path, scene_config: SceneConfig = DEMO_SCENE, *, overwrite: bool = False) -> list[str]:
    """Generate the demo clip and run the main job on it from a first-frame prompt: masks propagated through
    the clip, layers, background completion, one person removed and the background replaced.

    Outputs already in ``folder`` are an error unless ``overwrite``. Returns one line per output written.
    """
    clip, prompt = folder / "demo.mp4", folder / "demo.prompt.png"
    for output in (clip, prompt, *run_outputs(clip, folder, RunConfig(prompt=str(prompt), write_layers=True))):
        check_new_output(output, overwrite=overwrite)
    with created_folder(folder):
        clip, prompt, ids = make_demo_clip(folder, scene_config)
    config = RunConfig(prompt=str(prompt), write_layers=True, edit=EditSpec(remove=(ids[0],), background="#2f6fb0"))
    summary = run_clip(clip, folder, config, overwrite=overwrite)
    return [
        f"wrote {clip} (generated input, {len(ids)} people, ids {ids}) and {prompt} (their ids on frame 0)",
        summary.describe(),
    ]

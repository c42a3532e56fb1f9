"""The weights that ship inside the package load on a fresh install and do what they were trained for."""

import pytest
import torch

from vmat.decomposition.build import build_decomposer, shipped_mpmat_checkpoint
from vmat.decomposition.mpmat import read_checkpoint
from vmat.synthetic import SceneConfig, SyntheticScene


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_the_shipped_mpmat_weights_load_strictly_and_find_each_guided_person():
    path = shipped_mpmat_checkpoint()
    assert path is not None and path.stat().st_size < 5_000_000
    config, _ = read_checkpoint(path)
    assert config.name == "small"
    frame = next(
        iter(SyntheticScene(SceneConfig(level="medium", width=192, height=128, num_frames=3, seed=3, namespace="eval")).frames())
    )
    stack = build_decomposer("mpmat").decompose(frame.image, frame.id_map, instance_ids=frame.instance_ids)
    stack.validate()
    weights = stack.weights().numpy()
    present = [(plane, instance) for plane, instance in enumerate(stack.ids) if plane > 0 and (frame.id_map == instance).any()]
    assert present
    for plane, instance in present:
        truth = frame.alpha[frame.instance_ids.index(instance)] > 0.5
        found = weights[plane] > 0.5
        # An untrained network spreads its weight over all planes: no person's IoU comes near this.
        assert (found & truth).sum() / (found | truth).sum() > 0.6, instance


def test_the_shipped_temporal_refiner_loads_for_the_refiner_mode():
    from vmat.pipeline.run import RunConfig, stage_factories
    from vmat.pipeline.stages import HOLD_WHERE_STILL
    from vmat.temporal.build import shipped_temporal_checkpoint

    assert shipped_temporal_checkpoint() is not None
    # The last worker runs the camera estimate, then the temporal stage.
    temporal = [factory() for factory in stage_factories(RunConfig(masks_folder=".", temporal="refiner"))][-1].stages[-1]
    assert temporal.name == "temporal" and temporal.model is not None and temporal.config == HOLD_WHERE_STILL
    default = [factory() for factory in stage_factories(RunConfig(masks_folder="."))][-1].stages[-1]
    assert default.name == "temporal" and default.model is None and default.config == HOLD_WHERE_STILL
    # Trained: its decoder's last layer is no longer the zero it starts from.
    assert temporal.model.residual.weight.abs().sum() > 0

"""The temporal options of the pipeline-stage eval methods: the rows of MaGGIe's table-13 ablation."""

import numpy as np
import pytest
import torch

from vmat.errors import ConfigError
from vmat.evaluation import evaluate, method_factory
from vmat.evaluation.stage_methods import PipelineOptions, jitter_guidance
from vmat.pipeline.stages import HOLD_WHERE_STILL, TemporalStage
from vmat.synthetic import ensure_suite
from vmat.temporal import save_temporal_checkpoint
from vmat.temporal.refiner import TemporalRefiner, TemporalRefinerConfig


@pytest.fixture(scope="module")
def smoke_clips(tmp_path_factory):
    return ensure_suite("smoke", tmp_path_factory.mktemp("suite"))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = TemporalRefiner(TemporalRefinerConfig(features=8, hidden=8, decoder=8, gru="forward"))
    torch.nn.init.normal_(model.residual.weight, std=0.1)
    return save_temporal_checkpoint(model, tmp_path_factory.mktemp("weights") / "t.safetensors")


def test_every_frame_comes_back_and_fusion_none_is_the_base_decomposer(smoke_clips):
    results = evaluate(
        {
            "base": method_factory("mask-matting"),
            "no-fusion": method_factory("mask-matting:temporal=fusion,fusion=none,blend=0"),
            "fusion": method_factory("mask-matting:temporal=fusion,fusion=both,change=frames,jitter=2"),
            "jittered": method_factory("mask-matting:jitter=2"),
        },
        smoke_clips,
    )
    assert results["fusion"]["all"]["frames"] == 18
    for key in ("sad", "mse", "dtssd", "depth_order_accuracy"):
        assert results["no-fusion"]["all"][key] == pytest.approx(results["base"]["all"][key], rel=1e-9), key
    assert results["fusion"]["all"]["dtssd"] != results["jittered"]["all"]["dtssd"]


@pytest.mark.parametrize("fusion", ["none", "both"])  # forward and backward alone: tests/temporal/test_streaming.py
def test_the_refiner_runs_every_fusion_mode(smoke_clips, checkpoint, fusion):
    spec = f"mask-matting:temporal=refiner,temporal_checkpoint={checkpoint},fusion={fusion},gru_lookahead=2,lookahead=2"
    results = evaluate({"refiner": method_factory(spec)}, smoke_clips[:1])
    row = results["refiner"]["all"]
    assert row["frames"] == 6 and np.isfinite(row["sad"]) and np.isfinite(row["dtssd"])


def test_bad_options_are_config_errors(checkpoint):
    with pytest.raises(ConfigError, match="temporal mode"):
        method_factory("mask-matting:temporal=sideways")
    with pytest.raises(ConfigError, match="fusion mode"):
        method_factory("mask-matting:temporal=fusion,fusion=sideways")
    with pytest.raises(ConfigError, match="trained temporal refiner"):
        method_factory("mask-matting:temporal=fusion,change=predicted")
    with pytest.raises(ConfigError, match="no weights"):
        method_factory(f"mask-matting:temporal=fusion,temporal_checkpoint={checkpoint}")
    with pytest.raises(ConfigError, match="jitter"):
        method_factory("mask-matting:jitter=-1")


def test_jitter_is_a_seeded_per_frame_erosion_or_dilation():
    guidance = np.zeros((2, 21, 21), bool)
    guidance[:, 5:16, 5:16] = True
    first = jitter_guidance(guidance, 3, 2)
    assert np.array_equal(first, jitter_guidance(guidance, 3, 2))
    sizes = {int(jitter_guidance(guidance, index, 2)[0].sum()) for index in range(20)}
    assert len(sizes) > 2 and 121 in sizes  # several radii drawn, 0 among them
    assert np.array_equal(jitter_guidance(guidance, 3, 0), guidance)


def test_the_network_can_be_the_base(smoke_clips, tmp_path):
    from vmat.decomposition.mpmat import build_mpmat, save_checkpoint

    torch.manual_seed(0)
    weights = tmp_path / "mpmat.safetensors"
    save_checkpoint(build_mpmat("small"), weights)
    results = evaluate({"network": method_factory(f"mpmat:checkpoint={weights},temporal=fusion,change=frames")}, smoke_clips[:1])
    assert results["network"]["all"]["frames"] == 6


def test_temporal_options_default_to_the_pipelines_temporal_stage():
    assert PipelineOptions(temporal="fusion").temporal_stage().config == TemporalStage().config == HOLD_WHERE_STILL
    with pytest.raises(ConfigError, match="fall-off"):
        method_factory("mask-matting:temporal=fusion,soften=-1")

from fractions import Fraction

import numpy as np
import pytest
import torch

from vmat.io.frame import Frame
from vmat.layers import LayerStack
from vmat.pipeline import FrameRecord, run_stages
from vmat.pipeline.stages import TemporalStage
from vmat.temporal import StreamConfig


def _record(index, image_value, alpha_value):
    image = np.full((4, 5, 3), image_value, np.uint8)
    alpha = torch.stack([torch.ones(4, 5), torch.full((4, 5), alpha_value)])
    stack = LayerStack(torch.zeros(2, 3, 4, 5), alpha, torch.tensor([float("inf"), 1.0]), (0, 7))
    record = FrameRecord(Frame(index, image, index, Fraction(1, 25)))
    record.layers = stack
    return record


@pytest.mark.parametrize("change", ["frames", "flow"])
def test_a_still_frame_holds_the_matte_and_a_changed_frame_keeps_its_own(change):
    # frames 0-2 identical pictures, matte jitters by 0.01; frame 3 changes picture and matte
    records = [_record(0, 50, 0.60), _record(1, 50, 0.61), _record(2, 50, 0.60), _record(3, 200, 0.20)]
    # Fusion alone (the flow blend would move the still band's 0.61 halfway to 0.60 before fusion sees it).
    stage = TemporalStage(None, StreamConfig(fusion_lookahead=4, tolerance=0.02, change=change, flow_blend=0.0))
    out = list(run_stages(iter(records), [stage], info=None, batch_size=2))
    assert [r.index for r in out] == [0, 1, 2, 3]
    values = [float(r.layers.alpha[1, 0, 0]) for r in out]
    assert np.allclose(values, [0.60, 0.60, 0.60, 0.20])  # frame 1 would be 0.61 without fusion
    assert all(float(r.layers.alpha[0].min()) == 1.0 for r in out)  # the background plane is untouched


def test_people_out_of_view_pass_through_and_the_default_is_weight_free_flow_fusion():
    stage = TemporalStage()
    assert stage.model is None and stage.config.change == "flow"
    records = [_record(i, 50, 0.5) for i in range(3)]
    records[1].layers = records[1].layers.replace(alpha=torch.stack([torch.ones(4, 5), torch.zeros(4, 5)]))
    out = list(run_stages(iter(records), [stage], info=None, batch_size=1))
    assert [float(r.layers.alpha[1].max()) for r in out] == [0.5, 0.0, 0.5]


def test_the_default_holds_a_wandering_matte_while_the_picture_holds():
    # A matte that wanders by far more than eq. 14's tolerance (as propagated masks do) over a still picture:
    # the default forward fusion holds the first value; the eq. 12-14 check would let every frame keep its own.
    alphas = [0.60, 0.80, 0.45, 0.75]
    records = [_record(i, 50, a) for i, a in enumerate(alphas)] + [_record(4, 200, 0.20)]
    out = list(run_stages(iter(records), [TemporalStage()], info=None, batch_size=1))
    assert [round(float(r.layers.alpha[1, 2, 2]), 6) for r in out] == [0.60, 0.60, 0.60, 0.60, 0.20]
    records = [_record(i, 50, a) for i, a in enumerate(alphas)]
    both = TemporalStage(None, StreamConfig(fusion="both", change="flow", fusion_lookahead=4, flow_blend=0.0))
    assert [
        round(float(r.layers.alpha[1, 2, 2]), 6) for r in run_stages(iter(records), [both], info=None, batch_size=1)
    ] == alphas

from __future__ import annotations

import pytest
import torch

from vmat.depth import DepthEstimator, GroundPlaneDepth, build_depth_estimator
from vmat.errors import ConfigError


def test_default_is_the_weight_free_ground_plane():
    estimator = build_depth_estimator()
    assert isinstance(estimator, GroundPlaneDepth) and isinstance(estimator, DepthEstimator)
    assert estimator.name == "ground-plane" and estimator.device == torch.device("cpu")


def test_horizon_is_passed_through():
    assert build_depth_estimator("ground-plane", horizon=0.25).config.horizon == 0.25


def test_unknown_name():
    with pytest.raises(ConfigError, match="Unknown depth stage 'midas'"):
        build_depth_estimator("midas")


def test_dav2_needs_a_checkpoint():
    with pytest.raises(ConfigError, match="needs the path"):
        build_depth_estimator("dav2-small")


def test_ground_plane_takes_no_checkpoint(tmp_path):
    with pytest.raises(ConfigError, match="uses no weights"):
        build_depth_estimator("ground-plane", checkpoint=tmp_path / "x.pth")

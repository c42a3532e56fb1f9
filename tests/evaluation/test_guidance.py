"""Where the eval's guidance masks come from: propagated from frame 0, perturbed, or exact."""

import numpy as np
import pytest

from vmat.errors import ConfigError
from vmat.evaluation import evaluate, method_factory
from vmat.evaluation.guidance import (
    DEFAULT_PROPAGATOR,
    clip_guidance,
    guidance_label,
    masks_of_ids,
    parse_guidance,
)
from vmat.synthetic import ensure_suite


@pytest.fixture(scope="module")
def smoke_clips(tmp_path_factory):
    return ensure_suite("smoke", tmp_path_factory.mktemp("suite"))


def test_parse_and_label():
    assert parse_guidance("propagated") == ("propagated", DEFAULT_PROPAGATOR)
    assert parse_guidance("propagated:prior") == ("propagated", "prior")
    assert parse_guidance("perturbed") == ("perturbed", None) and parse_guidance("exact") == ("exact", None)
    assert guidance_label("exact") == "exact (upper bound)" and guidance_label("propagated:copy") == "propagated (copy)"
    for bad in ("sideways", "propagated:nobody", "exact:flow"):
        with pytest.raises(ConfigError):
            parse_guidance(bad)


def test_masks_of_ids_hand_computed():
    ids = np.array([[0, 3, 5], [5, 0, 3]])
    np.testing.assert_array_equal(masks_of_ids(ids, [5, 3, 7]), [
        [[False, False, True], [True, False, False]],
        [[False, True, False], [False, False, True]],
        [[False, False, False], [False, False, False]],
    ])


def test_exact_guidance_is_the_visible_alpha(smoke_clips):
    with clip_guidance(smoke_clips[0], "exact") as guidance:
        for frame in smoke_clips[0]:
            np.testing.assert_array_equal(guidance(frame), frame.alpha > 0)


def test_propagated_guidance_starts_from_frame_0s_truth_and_only_that(smoke_clips):
    # The copy propagator repeats its start: every frame then gets frame 0's ground-truth id map.
    clip = smoke_clips[2]
    first = next(iter(clip))
    with clip_guidance(clip, "propagated:copy") as guidance:
        masks = [guidance(frame) for frame in clip]
    for mask in masks:
        np.testing.assert_array_equal(mask, masks_of_ids(first.id_map, clip.instance_ids))
    assert not np.array_equal(masks[-1], list(clip)[-1].alpha > 0)  # the people moved; the masks did not


def test_perturbed_guidance_is_seeded_and_not_the_truth(smoke_clips):
    clip = smoke_clips[1]
    frames = list(clip)
    with clip_guidance(clip, "perturbed", seed=0) as a, clip_guidance(clip, "perturbed", seed=0) as b, \
            clip_guidance(clip, "perturbed", seed=1) as c:
        first, again, other = ([g(f) for f in frames] for g in (a, b, c))
    np.testing.assert_array_equal(np.stack(first), np.stack(again))
    assert not np.array_equal(np.stack(first), np.stack(other))
    exact = np.stack([f.alpha > 0 for f in frames])
    assert not np.array_equal(np.stack(first), exact)
    # Every person present keeps a mask (no drops or merges in the eval's perturbation), near where they are.
    for masks, frame in zip(first, frames):
        for mask, alpha in zip(masks, frame.alpha):
            if (alpha > 0.9).sum() > 50:
                assert mask.any() and (mask & (alpha > 0)).sum() > 0.5 * mask.sum()


def test_guidance_settings_change_the_scores(smoke_clips):
    scores = {g: evaluate({"gt-hard": method_factory("gt-hard")}, smoke_clips, guidance=g)["gt-hard"]["all"]
              for g in ("exact", "perturbed", "propagated:copy")}
    # gt-hard copies its guidance, so it is scored on the masks themselves: the exact ones are the best.
    assert scores["perturbed"]["sad"] > scores["exact"]["sad"]
    assert scores["propagated:copy"]["sad"] > scores["exact"]["sad"]
    with pytest.raises(ConfigError):
        evaluate({"gt-hard": method_factory("gt-hard")}, smoke_clips, guidance="nope")

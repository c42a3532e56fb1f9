from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from tests.propagation.scenes import texture
from vmat.propagation.prompts import (
    Box,
    Click,
    FramePrompt,
    InstancePrompt,
    PromptError,
    Scribble,
    apply_prompt,
    boxes_prompt,
    load_prompts,
    prompts_by_frame,
    segment_instance,
)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


@pytest.fixture
def scene():
    """A blue-ish textured disc and a red-ish textured square on a grey-green textured background."""
    rng = np.random.default_rng(0)
    image = texture(rng, 90, 130, 60, 140)
    image[..., 1] = np.clip(image[..., 1].astype(int) + 40, 0, 255)
    disc = np.zeros((90, 130), np.uint8)
    cv2.circle(disc, (40, 45), 22, 1, -1)
    disc = disc.astype(bool)
    square = np.zeros((90, 130), bool)
    square[25:65, 80:115] = True
    image[disc] = texture(rng, 90, 130, 0, 60)[disc] + np.array([0, 0, 150], np.uint8)
    image[square] = texture(rng, 90, 130, 0, 60)[square] + np.array([170, 0, 0], np.uint8)
    return image, disc, square


def test_box_prompt_segments_the_object(scene):
    image, disc, _ = scene
    mask = segment_instance(image, InstancePrompt(1, box=Box(14, 19, 67, 72)))
    assert _iou(mask, disc) > 0.9


def test_positive_click_alone_segments_the_object(scene):
    image, _, square = scene
    mask = segment_instance(image, InstancePrompt(2, clicks=(Click(97, 45),)))
    assert _iou(mask, square) > 0.85


def test_negative_click_and_scribble_remove_regions(scene):
    image, disc, square = scene
    box = InstancePrompt(1, box=Box(10, 15, 120, 75))
    both = segment_instance(image, box)
    assert both[disc].mean() > 0.9 and both[square].mean() > 0.9
    refined = segment_instance(
        image,
        InstancePrompt(
            1, clicks=(Click(97, 45, positive=False),), scribbles=(Scribble(((90, 30), (105, 60)), positive=False, width=5),)
        ),
        previous=both,
    )
    assert refined[disc].mean() > 0.9
    assert refined[square].mean() < 0.1


def test_prompt_without_region_or_seed_is_an_error(scene):
    image, _, _ = scene
    with pytest.raises(PromptError):
        segment_instance(image, InstancePrompt(1, clicks=(Click(5, 5, positive=False),)))


def test_box_outside_the_frame_is_an_error(scene):
    image, _, _ = scene
    with pytest.raises(PromptError):
        segment_instance(image, InstancePrompt(1, box=Box(500, 500, 600, 600)))


def test_rounds_combine_and_keep_other_instances(scene):
    image, disc, square = scene
    first = apply_prompt(image, FramePrompt(0, instances=(InstancePrompt(1, box=Box(14, 19, 67, 72)),)))
    assert set(np.unique(first).tolist()) == {0, 1}
    second = apply_prompt(image, FramePrompt(0, instances=(InstancePrompt(2, clicks=(Click(97, 45),)),)), first)
    assert _iou(second == 1, first == 1) == 1.0  # untouched instance kept exactly
    assert _iou(second == 2, square) > 0.85


def test_id_mask_prompt_replaces_its_ids_only():
    image = np.zeros((4, 5, 3), np.uint8)
    previous = np.array([[1, 1, 0, 2, 2]] * 4, np.uint16)
    given = np.zeros((4, 5), np.uint16)
    given[0, 2] = 1
    out = apply_prompt(image, FramePrompt(0, id_mask=given), previous)
    expected = np.array([[0, 0, 0, 2, 2]] * 4, np.uint16)
    expected[0, 2] = 1
    np.testing.assert_array_equal(out, expected)


def test_id_mask_of_the_wrong_size_is_an_error():
    with pytest.raises(PromptError):
        apply_prompt(np.zeros((4, 5, 3), np.uint8), FramePrompt(0, id_mask=np.zeros((4, 4), np.uint16)))


def test_load_prompts_reads_every_kind(tmp_path):
    from vmat.propagation.idmask import write_id_mask

    write_id_mask(tmp_path / "ids.png", np.array([[0, 3]], np.uint8))
    document = {
        "prompts": [
            {"frame": 4, "id_mask": "ids.png"},
            {
                "frame": 4,
                "instances": [
                    {"id": 1, "box": [1, 2, 30, 40]},
                    {
                        "id": 2,
                        "clicks": [[5, 6], [7, 8, False]],
                        "scribbles": [{"points": [[1, 1], [2, 3]], "positive": False, "width": 3}],
                    },
                ],
            },
            {"frame": 0, "instances": [{"id": 1, "clicks": [[3, 3, True]]}]},
        ]
    }
    (tmp_path / "p.json").write_text(json.dumps(document))
    rounds = load_prompts(tmp_path / "p.json")
    assert [r.frame for r in rounds] == [4, 4, 0]
    np.testing.assert_array_equal(rounds[0].id_mask, [[0, 3]])
    assert rounds[1].instances == (
        InstancePrompt(1, box=Box(1, 2, 30, 40)),
        InstancePrompt(2, clicks=(Click(5, 6, True), Click(7, 8, False)), scribbles=(Scribble(((1, 1), (2, 3)), False, 3),)),
    )
    grouped = prompts_by_frame(rounds)
    assert sorted(grouped) == [0, 4] and len(grouped[4]) == 2


@pytest.mark.parametrize(
    "document",
    [
        "not json",
        {"no": "prompts"},
        {"prompts": [{"instances": []}]},
        {"prompts": [{"frame": 0}]},
        {"prompts": [{"frame": 0, "instances": [{"box": [1, 2, 3, 4]}]}]},
        {"prompts": [{"frame": 0, "instances": [{"id": 1, "box": [1, 2]}]}]},
    ],
)
def test_malformed_prompt_files_are_prompt_errors(tmp_path, document):
    (tmp_path / "p.json").write_text(document if isinstance(document, str) else json.dumps(document))
    with pytest.raises(PromptError):
        load_prompts(tmp_path / "p.json")


def test_boxes_prompt_numbers_instances():
    prompt = boxes_prompt(3, [Box(0, 0, 2, 2), Box(5, 5, 9, 9)], first_id=4)
    assert prompt.frame == 3
    assert [(i.id, i.box) for i in prompt.instances] == [(4, Box(0, 0, 2, 2)), (5, Box(5, 5, 9, 9))]

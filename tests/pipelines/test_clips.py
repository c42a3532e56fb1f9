from __future__ import annotations

import json

import pytest

from pipelines.clips import ClipJob, find_clips, safe_key
from vmat.errors import ConfigError, InputNotFoundError
from vmat.pipeline.edits import EditSpec
from vmat.pipeline.run import RunConfig


@pytest.fixture()
def tree(tmp_path):
    for name in ["a.mp4", "sub/b.mov", "sub/deeper/c.MKV", "notes.txt", "sub/.hidden.mp4", "sub/.b.partial-0a1b2c3d.mp4"]:
        path = tmp_path / "in" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    return tmp_path / "in"


def test_folder_is_searched_recursively_and_mirrored(tree):
    jobs = find_clips(tree)
    assert [job.key for job in jobs] == ["a", "sub/b", "sub/deeper/c"]
    assert jobs[1].source == tree / "sub" / "b.mov"


def test_glob_mirrors_the_tree_below_its_first_wildcard(tree):
    jobs = find_clips(str(tree / "sub" / "**" / "*"))
    assert [job.key for job in jobs] == ["b", "deeper/c"]


def test_single_file(tree):
    assert [job.key for job in find_clips(tree / "a.mp4")] == ["a"]


def test_missing_input(tmp_path):
    with pytest.raises(InputNotFoundError):
        find_clips(tmp_path / "nothing")


def test_same_output_folder_twice_is_refused(tree):
    (tree / "a.mov").write_bytes(b"x")
    with pytest.raises(ConfigError, match="share the output folder 'a'"):
        find_clips(tree)


@pytest.mark.parametrize("name", ["../up", "/abs/path", "a/../../b", "", ".", "..\\win"])
def test_output_names_never_escape(name):
    with pytest.raises(ConfigError):
        safe_key(name)


def test_safe_key_normalises():
    assert safe_key("x/./y") == "x/y"
    assert safe_key("x\\y") == "x/y"


def test_csv_manifest_options_are_typed(tree):
    manifest = tree / "clips.csv"
    manifest.write_text(
        "clip,output,background,remove,reorder,complete_background,batch_size\n"
        "a.mp4,first,#00b140,\"1,2\",2;1,false,3\n"
        "sub/b.mov,,,,,,\n"
    )
    first, second = find_clips(manifest)
    assert first == ClipJob("first", tree / "a.mp4", {
        "background": "#00b140", "remove": (1, 2), "reorder": (2, 1), "complete_background": False, "batch_size": 3,
    })
    assert second == ClipJob("sub/b", tree / "sub" / "b.mov", {})
    config = first.config(RunConfig(masks_folder="m"))
    assert config.edit == EditSpec(remove=(1, 2), reorder=(2, 1), background="#00b140")
    assert (config.complete_background, config.batch_size, config.masks_folder) == (False, 3, "m")


def test_jsonl_manifest_with_separate_root(tree, tmp_path):
    manifest = tmp_path / "clips.jsonl"
    manifest.write_text(json.dumps({"clip": "sub/b.mov", "remove": [3], "crf": 20}) + "\n\n")
    (job,) = find_clips(tree, manifest)
    assert job == ClipJob("sub/b", tree / "sub" / "b.mov", {"remove": (3,), "crf": 20})


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"clip": "a.mp4", "output": "../x"}, "inside the output folder"),
        ({"clip": "a.mp4", "output": "/etc"}, "inside the output folder"),
        ({"clip": "a.mp4", "colour": "red"}, "unknown option 'colour'"),
        ({"clip": "a.mp4", "batch_size": "four"}, "'batch_size' cannot be 'four'"),
        ({"clip": "a.mp4", "reorder": [1, 2, 3]}, "'reorder' cannot be"),
        ({"clip": "a.mp4", "write_video": "maybe"}, "'write_video' cannot be"),
        ({"output": "x"}, "no 'clip' column"),
    ],
)
def test_bad_manifest_rows(tree, row, message):
    manifest = tree / "bad.jsonl"
    manifest.write_text(json.dumps(row) + "\n")
    with pytest.raises(ConfigError, match=message):
        find_clips(manifest)


def test_masks_found_next_to_the_clip(tree):
    (tree / "a.masks").mkdir()
    (job,) = [job for job in find_clips(tree) if job.key == "a"]
    assert job.config(RunConfig()).masks_folder == str(tree / "a.masks")
    assert job.config(RunConfig(masks_folder="given")).masks_folder == "given"
    assert ClipJob("b", tree / "sub" / "b.mov").config(RunConfig()).masks_folder is None

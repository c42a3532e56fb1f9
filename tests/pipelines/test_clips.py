from __future__ import annotations

import json

import pytest

from vmat.pipelines.clips import ClipJob, find_clips, safe_key
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
    assert [job.key for job in jobs] == ["a.mp4", "sub/b.mov", "sub/deeper/c.MKV"]
    assert jobs[1].source == tree / "sub" / "b.mov"


def test_glob_mirrors_the_tree_below_its_first_wildcard(tree):
    jobs = find_clips(str(tree / "sub" / "**" / "*"))
    assert [job.key for job in jobs] == ["b.mov", "deeper/c.MKV"]


def test_single_file(tree):
    assert [job.key for job in find_clips(tree / "a.mp4")] == ["a.mp4"]


def test_missing_input(tmp_path):
    with pytest.raises(InputNotFoundError):
        find_clips(tmp_path / "nothing")


def test_clips_never_share_or_nest_output_folders(tree):
    # Issue 18.6: a.mp4 and a/b.mp4 both reported done while a's commit deleted a/b's folder.
    for name in ["a.mov", "a/b.mp4", "a/a.mp4"]:
        (tree / name).parent.mkdir(exist_ok=True)
        (tree / name).write_bytes(b"x")
    keys = [job.key for job in find_clips(tree)]
    assert keys == ["a.mov", "a.mp4", "a/a.mp4", "a/b.mp4", "sub/b.mov", "sub/deeper/c.MKV"]
    assert not [(a, b) for a in keys for b in keys if b.startswith(a + "/")]


def test_clips_in_hidden_folders_are_not_searched(tree):
    (tree / ".cache").mkdir()
    (tree / ".cache" / "x.mp4").write_bytes(b"x")
    assert [job.key for job in find_clips(tree)] == ["a.mp4", "sub/b.mov", "sub/deeper/c.MKV"]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"clip": "a.mp4", "output": "x"}, {"clip": "sub/b.mov", "output": "x"}], "share the output folder 'x'"),
        ([{"clip": "a.mp4", "output": "x"}, {"clip": "sub/b.mov", "output": "x/y"}], "'x/y' .* would be inside 'x'"),
    ],
)
def test_manifest_outputs_that_collide_are_refused(tree, rows, message):
    manifest = tree / "clips.jsonl"
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with pytest.raises(ConfigError, match=message):
        find_clips(manifest)


@pytest.mark.parametrize(
    "name",
    [
        "../up", "/abs/path", "a/../../b", "", ".", "..\\win",
        # Issue 18.6: the job's own files and hidden names (vmat's temporaries) are not outputs.
        "vmat-batch-report.json", "vmat-batch.json", ".vmat-batch.lock", "vmat-batch.json/x", "a/.hidden", ".x.partial-0123abcd",
    ],
)
def test_output_names_never_escape_nor_take_reserved_names(name):
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
    assert second == ClipJob("sub/b.mov", tree / "sub" / "b.mov", {})
    config = first.config(RunConfig(masks_folder="m"))
    assert config.edit == EditSpec(remove=(1, 2), reorder=(2, 1), background="#00b140")
    assert (config.complete_background, config.batch_size, config.masks_folder) == (False, 3, "m")


def test_jsonl_manifest_with_separate_root(tree, tmp_path):
    manifest = tmp_path / "clips.jsonl"
    manifest.write_text(json.dumps({"clip": "sub/b.mov", "remove": [3], "crf": 20}) + "\n\n")
    (job,) = find_clips(tree, manifest)
    assert job == ClipJob("sub/b.mov", tree / "sub" / "b.mov", {"remove": (3,), "crf": 20})


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"clip": "a.mp4", "output": "../x"}, "inside the output folder"),
        ({"clip": "a.mp4", "output": "/etc"}, "inside the output folder"),
        ({"clip": "a.mp4", "colour": "red"}, "unknown option 'colour'"),
        ({"clip": "a.mp4", "batch_size": "four"}, 'batch_size must be an integer, not "four"'),
        ({"clip": "a.mp4", "reorder": [1, 2, 3]}, r"reorder must be a list of 2 integers, not \[1, 2, 3\]"),
        ({"clip": "a.mp4", "write_video": "maybe"}, 'write_video must be true or false, not "maybe"'),
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
    (job,) = [job for job in find_clips(tree) if job.key == "a.mp4"]
    assert job.config(RunConfig()).masks_folder == str(tree / "a.masks")
    assert job.config(RunConfig(masks_folder="given")).masks_folder == "given"
    assert ClipJob("b", tree / "sub" / "b.mov").config(RunConfig()).masks_folder is None

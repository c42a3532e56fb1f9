"""One configuration surface: the same settings as `vmat run` flags, a TOML file, a CSV or JSONL manifest row,
`vmat batch` flags and Python keywords give the same RunConfig; bad keys and types are one line naming the source."""

from __future__ import annotations

import argparse
from dataclasses import replace
import json
import tomllib

import pytest

from vmat.cli import batch_cmd
from vmat.cli.main import main
from vmat.errors import ConfigError
from vmat.pipeline.config_file import coerce_options, load_run_config, run_config_from_mapping
from vmat.pipeline.edits import EditSpec
from vmat.pipeline.run import RunConfig
from vmat.pipelines.clips import find_clips

# The settings every source below spells its own way.
EXPECTED = RunConfig(
    prompt="people.json", temporal="off", process_size=640, complete_background=False, crf=20, batch_size=2,
    edit=EditSpec(remove=(2, 3), background="#00b140", keep_shadow=True, keep_hidden=True),
)
TOML = """
prompt = "people.json"
temporal = "off"
process_size = 640
complete_background = false
crf = 20
batch_size = 2

[edit]
remove = [2, 3]
background = "#00b140"
keep_shadow = true
keep_hidden = true
"""


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "walk.mp4"
    path.write_bytes(b"")  # find_clips only needs it to exist
    return path


def test_flags_toml_manifests_batch_and_python_agree(tmp_path, clip, capsys):
    toml_file = tmp_path / "run.toml"
    toml_file.write_text(TOML)
    assert load_run_config(toml_file) == EXPECTED

    flags = [
        "--prompt", "people.json", "--temporal", "off", "--process-size", "640", "--no-completion", "--crf", "20",
        "--batch-size", "2", "--remove", "2", "3", "--background", "#00b140", "--keep-shadow", "--keep-hidden",
    ]
    assert main(["run", str(clip), *flags, "--print-config"]) == 0
    assert run_config_from_mapping(tomllib.loads(capsys.readouterr().out)) == EXPECTED

    csv = tmp_path / "clips.csv"
    csv.write_text(
        "clip,prompt,temporal,process_size,complete_background,crf,batch_size,remove,background,keep_shadow,keep_hidden\n"
        'walk.mp4,people.json,off,640,false,20,2,"2,3",#00b140,yes,yes\n'
    )
    (job,) = find_clips(csv)
    assert job.config(RunConfig()) == EXPECTED

    row = {
        "clip": "walk.mp4", "prompt": "people.json", "temporal": "off", "process_size": 640, "complete_background": False,
        "crf": 20, "batch_size": 2, "remove": [2, 3], "background": "#00b140", "keep_shadow": True, "keep_hidden": True,
    }
    jsonl = tmp_path / "clips.jsonl"
    jsonl.write_text(json.dumps(row) + "\n")
    (job,) = find_clips(jsonl)
    assert job.config(RunConfig()) == EXPECTED

    python = {name: value for name, value in row.items() if name != "clip"} | {"remove": (2, 3)}
    assert run_config_from_mapping(python, "vmat.run") == EXPECTED


def test_batch_config_file_with_flags_over_it(tmp_path):
    toml_file = tmp_path / "run.toml"
    toml_file.write_text(TOML)
    parser = argparse.ArgumentParser(prog="vmat")
    parser.add_argument("-q", "--quiet", action="store_true")
    batch_cmd.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["batch", "in", "out", "--config", str(toml_file), "--crf", "23", "--background", "blur:4"])
    assert batch_cmd.run_config(args) == RunConfig(
        **{**EXPECTED.__dict__, "crf": 23, "edit": replace(EXPECTED.edit, background="blur:4")}
    )
    # Flags left out keep the file's values, not the flags' defaults.
    assert batch_cmd.run_config(parser.parse_args(["batch", "in", "out", "--config", str(toml_file)])) == EXPECTED


def test_a_manifest_overrides_the_job_config_per_clip(tmp_path, clip):
    csv = tmp_path / "clips.csv"
    csv.write_text("clip,crf,remove\nwalk.mp4,30,4\n")
    (job,) = find_clips(csv)
    config = job.config(EXPECTED)
    assert (config.crf, config.edit.remove, config.edit.background, config.process_size) == (30, (4,), "#00b140", 640)


@pytest.mark.parametrize(
    ("data", "text", "message"),
    [
        ({"bogus": 1}, False, "src: unknown option 'bogus'; known: masks_folder, "),
        ({"edit": {"swap": [1, 2]}}, False, "src: unknown option 'edit.swap'"),
        ({"edit": {"crf": 3}}, False, "src: unknown option 'edit.crf'"),  # run options do not belong in [edit]
        ({"batch_size": "4"}, False, 'src: batch_size must be an integer, not "4"'),  # TOML/JSON: types are kept
        ({"batch_size": "four"}, True, 'src: batch_size must be an integer, not "four"'),
        ({"batch_size": True}, False, "src: batch_size must be an integer, not true"),
        ({"batch_size": 2.5}, False, "src: batch_size must be an integer, not 2.5"),
        ({"process_size": "big"}, True, 'src: process_size must be an integer, not "big"'),
        ({"temporal": True}, False, "src: temporal must be one of off, fusion, refiner, not true"),
        ({"backend": "ffmpeg"}, False, 'src: backend must be one of pyav, decord, not "ffmpeg"'),
        ({"write_video": "maybe"}, True, 'src: write_video must be true or false, not "maybe"'),
        ({"remove": ["a"]}, False, 'src: remove must be a list of integers, not ["a"]'),
        ({"edit": {"reorder": [1]}}, False, "src: edit.reorder must be a list of 2 integers, not [1]"),
        ({"reorder": "1,2,3"}, True, 'src: reorder must be a list of 2 integers, not "1,2,3"'),
        ({"edit": 3}, False, "src: edit must be a table of edits"),
        ({"remove": [1], "edit": {"remove": [2]}}, False, "src: remove is given twice"),
    ],
)
def test_bad_options_are_one_line_naming_source_and_key(data, text, message):
    with pytest.raises(ConfigError) as error:
        coerce_options(data, "src", text=text)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_text_values_are_parsed_only_for_text_sources():
    assert coerce_options({"crf": "20", "remove": "1;2", "complete_background": "off", "end": "9"}, "s", text=True) == {
        "crf": 20, "remove": (1, 2), "complete_background": False, "end": 9,
    }
    with pytest.raises(ConfigError, match="crf must be an integer"):
        coerce_options({"crf": "20"}, "s")


def test_python_paths_are_strings_and_an_edit_spec_is_kept_whole(tmp_path):
    edit = EditSpec(reorder=(1, 2))
    config = run_config_from_mapping({"prompt": tmp_path / "p.json", "edit": edit, "background": "#000000"}, "vmat.run")
    assert config.prompt == str(tmp_path / "p.json")
    assert config.edit == EditSpec(reorder=(1, 2), background="#000000")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ('{"clip": "walk.mp4", "colour": "red"}', "clips.jsonl row 1: unknown option 'colour'"),
        ('{"clip": "walk.mp4", "crf": "20"}', 'clips.jsonl row 1: crf must be an integer, not "20"'),
    ],
)
def test_bad_manifest_rows_name_the_row(tmp_path, clip, row, message):
    jsonl = tmp_path / "clips.jsonl"
    jsonl.write_text(row + "\n")
    with pytest.raises(ConfigError, match=message):
        find_clips(jsonl)


def test_a_bad_config_file_for_batch_is_one_line_and_exit_2(tmp_path, capsys):
    toml_file = tmp_path / "run.toml"
    toml_file.write_text("crf = 'high'\n")
    assert main(["batch", str(tmp_path), str(tmp_path / "out"), "--runner", "inprocess", "--config", str(toml_file)]) == 2
    err = capsys.readouterr().err
    assert f"{toml_file}: crf must be an integer" in err and len(err.strip().splitlines()) == 1

"""Run configurations as TOML files: round trip, checks and command-line overrides."""

import tomllib

import pytest

from vmat.cli.main import main
from vmat.errors import ConfigError
from vmat.pipeline.config_file import config_to_toml, run_config_from_mapping
from vmat.pipeline.edits import EditSpec
from vmat.pipeline.run import RunConfig


def test_a_config_written_as_toml_reads_back_the_same():
    config = RunConfig(
        prompt="box.json", propagator="flow", depth="dav2-small", temporal="refiner", temporal_checkpoint="t.safetensors",
        process_size=640, crf=20, batch_size=2,
        edit=EditSpec(remove=(2, 3), reorder=(1, 4), background="#00b140"),
    )
    assert run_config_from_mapping(tomllib.loads(config_to_toml(config))) == config
    assert run_config_from_mapping(tomllib.loads(config_to_toml(RunConfig()))) == RunConfig()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"bogus": 1}, "unknown option 'bogus'"),
        ({"batch_size": "4"}, 'batch_size must be an integer, not "4"'),
        ({"batch_size": True}, "batch_size must be an integer, not true"),
        ({"temporal": True}, "temporal must be one of off, fusion, refiner, not true"),
        ({"backend": "ffmpeg"}, 'backend must be one of pyav, decord, not "ffmpeg"'),
        ({"propagator": "cutie"}, 'propagator must be one of prior, flow, not "cutie"'),
        ({"edit": {"remove": ["a"]}}, "edit.remove must be a list of integers"),
        ({"edit": {"reorder": [1]}}, "edit.reorder must be a list of 2 integers"),
        ({"edit": {"swap": [1, 2]}}, "unknown option 'edit.swap'"),
    ],
)
def test_bad_configs_are_refused_naming_the_key(data, message):
    with pytest.raises(ConfigError, match=message):
        run_config_from_mapping(data, "run.toml")


def test_flags_override_the_file_and_absent_flags_keep_it(tmp_path, capsys):
    path = tmp_path / "run.toml"
    path.write_text('depth = "dav2-small"\nbatch_size = 2\n[edit]\nremove = [3]\nbackground = "blur:4"\n')
    flags = ["--batch-size", "8", "--remove", "1", "--propagator", "flow"]
    assert main(["run", "clip.mp4", "--config", str(path), *flags, "--print-config"]) == 0
    config = run_config_from_mapping(tomllib.loads(capsys.readouterr().out))
    assert config.depth == "dav2-small" and config.batch_size == 8 and config.propagator == "flow"
    assert config.edit == EditSpec(remove=(1,), background="blur:4")
    assert config.preset == RunConfig.preset  # neither file nor flag: the default


def test_a_broken_config_file_is_one_line_and_exit_2(tmp_path, capsys):
    path = tmp_path / "run.toml"
    path.write_text("depth = \n")
    assert main(["run", "clip.mp4", "--config", str(path)]) == 2
    assert "is not valid TOML" in capsys.readouterr().err

import json
import subprocess
import sys

import numpy as np
import pytest

from vmat.cli.main import COMMAND_MODULES, build_parser, main
from vmat.io import probe, write_test_pattern_clip


def _subcommand_names():
    parser = build_parser()
    actions = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    return sorted(actions[0].choices)


def test_every_command_has_help():
    assert len(_subcommand_names()) >= len(COMMAND_MODULES)
    for name in _subcommand_names():
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0


def test_the_program_runs_as_a_module():
    result = subprocess.run([sys.executable, "-m", "vmat", "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "convert" in result.stdout


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage: vmat" in capsys.readouterr().out


def test_testclip_then_info_json(tmp_path, capsys):
    clip = tmp_path / "t.mp4"
    assert main(["-q", "testclip", "-o", str(clip), "--size", "64x48", "--frames", "7", "--vfr"]) == 0
    assert main(["info", "--json", str(clip)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["num_frames"] == 7 and data["width"] == 64 and data["variable_frame_rate"] is True
    assert data["audio"][0]["codec"] == "aac"


def test_convert_prints_a_summary_of_what_it_wrote(tmp_path, capsys):
    clip = tmp_path / "t.mp4"
    main(["-q", "testclip", "-o", str(clip), "--size", "64x48", "--frames", "5"])
    assert main(["convert", str(clip), "-o", str(tmp_path / "o.mov"), "--format", "prores4444"]) == 0
    out = capsys.readouterr().out
    assert "wrote" in out and "prores4444" in out and "5 frames" in out and "1 audio stream(s) copied" in out
    assert probe(tmp_path / "o.mov").has_alpha


def test_bad_option_values_are_usage_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["testclip", "-o", str(tmp_path / "t.mp4"), "--size", "big"])
    assert exit_info.value.code == 2
    assert "size must look like 1280x720" in capsys.readouterr().err
    assert main(["testclip", "-o", str(tmp_path / "t.mp4"), "--size", "33x17"]) == 2
    assert "even width and height" in capsys.readouterr().err


def test_demo_writes_an_edited_video_with_audio_layers_and_preview(tmp_path):
    from vmat.demo import run_demo
    from vmat.synthetic.scene import SceneConfig

    lines = run_demo(tmp_path / "demo", SceneConfig(level="easy", width=96, height=64, num_frames=5, fps=10.0, seed=1))
    assert len(lines) == 2
    source, edited = probe(tmp_path / "demo" / "demo.mp4"), probe(tmp_path / "demo" / "demo.vmat.mp4")
    assert edited.num_frames == source.num_frames == 5 and edited.audio and edited.codec == "h264"
    assert (tmp_path / "demo" / "demo.vlayers" / "header.json").exists()
    assert (tmp_path / "demo" / "demo.ids.png").exists()


@pytest.mark.slow
def test_the_quick_start_demo_command(tmp_path):
    # In a fresh process, as the README's quick start runs it: not after whatever threads and thread pools the
    # tests before it left in this one (its pipeline forks a second process when it finds this one idle).
    done = subprocess.run(
        [sys.executable, "-m", "vmat", "-q", "demo", "-o", str(tmp_path / "demo")], capture_output=True, text=True, timeout=280
    )
    assert done.returncode == 0, done.stderr
    assert probe(tmp_path / "demo" / "demo.vmat.mp4").num_frames == 48


def test_bench_io_reports_both_loops_and_their_ratio(tmp_path, capsys):
    report = tmp_path / "bench.json"
    assert main(["bench", "io", "--size", "64x48", "--frames", "8", "--repeats", "1", "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "plain PyAV" in out and "ratio" in out
    data = json.loads(report.read_text())
    assert data["plain_fps"] > 0 and data["vmat_fps"] > 0 and data["ratio"] == pytest.approx(data["vmat_fps"] / data["plain_fps"])


def test_a_terminated_run_leaves_no_output_behind(tmp_path):
    import signal
    import time

    source = write_test_pattern_clip(tmp_path / "in.mp4", width=640, height=480, num_frames=150, audio=False)
    output = tmp_path / "out.mp4"
    process = subprocess.Popen(
        [sys.executable, "-m", "vmat", "convert", "--preset", "slow", str(source), "-o", str(output)],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not [p for p in tmp_path.iterdir() if ".partial-" in p.name]:  # wait until it is writing
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "interrupted" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_depth_command_writes_16_bit_depth_and_a_preview(tmp_path, capsys):
    import cv2

    clip = tmp_path / "t.mp4"
    main(["-q", "testclip", "-o", str(clip), "--size", "64x48", "--frames", "4"])
    assert main(["depth", str(clip), "-o", str(tmp_path / "depth"), "--preview", str(tmp_path / "depth.mp4")]) == 0
    assert "depth (ground-plane) for 4 frames of 64x48" in capsys.readouterr().out
    first = cv2.imread(str(tmp_path / "depth" / "000000.png"), cv2.IMREAD_UNCHANGED)
    assert first.dtype == np.uint16 and first.shape == (48, 64)
    assert first[-1].mean() < first[30].mean()  # the bottom rows (ground nearest the camera) are nearest
    assert probe(tmp_path / "depth.mp4").num_frames == 4
    assert main(["depth", str(clip), "-o", str(tmp_path / "d2"), "--model", "dav2-small"]) == 2
    assert "needs the path of depth_anything_v2_vits.pth" in capsys.readouterr().err


def test_bench_pipeline_loops_the_clip_and_reports_each_configuration(tmp_path, capsys):
    clip = write_test_pattern_clip(tmp_path / "clip.mp4", width=96, height=64, num_frames=5)
    report = tmp_path / "bench.json"
    assert main(["bench", "pipeline", str(clip), "--frames", "12", "--process-size", "48", "--json", str(report)]) == 0
    table = capsys.readouterr().out
    assert "| raw decode+encode loop |" in table and "| process size 48 | 12 |" in table
    runs = json.loads(report.read_text())["runs"]
    assert [run["name"] for run in runs] == ["source size", "process size 48"]
    assert all(run["frames"] == 12 and run["peak_rss_mb"] > 50 for run in runs)
    assert "shrink" in runs[1]["stage_ms"] and "shrink" not in runs[0]["stage_ms"]

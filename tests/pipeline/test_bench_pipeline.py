"""vmat bench pipeline: each configuration in a child process, one table beside the raw loop."""

import os

from vmat.cli.main import main
from vmat.io.test_pattern import write_test_pattern_clip
from vmat.propagation import write_id_mask

import numpy as np


def test_two_configurations_are_one_table_beside_the_raw_loop(tmp_path, capsys):
    clip = write_test_pattern_clip(tmp_path / "clip.mp4", width=64, height=48, num_frames=4, audio=False)
    prompt = tmp_path / "ids.png"
    ids = np.zeros((48, 64), np.uint8)
    ids[8:40, 10:30] = 1
    write_id_mask(prompt, ids)
    for name, edit in (("green", 'background = "#00ff00"'), ("remove", "remove = [1]")):
        (tmp_path / f"{name}.toml").write_text(f'prompt = "{prompt}"\npropagator = "flow"\n\n[edit]\n{edit}\n')
    argv = ["bench", "pipeline", str(clip), "--config", str(tmp_path / "green.toml"), "--config", str(tmp_path / "remove.toml")]
    argv += ["--no-full-size", "--process-size", "32"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in lines
        if line.startswith("| ") and not line.startswith("| ---")
    ]
    header = rows[0]
    assert rows[1][0] == "raw decode+encode loop"
    assert [row[0] for row in rows[2:]] == ["green, process size 32", "remove, process size 32"]
    assert {"completion ms", "decode ms", "masks ms"} <= set(header)
    # CPU time over wall time: more than nothing, at most every core.
    busy = [float(row[header.index("cores busy")]) for row in rows[2:]]
    assert all(0 < value <= (os.cpu_count() or 1) + 0.1 for value in busy)
    # The replaced background hides completion: that run does not compute it; removal does.
    column = header.index("completion ms")
    assert rows[2][column] == "-" and float(rows[3][column]) > 0


def test_a_bad_prompt_is_one_line_and_exit_2_not_a_hang(tmp_path, capsys):
    clip = write_test_pattern_clip(tmp_path / "clip.mp4", width=64, height=48, num_frames=2, audio=False)
    (tmp_path / "prompt.json").write_text('{"frame": 0}')
    (tmp_path / "bad.toml").write_text(f'prompt = "{tmp_path / "prompt.json"}"\n')
    argv = ["bench", "pipeline", str(clip), "--config", str(tmp_path / "bad.toml"), "--no-full-size", "--process-size", "32"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a vmat prompt file" in err[0] and "Traceback" not in err[0]

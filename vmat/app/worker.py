"""One background job of the app, in a process of its own: ``python -m vmat.app.worker SPEC.json``.

A process (not a thread) so that cancelling is a signal: SIGTERM unwinds the job like Ctrl-C unwinds
``vmat run`` (every unfinished output is removed by :mod:`vmat.io.atomic`), memory goes back to the system
when the job ends, and a job cannot take the server down. Progress is vmat's own progress bars on stderr
(:mod:`vmat.progress`), which :mod:`vmat.app.jobs` reads; the result is written to ``SPEC["result"]``.

Exit status: 0 done, 2 a user error (its one line on stderr, prefixed ``error: ``), 130 stopped.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

from vmat.errors import VmatError


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    from vmat.app import engine
    from vmat.progress import set_progress

    signal.signal(signal.SIGTERM, _stop)
    spec = json.loads(Path(argv[0]).read_text())
    set_progress(True)
    try:
        if spec["kind"] == "propagate":
            result = engine.propagate(spec["clip"], spec["prompt"], spec["masks"])
        else:
            options = engine.EditOptions.from_json(spec["options"], set(spec["ids"]))
            result = engine.run(spec["clip"], spec["prompt"], spec.get("masks"), spec["out"], options)
        engine.write_json(Path(spec["result"]), result)
    except VmatError as error:
        print(f"\nerror: {error}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

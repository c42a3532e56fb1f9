"""The app's HTTP API without a browser (Starlette's TestClient): paths, uploads, prompts, sessions, jobs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from starlette.testclient import TestClient

from vmat.app.server import AppConfig, create_app
from vmat.propagation.idmask import mask_path, read_id_mask
from vmat.propagation.prompts import apply_prompt, load_prompts


@pytest.fixture
def app_dirs(generated_clip, tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    clip = root / "walk.mp4"
    clip.write_bytes(generated_clip.path.read_bytes())
    return root, tmp_path / "work"


@pytest.fixture
def client(app_dirs):
    root, work = app_dirs
    with TestClient(
        create_app(AppConfig(work=work, roots=[root], max_upload_bytes=1 << 20)), base_url="http://127.0.0.1"
    ) as client:
        yield client


class Tab:
    """One page load: a session and the calls its page makes."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        response = client.post("/api/session", headers={"X-Vmat-Session": "new"})
        assert response.status_code == 200, response.text
        self.sid = response.json()["session"]

    def get(self, path: str):
        return self.client.get(f"/api/s/{self.sid}{path}")

    def post(self, path: str, data: object = None):
        return self.client.post(
            f"/api/s/{self.sid}{path}", json=data if data is not None else {}, headers={"X-Vmat-Session": self.sid}
        )

    def put(self, path: str, body: bytes):
        return self.client.put(f"/api/s/{self.sid}{path}", content=body, headers={"X-Vmat-Session": self.sid})

    def open(self, path: Path) -> dict:
        response = self.post("/open", {"path": str(path)})
        assert response.status_code == 200, response.text
        return response.json()

    def wait(self, timeout: float = 120.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            job = self.get("/job").json()["job"]
            if job["state"] != "running":
                return job
            assert time.monotonic() < deadline, job
            time.sleep(0.2)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


def test_open_by_path_and_scrub(client, app_dirs, generated_clip):
    tab = Tab(client)
    state = tab.open(app_dirs[0] / "walk.mp4")
    assert state["clip"] == {"name": "walk.mp4", "width": 320, "height": 192, "frames": 12, "fps": 12.0}
    for index in (7, 2, 11):  # forwards, back, forwards
        response = tab.get(f"/frame/{index}.jpg")
        assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
        shown = cv2.cvtColor(cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        assert shown.shape == (192, 320, 3)
        errors = np.abs(shown.astype(float)[None] - generated_clip.decoded).mean(axis=(1, 2, 3))
        assert int(np.argmin(errors)) == index  # that frame, not another
    assert tab.get("/frame/12.jpg").status_code == 400


@pytest.mark.parametrize("path, status", [("/etc/passwd", 403), ("{root}/../outside.mp4", 403), ("{root}/link.mp4", 403),
                                          ("{root}/notes.txt", 415), ("{root}/missing.mp4", 404), ("", 400)])
def test_paths_outside_the_roots_are_refused(client, app_dirs, tmp_path, path, status):
    root, _ = app_dirs
    outside = tmp_path / "outside.mp4"
    outside.write_bytes((root / "walk.mp4").read_bytes())
    (root / "link.mp4").symlink_to(outside)
    (root / "notes.txt").write_text("not a clip")
    tab = Tab(client)
    response = tab.post("/open", {"path": path.format(root=root)})
    assert response.status_code == status, response.text
    assert tab.get("/state").json()["clip"] is None
    # Loading a prompt file and a background follow the same rule.
    assert tab.post("/prompt.json", {"path": str(outside.with_suffix(".json"))}).status_code in (403, 404)


def test_changes_need_the_page_header(client, app_dirs):
    tab = Tab(client)
    assert client.post("/api/session").status_code == 403
    response = client.post(f"/api/s/{tab.sid}/open", json={"path": str(app_dirs[0] / "walk.mp4")})
    assert response.status_code == 403
    other = Tab(client)
    response = client.post(
        f"/api/s/{tab.sid}/open", json={"path": str(app_dirs[0] / "walk.mp4")}, headers={"X-Vmat-Session": other.sid}
    )
    assert response.status_code == 403
    assert client.get("/api/s/not-a-session/state").status_code == 404
    assert client.get("/api/s/x/state", headers={"Host": "evil.example"}).status_code == 400  # DNS rebinding


def test_uploads_are_checked_and_stay_in_the_session_folder(client, app_dirs, generated_clip):
    _, work = app_dirs
    tab = Tab(client)
    uploads = work / tab.sid / "uploads"
    clip = generated_clip.path.read_bytes()
    assert tab.put("/upload?name=tool.exe", clip).status_code == 415
    assert tab.put("/upload?name=fake.mp4", b"\x89PNG\r\n\x1a\n" + bytes(100)).status_code == 415
    assert tab.put("/upload?name=junk.mp4", b"\x00\x00\x00\x18ftypmp42" + bytes(1000)).status_code == 415  # not decodable
    assert tab.put("/upload?name=big.mp4", clip + bytes(1 << 20)).status_code == 413
    assert tab.put("/upload?name=empty.mp4", b"").status_code == 400
    assert not uploads.exists() or not any(uploads.iterdir()), list(uploads.iterdir())
    response = tab.put("/upload?name=../../Evil%20Name!.MP4", clip)
    assert response.status_code == 200, response.text
    assert response.json()["clip"]["frames"] == 12
    assert [p.name for p in uploads.iterdir()] == ["Evil_Name.mp4"]
    assert not (work.parent / "Evil Name!.MP4").exists()
    # A background image upload: by type, kept beside the clip.
    _, png = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))
    response = tab.put("/upload?purpose=background&name=sky.png", png.tobytes())
    assert response.json() == {"background": "sky.png"}
    assert tab.put("/upload?purpose=other&name=sky.png", png.tobytes()).status_code == 400


def test_box_prompt_mask_prompt_file_and_undo(client, app_dirs, generated_clip, tmp_path):
    tab = Tab(client)
    tab.open(app_dirs[0] / "walk.mp4")
    target = generated_clip.person_ids[1]
    response = tab.post("/prompt", {"frame": 0, "id": target, "box": generated_clip.box(target)})
    assert response.status_code == 200, response.text
    assert response.json()["ids"] == [target] and response.json()["prompted"] == [0]
    info = tab.get("/mask/0").json()
    truth = generated_clip.ids[0] == target
    assert info["source"] == "prompt" and abs(info["areas"][str(target)] - truth.sum()) <= 0.2 * truth.sum()
    assert tab.get("/mask/3").json() == {"areas": {}, "source": "none"}
    overlay = tab.get("/overlay/0.png")
    assert overlay.status_code == 200 and overlay.headers["content-type"] == "image/png"

    # The saved prompt is the file `vmat run --prompt` reads, and gives the page's mask.
    saved = tmp_path / "saved.prompt.json"
    saved.write_bytes(tab.get("/prompt.json").content)
    rounds = load_prompts(saved)
    assert [r.frame for r in rounds] == [0] and rounds[0].instances[0].box is not None
    page_mask = read_id_mask(mask_path(app_dirs[1] / tab.sid / "prompted", 0))
    assert np.array_equal(apply_prompt(generated_clip.decoded[0], rounds[0]), page_mask)
    assert _iou(page_mask == target, truth) > 0.8

    # A negative click refines the same round; undo brings the box-only prompt back.
    ys, xs = np.nonzero(page_mask == target)
    tab.post("/prompt", {"frame": 0, "id": target, "click": [int(xs.min()), int(ys.min()), False]})
    document = tab.get("/state").json()["prompt"]
    assert document["prompts"][0]["instances"][0]["clicks"] == [[int(xs.min()), int(ys.min()), False]]
    assert tab.post("/undo").json()["prompt"] == json.loads(saved.read_text())
    assert np.array_equal(read_id_mask(mask_path(app_dirs[1] / tab.sid / "prompted", 0)), page_mask)

    # Reloaded in another tab, the file gives the same mask; a file that names an id mask is refused.
    other = Tab(client)
    other.open(app_dirs[0] / "walk.mp4")
    assert other.put("/prompt.json", saved.read_bytes()).status_code == 200
    assert np.array_equal(read_id_mask(mask_path(app_dirs[1] / other.sid / "prompted", 0)), page_mask)
    assert other.put("/prompt.json", b'{"prompts": [{"frame": 0, "id_mask": "/etc/passwd"}]}').status_code == 400
    assert (
        other.put("/prompt.json", b'{"prompts": [{"frame": 99, "instances": [{"id": 1, "box": [1, 1, 9, 9]}]}]}').status_code
        == 400
    )
    assert other.post("/prompt", {"frame": 0, "id": 0, "box": [1, 1, 9, 9]}).status_code == 400
    assert other.post("/prompt", {"frame": 0, "id": 1, "box": [1, 1, 9]}).status_code == 400
    assert other.post("/clear", {"frame": 0}).json()["prompt"] == {"prompts": []}


def test_tabs_are_separate(client, app_dirs, generated_clip):
    first, second = Tab(client), Tab(client)
    for tab in (first, second):
        tab.open(app_dirs[0] / "walk.mp4")
    target = generated_clip.person_ids[1]
    first.post("/prompt", {"frame": 0, "id": target, "box": generated_clip.box(target)})
    assert second.get("/state").json()["ids"] == []
    assert second.get("/mask/0").json()["source"] == "none"
    assert first.post("/propagate").status_code == 200
    assert second.get("/state").json()["job"] is None
    assert second.post("/propagate").status_code == 400  # nothing prompted in this tab
    assert first.post("/propagate").status_code == 409  # one job at a time per tab
    assert first.wait()["state"] == "done"


def test_propagate_cancel_then_complete(client, app_dirs, generated_clip):
    tab = Tab(client)
    tab.open(app_dirs[0] / "walk.mp4")
    target = generated_clip.person_ids[1]
    tab.post("/prompt", {"frame": 0, "id": target, "box": generated_clip.box(target)})
    job = tab.post("/propagate").json()["job"]
    assert job["state"] == "running"
    assert tab.post("/open", {"path": str(app_dirs[0] / "walk.mp4")}).status_code == 409  # not under a running job
    assert tab.post("/cancel").status_code == 200
    job = tab.wait(60)
    assert job["state"] == "cancelled", job
    folder = app_dirs[1] / tab.sid / "jobs" / job["id"]
    assert not (folder / "masks").exists() and not [p for p in folder.iterdir() if "partial" in p.name]
    assert tab.get("/mask/5").json()["source"] == "none"

    assert tab.post("/propagate").status_code == 200
    job = tab.wait()
    assert job["state"] == "done" and job["result"]["frames"] == 12 and job["total"] == 12, job
    state = tab.get("/state").json()
    assert state["masks"] == {"current": True}
    last = tab.get("/mask/11").json()
    truth = generated_clip.ids[11] == target
    assert last["source"] == "propagated" and abs(last["areas"][str(target)] - truth.sum()) <= 0.3 * truth.sum()
    tab.post("/prompt", {"frame": 0, "id": target, "click": [0, 0, False]})
    assert tab.get("/state").json()["masks"] == {"current": False}  # the prompt changed since
    state = tab.open(app_dirs[0] / "walk.mp4")  # opened again: the earlier clip's prompt, job and masks go
    assert (state["prompt"], state["masks"], state["job"]) == ({"prompts": []}, None, None)
    assert tab.get("/mask/11").json()["source"] == "none"


def test_run_options_are_checked_before_any_work(client, app_dirs, generated_clip, tmp_path):
    tab = Tab(client)
    assert tab.post("/run", {"remove": [1]}).status_code == 400  # no clip
    tab.open(app_dirs[0] / "walk.mp4")
    target = generated_clip.person_ids[1]
    tab.post("/prompt", {"frame": 0, "id": target, "box": generated_clip.box(target)})
    refused = [
        {"remove": [9]},
        {"swap": [target, target]},
        {"drag": {"id": target, "dx": "far"}},
        {"video": False, "people": False, "layers": False},
        {"background": {"kind": "colour", "value": "red"}},
        {"background": {"kind": "upload", "value": "../walk.mp4"}},
        {"background": {"kind": "path", "value": str(tmp_path / "elsewhere.png")}},
        {"colour": "#fff"},
    ]
    for options in refused:
        response = tab.post("/run", options)
        assert response.status_code in (400, 403, 404), (options, response.text)
        assert tab.get("/state").json()["job"] is None
    assert tab.get("/outputs").json() == {"files": []}
    assert tab.get("/download/walk.vmat.mp4").status_code == 404
    assert tab.get("/download/..%2F..%2Fprompt.json").status_code == 404


@pytest.mark.slow
def test_run_remove_and_download(client, app_dirs, generated_clip, tmp_path):
    tab = Tab(client)
    tab.open(app_dirs[0] / "walk.mp4")
    target = generated_clip.person_ids[1]
    tab.post("/prompt", {"frame": 0, "id": target, "box": generated_clip.box(target)})
    assert tab.post("/run", {"remove": [target], "layers": True}).status_code == 200
    job = tab.wait(400)
    assert job["state"] == "done", job
    names = {item["name"] for item in tab.get("/outputs").json()["files"]}
    assert {"walk.vmat.mp4", "walk.vlayers.zip", "walk.ids.png"} <= names
    video = tmp_path / "out.mp4"
    video.write_bytes(tab.get("/download/walk.vmat.mp4").content)
    from vmat.io import open_video

    with open_video(video) as reader:
        frame = next(iter(reader)).image
    person = generated_clip.ids[0] == target
    background = generated_clip.backgrounds[0].astype(np.float32)
    assert np.abs(frame - background)[person].mean() < 0.35 * np.abs(generated_clip.decoded[0] - background)[person].mean()
    import zipfile

    archive = tmp_path / "layers.zip"
    archive.write_bytes(tab.get("/download/walk.vlayers.zip").content)
    assert any(name.startswith("walk.vlayers/") for name in zipfile.ZipFile(archive).namelist())


def test_stopping_the_server_stops_its_jobs(app_dirs, generated_clip):
    root, work = app_dirs
    with TestClient(create_app(AppConfig(work=work, roots=[root])), base_url="http://127.0.0.1") as client:
        tab = Tab(client)
        tab.open(root / "walk.mp4")
        target = generated_clip.person_ids[1]
        tab.post("/prompt", {"frame": 0, "id": target, "box": generated_clip.box(target)})
        assert tab.post("/propagate").json()["job"]["state"] == "running"
        job = client.app.state.jobs.get(tab.sid)
    assert job.process.poll() is not None  # the server's shutdown waited for it
    assert not (job.folder / "masks").exists() and not [p for p in job.folder.iterdir() if "partial" in p.name]

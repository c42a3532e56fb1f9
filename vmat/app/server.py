"""The app's HTTP interface (Starlette): the page, and a JSON API per session under ``/api/s/{session}/``.

Every tab asks for a session when it loads and sends its id in the URL; a request that changes anything
must also carry the id in the ``X-Vmat-Session`` header, which a page from another site cannot add
without the browser asking first (so another site cannot drive the app through the user's browser).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from vmat.app import engine
from vmat.app.files import (
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    FileRefused,
    allowed_path,
    save_upload,
)
from vmat.app.jobs import JobManager, JobRefused
from vmat.app.session import Session, SessionStore
from vmat.errors import ConfigError, VmatError
from vmat.limits import MAX_PROMPT_FILE_BYTES

STATIC = Path(__file__).parent / "static"


@dataclass
class AppConfig:
    """How the app runs. ``roots``: folders whose files the page may open by path (uploads go to ``work``)."""

    work: Path
    roots: list[Path] = field(default_factory=list)
    clip: Path | None = None  # opened in every new tab
    max_upload_bytes: int = 2 << 30
    max_sessions: int = 16
    max_jobs: int = 2
    allowed_hosts: list[str] = field(default_factory=lambda: ["127.0.0.1", "localhost", "::1"])


def create_app(config: AppConfig) -> Starlette:
    """The Starlette application (serve it with uvicorn; test it with ``starlette.testclient``)."""
    config.work.mkdir(parents=True, exist_ok=True)
    roots = [root.resolve() for root in config.roots]
    sessions = SessionStore(config.work.resolve(), config.max_sessions)
    jobs = JobManager(config.max_jobs)

    def session_of(request: Request) -> Session:
        session = sessions.get(request.path_params["sid"])
        if session is None:
            raise HTTPException(404, "no such session: reload the page.")
        if request.method not in ("GET", "HEAD") and request.headers.get("x-vmat-session") != session.id:
            raise HTTPException(403, "this request did not come from the app's page.")
        return session

    async def body_json(request: Request) -> object:
        try:
            return await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ConfigError("the request body is not JSON.") from None

    def settle(session: Session) -> dict | None:
        """The session's job as JSON; a finished propagation becomes the session's masks."""
        job = jobs.get(session.id)
        if job is None or job.started < session.opened_at:  # a job on the tab's earlier clip
            return None
        if job.kind == "propagate" and job.state == "done" and session.masks != job.folder / "masks":
            with session.lock:
                session.masks, session.masks_version = job.folder / "masks", job.spec["version"]
        if job.kind == "run" and job.state == "done":
            session.last_run = job.folder / "out"
        return job.to_json()

    def state(session: Session) -> JSONResponse:
        return JSONResponse({**session.state(), "job": settle(session)})

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    async def new_session(request: Request) -> JSONResponse:
        if request.headers.get("x-vmat-session") != "new":
            raise HTTPException(403, "this request did not come from the app's page.")
        busy = {s.id for s in sessions.all() if (job := jobs.get(s.id)) is not None and job.running}
        session = sessions.create(busy)
        if config.clip is not None:
            await run_in_threadpool(session.open, config.clip)
        return state(session)

    async def get_state(request: Request) -> JSONResponse:
        return state(session_of(request))

    def check_idle(session: Session) -> None:
        job = jobs.get(session.id)
        if job is not None and job.running:
            raise JobRefused(f"a {job.kind} job is running in this tab: cancel it before opening another clip.", 409)

    async def open_path(request: Request) -> JSONResponse:
        session = session_of(request)
        check_idle(session)
        data = await body_json(request)
        path = allowed_path(data.get("path") if isinstance(data, dict) else None, roots, VIDEO_SUFFIXES)
        await run_in_threadpool(session.open, path)
        return state(session)

    async def upload(request: Request) -> JSONResponse:
        session = session_of(request)
        purpose = request.query_params.get("purpose", "clip")
        if purpose not in ("clip", "background"):
            raise ConfigError("purpose is clip or background.")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > config.max_upload_bytes:
            raise FileRefused(f"the upload is larger than the limit of {config.max_upload_bytes >> 20} MiB.", 413)
        if purpose == "clip":
            check_idle(session)
        suffixes = VIDEO_SUFFIXES if purpose == "clip" else VIDEO_SUFFIXES + IMAGE_SUFFIXES
        path = await save_upload(
            request.stream(), session.folder / "uploads", request.query_params.get("name", ""), suffixes, config.max_upload_bytes
        )
        if purpose == "clip" or path.suffix in VIDEO_SUFFIXES:
            try:
                info = await run_in_threadpool(engine.probe_clip, path)
            except VmatError as error:
                path.unlink()
                raise FileRefused(f"{path.name!r} is not a video vmat can read: {error}", 415) from None
        if purpose == "clip":
            if info.frames * info.width * info.height == 0:
                raise FileRefused("the clip is empty.", 415)
            await run_in_threadpool(session.open, path)
            return state(session)
        return JSONResponse({"background": path.name})

    async def clip_file(request: Request) -> Response:
        session = session_of(request)
        return FileResponse(session.require_clip().path)

    async def frame(request: Request) -> Response:
        session = session_of(request)
        path = await run_in_threadpool(session.frame_jpeg, request.path_params["index"])
        return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    async def overlay(request: Request) -> Response:
        session = session_of(request)
        clip = session.require_clip()
        ids, _ = session.frame_mask(session.check_frame(request.path_params["index"]))
        data = await run_in_threadpool(engine.overlay_png, ids, clip.width, clip.height)
        return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})

    async def mask_info(request: Request) -> JSONResponse:
        session = session_of(request)
        ids, source = session.frame_mask(session.check_frame(request.path_params["index"]))
        return JSONResponse({"areas": {str(k): v for k, v in engine.areas(ids).items()}, "source": source})

    async def prompt(request: Request) -> JSONResponse:
        session = session_of(request)
        data = await body_json(request)
        if not isinstance(data, dict):
            raise ConfigError("a prompt is a JSON object.")
        kinds = [kind for kind in ("box", "click", "scribble") if kind in data]
        whole = all(isinstance(data.get(key), int) and not isinstance(data.get(key), bool) for key in ("frame", "id"))
        if len(kinds) != 1 or not whole:
            raise ConfigError("a prompt names frame, id and one of box, click or scribble.")
        await run_in_threadpool(
            session.add_prompt, data["frame"], data["id"], kinds[0], data[kinds[0]], bool(data.get("new_round"))
        )
        return state(session)

    async def undo(request: Request) -> JSONResponse:
        session = session_of(request)
        await run_in_threadpool(session.undo_last)
        return state(session)

    async def clear(request: Request) -> JSONResponse:
        session = session_of(request)
        data = await body_json(request)
        frame = data.get("frame") if isinstance(data, dict) else None
        if not isinstance(frame, int) or isinstance(frame, bool):
            raise ConfigError("clear needs a frame number.")
        await run_in_threadpool(session.clear_frame, frame)
        return state(session)

    async def prompt_file(request: Request) -> Response:
        session = session_of(request)
        if request.method == "GET":
            name = f"{Path(session.require_clip().path).stem}.prompt.json"
            return Response(json.dumps(session.document, indent=1), media_type="application/json",
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})
        if request.method == "PUT":
            body = await request.body()
        else:  # POST {"path": ...}: a prompt file inside the allowed roots
            data = await body_json(request)
            body = allowed_path(data.get("path") if isinstance(data, dict) else None, roots, (".json",)).read_bytes()
        if len(body) > MAX_PROMPT_FILE_BYTES:
            raise FileRefused(f"a prompt file is at most {MAX_PROMPT_FILE_BYTES >> 20} MiB.", 413)
        try:
            document = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            raise ConfigError("the prompt file is not JSON text.") from None
        await run_in_threadpool(session.set_document, engine.check_document(document))
        return state(session)

    async def propagate(request: Request) -> JSONResponse:
        session = session_of(request)
        with session.lock:
            clip = session.require_clip()
            if not session.document["prompts"]:
                raise ConfigError("prompt at least one person first.")
            folder = session.job_folder()
            folder.mkdir(parents=True)
            snapshot = folder / "prompt.json"
            shutil.copyfile(session.prompt_file, snapshot)
            spec = {
                "clip": clip.path,
                "prompt": str(snapshot),
                "masks": str(folder / "masks"),
                "version": session.version,
                "frames": clip.frames,
            }
        jobs.start(session.id, "propagate", folder, spec)
        return state(session)

    async def run(request: Request) -> JSONResponse:
        session = session_of(request)
        data = await body_json(request)
        if not isinstance(data, dict):
            raise ConfigError("the run options are a JSON object.")
        data = dict(data)
        data["background"] = background_spec(session, data.get("background"))
        with session.lock:
            clip = session.require_clip()
            ids = session.ids()
            if not ids:
                raise ConfigError("prompt at least one person first.")
            options = engine.EditOptions.from_json(data, set(ids))
            folder = session.job_folder()
            folder.mkdir(parents=True)
            snapshot = folder / "prompt.json"
            shutil.copyfile(session.prompt_file, snapshot)
            current = session.masks is not None and session.masks_version == session.version
            spec = {
                "clip": clip.path, "prompt": str(snapshot), "masks": str(session.masks) if current else None,
                "out": str(folder / "out"), "options": options.to_json(), "ids": ids, "version": session.version,
            }
        jobs.start(session.id, "run", folder, spec)
        return state(session)

    def background_spec(session: Session, value: object) -> str | None:
        """``{"kind": "colour" | "upload" | "path", "value": ...}`` as the pipeline's background spec."""
        if value is None:
            return None
        if not isinstance(value, dict) or not isinstance(value.get("value"), str):
            raise ConfigError("background is {kind, value}.")
        kind, text = value.get("kind"), value["value"]
        if kind == "colour":
            if engine_colour(text) is None:
                raise ConfigError(f"{text!r} is not a colour #rrggbb.")
            return text
        if kind == "upload":
            path = (session.folder / "uploads" / Path(text).name)
            if Path(text).name != text or not path.is_file():
                raise FileRefused(f"no upload named {text!r} in this tab.", 404)
            return str(path)
        if kind == "path":
            return str(allowed_path(text, roots, VIDEO_SUFFIXES + IMAGE_SUFFIXES))
        raise ConfigError("background kind is colour, upload or path.")

    async def job(request: Request) -> JSONResponse:
        return state(session_of(request))

    async def cancel(request: Request) -> JSONResponse:
        session = session_of(request)
        jobs.cancel(session.id)
        return state(session)

    def outputs_of(session: Session) -> dict[str, Path]:
        settle(session)
        folder = session.last_run
        if folder is None or not folder.is_dir():
            return {}
        return {
            entry.name + (".zip" if entry.is_dir() else ""): entry
            for entry in sorted(folder.iterdir())
            if not entry.name.startswith(".")
        }

    async def outputs(request: Request) -> JSONResponse:
        session = session_of(request)
        return JSONResponse({"files": [{"name": name, "bytes": _size(path)} for name, path in outputs_of(session).items()]})

    async def download(request: Request) -> Response:
        session = session_of(request)
        name = request.path_params["name"]
        path = outputs_of(session).get(name)  # only names the run wrote: nothing from the URL reaches the disk
        if path is None:
            raise HTTPException(404, f"no output named {name!r}.")
        if path.is_dir():
            path = await run_in_threadpool(_zipped, path)
        return FileResponse(path, filename=name)

    async def error_answer(request: Request, error: Exception) -> JSONResponse:
        """A user's mistake or a refusal: its one-line message as JSON, with its HTTP status."""
        if isinstance(error, HTTPException):
            return JSONResponse({"error": error.detail}, status_code=error.status_code)
        return JSONResponse({"error": str(error)}, status_code=getattr(error, "status", 400))

    def engine_colour(text: str):
        from vmat.pipeline.edits import parse_colour

        return parse_colour(text) if text.startswith("#") else None

    api = [
        Route("/api/session", new_session, methods=["POST"]),
        Route("/api/s/{sid}/state", get_state),
        Route("/api/s/{sid}/open", open_path, methods=["POST"]),
        Route("/api/s/{sid}/upload", upload, methods=["PUT"]),
        Route("/api/s/{sid}/clip", clip_file),
        Route("/api/s/{sid}/frame/{index:int}.jpg", frame),
        Route("/api/s/{sid}/overlay/{index:int}.png", overlay),
        Route("/api/s/{sid}/mask/{index:int}", mask_info),
        Route("/api/s/{sid}/prompt", prompt, methods=["POST"]),
        Route("/api/s/{sid}/undo", undo, methods=["POST"]),
        Route("/api/s/{sid}/clear", clear, methods=["POST"]),
        Route("/api/s/{sid}/prompt.json", prompt_file, methods=["GET", "PUT", "POST"]),
        Route("/api/s/{sid}/propagate", propagate, methods=["POST"]),
        Route("/api/s/{sid}/run", run, methods=["POST"]),
        Route("/api/s/{sid}/job", job),
        Route("/api/s/{sid}/cancel", cancel, methods=["POST"]),
        Route("/api/s/{sid}/outputs", outputs),
        Route("/api/s/{sid}/download/{name}", download),
    ]
    app = Starlette(
        routes=[Route("/", index), Mount("/static", StaticFiles(directory=STATIC), name="static"), *api],
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=config.allowed_hosts)],
        exception_handlers={VmatError: error_answer, JobRefused: error_answer, HTTPException: error_answer},
        lifespan=lambda app: _stopping_jobs(jobs),
    )
    app.state.sessions, app.state.jobs = sessions, jobs
    return app


@contextlib.asynccontextmanager
async def _stopping_jobs(jobs: JobManager) -> AsyncIterator[None]:
    """The server's lifetime: when it stops, running jobs are cancelled and their partial outputs removed."""
    try:
        yield
    finally:
        await run_in_threadpool(jobs.shutdown)


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def _zipped(folder: Path) -> Path:
    """``folder`` as a zip beside it (made once; the run's outputs do not change)."""
    target = folder.with_name(f".{folder.name}.zip")
    if not target.is_file():
        partial = target.with_name(target.name + ".partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_STORED) as archive:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    archive.write(path, Path(folder.name) / path.relative_to(folder))
        partial.rename(target)
    return target

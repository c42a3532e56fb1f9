// The vmat app page: plain JavaScript, no build step. The server does every computation; this draws
// frames and masks, turns mouse gestures into prompts, and polls the background job.
"use strict";

const $ = (id) => document.getElementById(id);
const S = { sid: null, state: null, frame: 0, person: 1, people: new Set(), gesture: null, frameImage: null, overlayImage: null, polling: null };

async function call(path, { method = "GET", json, body } = {}) {
  const headers = { "X-Vmat-Session": S.sid || "new" };
  if (json !== undefined) headers["Content-Type"] = "application/json";
  const url = S.sid && !path.startsWith("/api/session") ? `/api/s/${S.sid}${path}` : path;
  const response = await fetch(url, { method, headers, body: json !== undefined ? JSON.stringify(json) : body });
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json() : null;
  if (!response.ok) throw new Error((data && data.error) || `${response.status} ${response.statusText}`);
  return data;
}

function say(text, error = false) {
  $("message").textContent = text;
  $("message").className = error ? "error" : "";
}

async function act(work) {
  try {
    await work();
  } catch (error) {
    say(error.message, true);
  }
}

// --- state -------------------------------------------------------------------------------------------

function apply(state) {
  const clipChanged = !S.state || JSON.stringify(S.state.clip) !== JSON.stringify(state.clip);
  S.state = state;
  state.ids.forEach((id) => S.people.add(id));
  if (clipChanged && state.clip) {
    $("canvas").width = state.clip.width;
    $("canvas").height = state.clip.height;
    $("slider").max = state.clip.frames - 1;
    $("frame-count").textContent = state.clip.frames - 1;
    $("clip-name").textContent = `${state.clip.name} (${state.clip.width}x${state.clip.height}, ${state.clip.frames} frames, ${state.clip.fps.toFixed(2)} fps)`;
    S.frame = 0;
    $("results").hidden = true;
  }
  if (S.people.size === 0) S.people.add(1);
  $("save-prompt").href = `/api/s/${S.sid}/prompt.json`;
  $("prompted").textContent = state.prompted.length ? state.prompted.join(", ") : "none";
  $("undo").disabled = !state.can_undo;
  renderPeople();
  renderEdits();
  renderJob(state.job);
  const stamp = `${state.version}-${state.job ? state.job.id + state.job.state : ""}`;
  if (state.clip && (clipChanged || stamp !== S.stamp)) showFrame(S.frame);
  S.stamp = stamp;
}

function colourOf(id) {
  return (S.state && S.state.colours[String(id)]) || "#888";
}

function renderPeople(areas = S.areas || {}) {
  const list = $("people");
  list.replaceChildren();
  [...S.people].sort((a, b) => a - b).forEach((id) => {
    const item = document.createElement("li");
    item.id = `person-${id}`;
    item.className = id === S.person ? "active" : "";
    const area = areas[String(id)];
    item.innerHTML = `<span class="swatch" style="background:${colourOf(id)}"></span> person ${id}
      <span class="area" data-area="${area || 0}">${area ? `${area} px on this frame` : ""}</span>`;
    item.onclick = () => { S.person = id; renderPeople(); };
    list.append(item);
  });
}

function renderEdits() {
  const ids = S.state ? S.state.ids : [];
  const remove = $("remove");
  const checked = new Set([...remove.querySelectorAll("input:checked")].map((box) => Number(box.value)));
  remove.replaceChildren();
  ids.forEach((id) => {
    const label = document.createElement("label");
    label.innerHTML = `<input type="checkbox" id="remove-${id}" value="${id}" ${checked.has(id) ? "checked" : ""}> person ${id} `;
    remove.append(label);
  });
  for (const select of ["swap-p", "swap-q", "drag-id"]) {
    const keep = $(select).value;
    $(select).replaceChildren(new Option("-", ""), ...ids.map((id) => new Option(`person ${id}`, id)));
    $(select).value = ids.map(String).includes(keep) ? keep : "";
  }
}

// --- frames and masks --------------------------------------------------------------------------------

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error(`cannot load ${url}`));
    image.src = url;
  });
}

async function showFrame(index) {
  if (!S.state || !S.state.clip) return;
  index = Math.max(0, Math.min(S.state.clip.frames - 1, index));
  S.frame = index;
  $("slider").value = index;
  $("frame-no").textContent = index;
  const stamp = `v=${S.state.version}-${S.state.job ? S.state.job.id + S.state.job.state : ""}`;
  await act(async () => {
    const [frame, overlay, info] = await Promise.all([
      loadImage(`/api/s/${S.sid}/frame/${index}.jpg`),
      loadImage(`/api/s/${S.sid}/overlay/${index}.png?${stamp}`),
      call(`/mask/${index}`),
    ]);
    if (index !== S.frame) return; // the user scrubbed on
    S.frameImage = frame;
    S.overlayImage = overlay;
    S.areas = info.areas;
    $("mask-source").textContent = { prompt: "mask from this frame's prompt", propagated: "propagated mask", none: "" }[info.source];
    renderPeople();
    draw();
  });
}

function draw() {
  const canvas = $("canvas");
  const context = canvas.getContext("2d");
  if (S.frameImage) context.drawImage(S.frameImage, 0, 0, canvas.width, canvas.height);
  if (S.overlayImage && $("show-overlay").checked) context.drawImage(S.overlayImage, 0, 0, canvas.width, canvas.height);
  const g = S.gesture;
  if (!g) return;
  context.strokeStyle = g.positive ? colourOf(S.person) : "#ff1744";
  context.lineWidth = Math.max(2, canvas.width / 320);
  if (g.tool === "box") {
    context.strokeRect(g.points[0][0], g.points[0][1], g.last[0] - g.points[0][0], g.last[1] - g.points[0][1]);
  } else if (g.tool.startsWith("scribble")) {
    context.lineWidth = scribbleWidth();
    context.lineCap = context.lineJoin = "round";
    context.beginPath();
    g.points.forEach(([x, y], i) => (i ? context.lineTo(x, y) : context.moveTo(x, y)));
    context.stroke();
  }
}

function scribbleWidth() {
  const canvas = $("canvas");
  return Math.max(3, Math.round(Math.min(canvas.width, canvas.height) / 60));
}

function pixel(event) {
  const canvas = $("canvas");
  const rect = canvas.getBoundingClientRect();
  const x = Math.floor(((event.clientX - rect.left) / rect.width) * canvas.width);
  const y = Math.floor(((event.clientY - rect.top) / rect.height) * canvas.height);
  return [Math.max(0, Math.min(canvas.width - 1, x)), Math.max(0, Math.min(canvas.height - 1, y))];
}

function tool() {
  return document.querySelector("input[name=tool]:checked").value;
}

function startGesture(event) {
  if (!S.state || !S.state.clip || event.button !== 0) return;
  $("canvas").setPointerCapture(event.pointerId);
  const p = pixel(event);
  S.gesture = { tool: tool(), points: [p], last: p, positive: !tool().endsWith("-") };
}

function moveGesture(event) {
  const g = S.gesture;
  if (!g) return;
  g.last = pixel(event);
  if (g.tool.startsWith("scribble")) g.points.push(g.last);
  draw();
}

async function endGesture(event) {
  const g = S.gesture;
  if (!g) return;
  S.gesture = null;
  g.last = pixel(event);
  const prompt = { frame: S.frame, id: S.person, new_round: $("new-round").checked };
  if (g.tool === "box") {
    const [[x0, y0], [x1, y1]] = [g.points[0], g.last];
    if (Math.abs(x1 - x0) < 3 || Math.abs(y1 - y0) < 3) { draw(); return say("drag to draw a box"); }
    prompt.box = [Math.min(x0, x1), Math.min(y0, y1), Math.max(x0, x1) + 1, Math.max(y0, y1) + 1];
  } else if (g.tool.startsWith("click")) {
    prompt.click = [g.last[0], g.last[1], g.positive];
  } else {
    prompt.scribble = { points: g.points.filter((_, i) => i % 2 === 0 || i === g.points.length - 1), positive: g.positive, width: scribbleWidth() };
  }
  $("new-round").checked = false;
  say("segmenting...");
  await act(async () => {
    apply(await call("/prompt", { method: "POST", json: prompt }));
    say(`person ${S.person} prompted on frame ${S.frame}`);
  });
}

// --- jobs --------------------------------------------------------------------------------------------

function renderJob(job) {
  const running = job && job.state === "running";
  $("cancel").disabled = !running;
  $("propagate").disabled = $("run").disabled = running;
  if (!job) return;
  const bar = $("progress");
  if (job.total) { bar.max = job.total; bar.value = job.done; } else if (running) { bar.removeAttribute("value"); } else { bar.max = 1; bar.value = 1; }
  const stage = job.stage ? ` - ${job.stage} ${job.done}${job.total ? "/" + job.total : ""}` : "";
  $("job-text").textContent = `${job.kind}: ${job.state}${running ? stage : ""} (${job.seconds} s)${job.message ? " - " + job.message : ""}`;
  $("job-text").dataset.state = job.state;
  $("job-text").dataset.kind = job.kind;
  if (running && !S.polling) S.polling = setInterval(poll, 400);
  if (!running && S.polling) { clearInterval(S.polling); S.polling = null; finished(job); }
}

async function poll() {
  await act(async () => apply(await call("/job")));
}

async function finished(job) {
  if (job.state === "failed") say(`${job.kind} failed: ${job.message}`, true);
  else if (job.state === "cancelled") say(`${job.kind} cancelled`);
  else if (job.kind === "propagate") { say(`masks propagated through ${job.result.frames} frames: scrub to check them`); showFrame(S.frame); }
  else if (job.kind === "run") { say(`done in ${job.result.seconds} s`); await showResults(); }
}

async function showResults() {
  const { files } = await call("/outputs");
  const list = $("downloads");
  list.replaceChildren();
  files.forEach(({ name, bytes }) => {
    const item = document.createElement("li");
    item.innerHTML = `<a href="/api/s/${S.sid}/download/${encodeURIComponent(name)}" download="${name}">${name}</a> (${(bytes / 1048576).toFixed(1)} MiB)`;
    list.append(item);
  });
  const edited = files.find((file) => file.name.endsWith(".vmat.mp4"));
  $("video-original").src = `/api/s/${S.sid}/clip`;
  $("video-result").src = edited ? `/api/s/${S.sid}/download/${encodeURIComponent(edited.name)}` : "";
  $("results").hidden = false;
}

function runOptions() {
  const number = (id) => Number($(id).value);
  const options = {
    remove: [...$("remove").querySelectorAll("input:checked")].map((box) => Number(box.value)),
    video: $("out-video").checked, people: $("out-people").checked, layers: $("out-layers").checked,
  };
  if ($("swap-p").value && $("swap-q").value) options.swap = [number("swap-p"), number("swap-q")];
  if ($("drag-id").value) options.drag = { id: number("drag-id"), dx: number("drag-dx"), dy: number("drag-dy"), scale: number("drag-scale") };
  const kind = $("bg-kind").value;
  if (kind === "colour") options.background = { kind, value: $("bg-colour").value };
  if (kind === "path") options.background = { kind, value: $("bg-path").value };
  if (kind === "upload") options.background = { kind, value: S.backgroundUpload || "" };
  return options;
}

// --- wiring ------------------------------------------------------------------------------------------

async function upload(file, purpose) {
  say(`uploading ${file.name}...`);
  return call(`/upload?purpose=${purpose}&name=${encodeURIComponent(file.name)}`, { method: "PUT", body: file });
}

function wire() {
  $("open").onclick = () => act(async () => { apply(await call("/open", { method: "POST", json: { path: $("path").value } })); say("opened"); });
  $("file").onchange = () => act(async () => { apply(await upload($("file").files[0], "clip")); say("uploaded and opened"); });
  $("slider").oninput = () => showFrame(Number($("slider").value));
  $("prev").onclick = () => showFrame(S.frame - 1);
  $("next").onclick = () => showFrame(S.frame + 1);
  $("show-overlay").onchange = draw;
  document.addEventListener("keydown", (event) => {
    if (["INPUT", "SELECT", "TEXTAREA"].includes(event.target.tagName)) return; // the slider steps itself
    if (event.key === "ArrowLeft") showFrame(S.frame - 1);
    if (event.key === "ArrowRight") showFrame(S.frame + 1);
  });
  const canvas = $("canvas");
  canvas.addEventListener("pointerdown", startGesture);
  canvas.addEventListener("pointermove", moveGesture);
  canvas.addEventListener("pointerup", endGesture);
  $("add-person").onclick = () => { S.person = Math.max(0, ...S.people) + 1; S.people.add(S.person); renderPeople(); };
  $("undo").onclick = () => act(async () => apply(await call("/undo", { method: "POST", json: {} })));
  $("clear").onclick = () => act(async () => apply(await call("/clear", { method: "POST", json: { frame: S.frame } })));
  $("load-prompt").onchange = () => act(async () => {
    apply(await call("/prompt.json", { method: "PUT", body: await $("load-prompt").files[0].text() }));
    say("prompt loaded");
  });
  $("propagate").onclick = () => act(async () => apply(await call("/propagate", { method: "POST", json: {} })));
  $("run").onclick = () => act(async () => apply(await call("/run", { method: "POST", json: runOptions() })));
  $("cancel").onclick = () => act(async () => apply(await call("/cancel", { method: "POST", json: {} })));
  $("bg-file").onchange = () => act(async () => {
    S.backgroundUpload = (await upload($("bg-file").files[0], "background")).background;
    $("bg-kind").value = "upload";
    say(`background ${S.backgroundUpload} uploaded`);
  });
  const original = $("video-original");
  const edited = $("video-result");
  $("play-both").onclick = () => { original.currentTime = edited.currentTime; original.play(); edited.play(); };
  $("video-slider").oninput = () => {
    if (!edited.duration) return;
    edited.pause(); original.pause();
    edited.currentTime = original.currentTime = (Number($("video-slider").value) / 1000) * edited.duration;
  };
}

async function start() {
  wire();
  await act(async () => {
    const state = await call("/api/session", { method: "POST", json: {} });
    S.sid = state.session;
    apply(state);
    say(state.clip ? "draw a box around a person, or click on them" : "open a clip");
  });
}

start();

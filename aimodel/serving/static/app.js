// The page of `aimodel serve`: no framework, no build step, nothing loaded from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
let apiKey = "";
let meta = null;

function headers() {
  return apiKey ? { "X-API-Key": apiKey } : {};
}

function setStatus(text, isError = false) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

async function loadMetadata() {
  const response = await fetch("/metadata", { headers: headers() });
  if (response.status === 401) {
    $("key-box").hidden = false;
    setStatus("Enter the API key to use this server.", true);
    return;
  }
  if (!response.ok) {
    setStatus(`Cannot read the model's description (HTTP ${response.status}).`, true);
    return;
  }
  meta = await response.json();
  $("key-box").hidden = true;
  showModel();
}

function showModel() {
  const input = meta.input;
  $("model-name").textContent = meta.name;
  const task = meta.task || "classification";
  const outputs = (meta.outputs || meta.classes).length;
  const what = { classification: "classes", regression: outputs === 1 ? "target" : "targets",
                 multilabel: "labels" }[task];
  const shape = input.kind === "text" ? "one string" : JSON.stringify(input.shape);
  $("model-info").textContent = `${input.kind} model, input ${shape}, ${task}: ${outputs} ${what}` +
    testFigure(task, meta.metrics && meta.metrics.evaluation);
  $("top-k-box").hidden = task !== "classification";
  const classes = outputs;
  $("api-tf").textContent = `POST /v1/models/${meta.name}:predict`;
  const topK = $("top-k");
  topK.replaceChildren();
  for (let k = 1; k <= Math.min(classes, 10); k++) {
    topK.append(new Option(String(k), String(k), false, k === Math.min(3, classes)));
  }
  $("image-panel").hidden = input.kind !== "image";
  $("text-panel").hidden = input.kind !== "text";
  const fileKinds = { tabular: [".csv", "CSV files (one prediction per row)"],
                      sequence: [".npy", ".npy arrays of shape " + JSON.stringify(input.shape)],
                      text: [".txt,.csv", ".txt files, or a CSV file with a text column"] };
  const series = input.series;
  if (series) {  // a forecasting model: CSV files of the series, one forecast table each
    const columns = [series.time_column, series.target, ...series.features].join(", ");
    fileKinds.sequence = [".csv,.tsv", `a CSV of the series (columns ${columns}; at least ${series.window} rows)`];
    $("series-hint").hidden = false;
    $("series-columns").textContent = `the next ${series.horizon} step(s) of ${series.step} after the last ` +
      `${series.window} rows (time column ${series.time_column}, target ${series.target})`;
  }
  if (fileKinds[input.kind]) {
    $("file-panel").hidden = false;
    $("data-file").accept = fileKinds[input.kind][0];
    $("file-kind").textContent = "files";
    $("file-hint").textContent = "Upload " + fileKinds[input.kind][1] + ".";
  }
  setStatus(input.kind === "image" ? "Drop or choose image files, or draw in the box." : "Ready.");
}

function testFigure(task, evaluation) {
  if (!evaluation) return "";
  if (task === "regression" && evaluation.mae !== undefined) return `, test MAE ${evaluation.mae.toPrecision(4)}`;
  if (task === "multilabel" && evaluation.micro_f1 !== undefined) {
    return `, test micro F1 ${(evaluation.micro_f1 * 100).toFixed(2)}%`;
  }
  return evaluation.accuracy !== undefined ? `, test accuracy ${(evaluation.accuracy * 100).toFixed(2)}%` : "";
}

async function predict(form, pictures, titles) {
  form.append("top_k", $("top-k").value || "3");
  setStatus("Predicting…");
  let response;
  try {
    response = await fetch("/predict", { method: "POST", body: form, headers: headers() });
  } catch (err) {
    setStatus(`The server did not answer (${err}).`, true);
    return;
  }
  let body;
  try {
    body = await response.json();
  } catch (err) {
    setStatus(`Unexpected answer (HTTP ${response.status}).`, true);
    return;
  }
  if (response.status === 401) {
    $("key-box").hidden = false;
  }
  if (!body.predictions) {
    setStatus(body.error || `HTTP ${response.status}`, true);
    return;
  }
  showResults(body.predictions, pictures, titles);
  setStatus(body.failed ? body.error : `${body.predictions.length} prediction(s).`, body.failed > 0);
}

function showResults(predictions, pictures, titles) {
  const results = $("results");
  const fresh = [];
  predictions.forEach((p, i) => {
    const card = document.createElement("article");
    card.className = "result";
    card.dataset.input = p.input;
    if (pictures && pictures[i]) {
      const img = document.createElement("img");
      img.src = pictures[i];
      img.alt = p.input;
      card.append(img);
    }
    const body = document.createElement("div");
    body.className = "body";
    const name = document.createElement("div");
    name.className = "name";
    name.textContent = titles && titles[i] ? titles[i] : p.input;
    name.title = p.input;
    body.append(name);
    if (p.error) {
      const error = document.createElement("div");
      error.className = "error";
      error.textContent = p.error;
      body.append(error);
    } else {
      showAnswer(body, p);
    }
    card.append(body);
    fresh.push(card);
  });
  results.prepend(...fresh);
  while (results.children.length > 50) {
    results.lastElementChild.remove();
  }
}

// One prediction's answer: a class and its top-k bars, a value (or one per target), or a label set.
function showAnswer(body, p) {
  const label = document.createElement("div");
  label.className = "label";
  body.append(label);
  if (p.forecast !== undefined) {  // a series' next steps: a table of step, time, value
    label.textContent = `after ${p.last_time}`;
    const table = document.createElement("table");
    table.className = "forecast";
    table.append(row("th", ["step", "time", "value"]));
    for (const s of p.forecast) table.append(row("td", [s.step, s.time, s.value.toPrecision(6)]));
    body.append(table);
  } else if (p.value !== undefined) {
    const values = typeof p.value === "number" ? [["", p.value]] : Object.entries(p.value);
    label.textContent = values.map(([n, v]) => (n ? `${n}: ` : "") + v.toPrecision(6)).join(", ");
  } else if (p.labels !== undefined) {
    label.textContent = p.labels.length ? p.labels.join(", ") : "(no label)";
    for (const [n, prob] of Object.entries(p.probabilities)) {
      body.append(bar(n, prob));
    }
  } else {
    label.textContent = p.label;
    for (const t of p.top_k) {
      body.append(bar(t.label, t.confidence));
    }
  }
}

function row(cell, texts) {
  const tr = document.createElement("tr");
  for (const text of texts) {
    const c = document.createElement(cell);
    c.textContent = text;
    tr.append(c);
  }
  return tr;
}

function bar(label, confidence) {
  const row = document.createElement("div");
  row.className = "bar";
  const name = document.createElement("span");
  name.className = "cls";
  name.textContent = label;
  const track = document.createElement("span");
  track.className = "track";
  const fill = document.createElement("span");
  fill.className = "fill";
  fill.style.width = `${Math.max(0, Math.min(100, confidence * 100)).toFixed(1)}%`;
  track.append(fill);
  const pct = document.createElement("span");
  pct.className = "pct";
  pct.textContent = `${(confidence * 100).toFixed(1)}%`;
  row.append(name, track, pct);
  return row;
}

function sendFiles(files) {
  if (!files.length) return;
  const form = new FormData();
  const pictures = [];
  for (const f of files) {
    form.append("file", f, f.name);
    pictures.push(f.type.startsWith("image/") ? URL.createObjectURL(f) : null);
  }
  predict(form, pictures);
}

// --- drawing -----------------------------------------------------------------------------------

function setUpCanvas() {
  const canvas = $("canvas");
  const ctx = canvas.getContext("2d");
  const clear = () => {
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
  };
  clear();
  ctx.lineCap = ctx.lineJoin = "round";
  ctx.lineWidth = 20;
  ctx.strokeStyle = "#000";
  let drawing = false;
  const at = (e) => {
    const r = canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * canvas.width / r.width, (e.clientY - r.top) * canvas.height / r.height];
  };
  canvas.addEventListener("pointerdown", (e) => {
    drawing = true;
    canvas.setPointerCapture(e.pointerId);
    ctx.beginPath();
    ctx.moveTo(...at(e));
    ctx.lineTo(...at(e));
    ctx.stroke();
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!drawing) return;
    ctx.lineTo(...at(e));
    ctx.stroke();
  });
  const stop = () => { drawing = false; };
  canvas.addEventListener("pointerup", stop);
  canvas.addEventListener("pointercancel", stop);
  $("clear").addEventListener("click", clear);
  $("predict-drawing").addEventListener("click", () => {
    canvas.toBlob((blob) => {
      const form = new FormData();
      form.append("file", blob, "drawing.png");
      predict(form, [URL.createObjectURL(blob)]);
    }, "image/png");
  });
}

// --- wiring ------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("key-box").addEventListener("submit", (e) => {
    e.preventDefault();
    apiKey = $("api-key").value.trim();
    loadMetadata();
  });
  $("file").addEventListener("change", (e) => { sendFiles([...e.target.files]); e.target.value = ""; });
  $("data-file").addEventListener("change", (e) => { sendFiles([...e.target.files]); e.target.value = ""; });
  for (const drop of [$("drop"), $("file-panel")]) {  // drop images, or a CSV of a series
    drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (e) => {
      e.preventDefault();
      drop.classList.remove("over");
      sendFiles([...e.dataTransfer.files]);
    });
  }
  $("text-panel").addEventListener("submit", (e) => {
    e.preventDefault();
    const lines = $("text").value.split("\n").map((s) => s.trim()).filter(Boolean);
    if (!lines.length) { setStatus("Type something first.", true); return; }
    const form = new FormData();
    for (const line of lines) form.append("text", line);
    predict(form, null, lines);
  });
  setUpCanvas();
  loadMetadata().catch((err) => setStatus(`Cannot reach the server (${err}).`, true));
});

// midiforge studio: controls, job progress, piano rolls, playback (Tone.js + @tonejs/midi), bar edits.
"use strict";

const $ = (id) => document.getElementById(id);
const HEAD_WIDTH = 130;
const TRACK_HEIGHT = 84;
const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#17becf"];
const CHANGED = "#e63946";
const state = { result: null, selection: null, mute: {}, solo: {}, player: null, busy: false, options: null, px: 16 };
window.studio = state; // for the browser test and for curious users

// ------------------------------------------------------------------ server
async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  const res = await fetch(path, init);
  let data = {};
  try { data = await res.json(); } catch (e) { /* not JSON */ }
  if (!res.ok) throw new Error(data.error || `${res.status} ${res.statusText}`);
  return data;
}

function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

function formParams() {
  const value = (id) => $(id).value.trim();
  return {
    style: value("style"), key: value("key"), chords: value("chords"), tempo: value("tempo"),
    meter: value("meter"), bars: value("seconds") ? "" : value("bars"), seconds: value("seconds"),
    drums: $("drums").checked, temperature: value("temperature"),
    velocity_temperature: value("velocity-temperature"), seed: value("seed"), n: value("n"),
    groove: value("groove"), density: value("density"), sections: value("sections"), pickup: value("pickup"),
    vary_repeats: $("vary-repeats").checked, dynamics: value("dynamics"),
  };
}

// ------------------------------------------------------------------ jobs
function setBusy(busy) {
  state.busy = busy;
  for (const id of ["generate", "regenerate", "vary"]) $(id).disabled = busy;
}

function followJob(job) {
  setBusy(true);
  $("job").hidden = false;
  return new Promise((resolve) => {
    const tick = async () => {
      try {
        job = await api(`/api/jobs/${job.id}`);
      } catch (e) {
        finish(e.message);
        return;
      }
      $("progress").value = job.progress || 0;
      $("status").textContent = job.message + (job.elapsed ? ` (${job.elapsed} s)` : "");
      if (job.status === "done") finish(null);
      else if (job.status === "error") finish(job.error);
      else setTimeout(tick, 300);
    };
    const finish = async (error) => {
      setBusy(false);
      $("job").hidden = true;
      showError(error);
      await loadHistory();
      if (!error && job.results && job.results.length) await openResult(job.results[0]);
      resolve(job);
    };
    tick();
  });
}

async function generate(event) {
  event.preventDefault();
  showError("");
  try {
    await followJob(await api("/api/generate", formParams()));
  } catch (e) {
    showError(e.message);
  }
}

async function edit(mode) {
  showError("");
  if (!state.result) return;
  try {
    await followJob(await api("/api/edit", {
      result: state.result.id, mode, bars: $("sel-bars").value.trim(), track: $("sel-track").value,
      temperature: $("temperature").value, velocity_temperature: $("velocity-temperature").value,
      seed: $("seed").value,
    }));
  } catch (e) {
    showError(e.message);
  }
}

let checkTimer = null;
function checkChords() {
  clearTimeout(checkTimer);
  checkTimer = setTimeout(async () => {
    const msg = $("chords-msg");
    if (!$("chords").value.trim()) { msg.textContent = ""; return; }
    try {
      const ok = await api("/api/check", formParams());
      msg.className = "msg ok";
      msg.textContent = `${ok.chords} chord${ok.chords === 1 ? "" : "s"}: ${ok.symbols.join(" ")}`;
    } catch (e) {
      msg.className = "msg";
      msg.textContent = e.message;
    }
  }, 250);
}

// ------------------------------------------------------------------ history
async function loadHistory() {
  const { results } = await api("/api/results");
  const list = $("history");
  list.replaceChildren(...results.map((r) => {
    const li = document.createElement("li");
    li.textContent = `${r.title || r.id} · ${r.created || ""}`;
    li.dataset.id = r.id;
    li.classList.toggle("current", state.result && state.result.id === r.id);
    li.addEventListener("click", () => openResult(r.id));
    return li;
  }));
  return results;
}

async function openResult(id) {
  stop();
  try {
    state.result = await api(`/api/results/${id}`);
  } catch (e) {
    showError(e.message);
    return;
  }
  history.replaceState(null, "", `#${id}`);
  for (const li of $("history").children) li.classList.toggle("current", li.dataset.id === id);
  render();
}

// ------------------------------------------------------------------ drawing
function render() {
  const r = state.result;
  const view = r.view;
  $("empty").hidden = true;
  $("song").hidden = false;
  $("title").textContent = r.title || r.id;
  const changed = view.tracks.reduce((n, t) => n + t.notes.filter((x) => x[4]).length, 0);
  $("changes").textContent = r.parent
    ? `${changed} notes changed; everything else is as in ${r.parent}`
    : `${view.meter}, ${view.tempo} bpm` + (r.meta && r.meta.dynamics ? ` · dynamics ${r.meta.dynamics}` : "");
  const midi = $("download-midi");
  midi.href = r.midi;
  $("download-zip").href = r.zip;
  // pixels per beat: the whole piece fits the window when it can, and never gets cramped
  const room = $("roll").clientWidth - HEAD_WIDTH - 4;
  state.px = Math.max(10, Math.min(48, room / Math.max(1, view.end)));
  const width = Math.ceil(view.end * state.px) + 2;
  const ruler = $("ruler");
  ruler.style.width = `${width}px`;
  ruler.replaceChildren();
  view.bars.forEach((beat, i) => {
    const label = document.createElement("div");
    label.className = "bar-label";
    label.style.left = `${beat * state.px}px`;
    label.textContent = String(i + 1);
    const chord = document.createElement("div");
    chord.className = "chord-name";
    chord.style.left = `${beat * state.px}px`;
    chord.textContent = view.chords[i] || "";
    ruler.append(label, chord);
  });
  const roles = ["full", ...new Set(view.tracks.map((t) => t.role).filter((x) => state.options.tracks.includes(x)))];
  const select = $("sel-track");
  select.replaceChildren(...roles.map((role) => new Option(role === "full" ? "all tracks" : role, role)));
  if (state.selection && roles.includes(state.selection.track)) select.value = state.selection.track;
  $("tracks").replaceChildren(...view.tracks.map((track) => trackRow(track, width)));
  drawAll();
}

function trackRow(track, width) {
  const row = document.createElement("div");
  row.className = "track";
  row.dataset.index = track.index;
  row.dataset.role = track.role;
  const head = document.createElement("div");
  head.className = "track-head";
  head.innerHTML = `<b></b><br><span class="dim"></span><br>`;
  head.querySelector("b").textContent = track.name;
  head.querySelector("span").textContent = `${track.role || "track"} · ${track.notes.length} notes`;
  for (const kind of ["mute", "solo"]) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = kind;
    button.textContent = kind === "mute" ? "M" : "S";
    button.title = kind;
    button.classList.toggle("on", !!state[kind][track.index]);
    button.addEventListener("click", () => {
      state[kind][track.index] = !state[kind][track.index];
      button.classList.toggle("on", state[kind][track.index]);
      applyMix();
    });
    head.append(button);
  }
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = TRACK_HEIGHT;
  canvas.dataset.notes = track.notes.length;
  canvas.dataset.changed = track.notes.filter((n) => n[4]).length;
  selectWithMouse(canvas, track);
  row.append(head, canvas);
  return row;
}

function drawAll() {
  const view = state.result.view;
  for (const row of $("tracks").children) draw(row.querySelector("canvas"), view.tracks[+row.dataset.index], view);
}

function draw(canvas, track, view) {
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const sel = state.selection;
  if (sel && (sel.track === "full" || sel.track === track.role)) {
    const x0 = view.bars[sel.first] * state.px;
    const x1 = (sel.last + 1 < view.bars.length ? view.bars[sel.last + 1] : view.end) * state.px;
    ctx.fillStyle = "rgba(255, 214, 10, .25)";
    ctx.fillRect(x0, 0, x1 - x0, canvas.height);
  }
  ctx.fillStyle = "#ddd";
  for (const beat of view.bars) ctx.fillRect(Math.round(beat * state.px), 0, 1, canvas.height);
  if (!track.notes.length) return;
  const pitches = track.notes.map((n) => n[2]);
  const low = Math.min(...pitches) - 1;
  const high = Math.max(...pitches) + 1;
  const rowH = (canvas.height - 4) / (high - low + 1);
  const color = COLORS[track.index % COLORS.length];
  for (const [start, dur, pitch, , changed] of track.notes) {
    ctx.fillStyle = changed ? CHANGED : color;
    const y = 2 + (high - pitch) * rowH;
    ctx.fillRect(start * state.px, y, Math.max(2, dur * state.px - 1), Math.max(2, rowH - 0.5));
  }
}

function barAt(x) {
  const beat = x / state.px;
  const bars = state.result.view.bars;
  let i = 0;
  while (i + 1 < bars.length && bars[i + 1] <= beat) i++;
  return i;
}

function setSelection(first, last, track) {
  state.selection = { first: Math.min(first, last), last: Math.max(first, last), track };
  const s = state.selection;
  $("sel-bars").value = s.first === s.last ? `${s.first + 1}` : `${s.first + 1}-${s.last + 1}`;
  if ([...$("sel-track").options].some((o) => o.value === track)) $("sel-track").value = track;
  drawAll();
}

function selectWithMouse(canvas, track) {
  let anchor = null;
  const role = state.options.tracks.includes(track.role) ? track.role : "full";
  canvas.addEventListener("mousedown", (e) => {
    anchor = barAt(e.offsetX);
    setSelection(anchor, anchor, role);
  });
  canvas.addEventListener("mousemove", (e) => { if (anchor !== null) setSelection(anchor, barAt(e.offsetX), role); });
  window.addEventListener("mouseup", () => { anchor = null; });
}

function selectionFromInputs() {
  const text = $("sel-bars").value.trim();
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  state.selection = m ? { first: +m[1] - 1, last: +(m[2] || m[1]) - 1, track: $("sel-track").value } : null;
  if (state.result) drawAll();
}

// ------------------------------------------------------------------ playback
function applyMix() {
  if (!state.player) return;
  for (const [index, channel] of Object.entries(state.player.channels)) {
    channel.mute = !!state.mute[index];
    channel.solo = !!state.solo[index];
  }
}

function matchTracks(midi, view) {
  // @tonejs/midi keeps every track chunk; pair the ones with notes to the view's tracks by name, then order.
  const free = [...view.tracks];
  const pairs = [];
  for (const t of midi.tracks.filter((x) => x.notes.length)) {
    let i = free.findIndex((v) => v.name === t.name);
    if (i < 0) i = 0;
    if (!free.length) break;
    pairs.push([t, free.splice(i, 1)[0]]);
  }
  return pairs;
}

async function play() {
  if (!state.result) return;
  stop();
  await Tone.start();
  const buffer = await (await fetch(state.result.midi)).arrayBuffer();
  const midi = new Midi(buffer);
  const transport = Tone.getTransport();
  const player = { channels: {}, disposables: [], midi };
  for (const [track, viewTrack] of matchTracks(midi, state.result.view)) {
    const channel = new Tone.Channel({ volume: -10 }).toDestination();
    const synth = viewTrack.drum
      ? new Tone.PolySynth(Tone.MembraneSynth, { volume: -6 })
      : new Tone.PolySynth(Tone.Synth, { oscillator: { type: "triangle" }, envelope: { release: 0.2 } });
    synth.maxPolyphony = 32;
    synth.connect(channel);
    const part = new Tone.Part((time, note) => {
      const name = viewTrack.drum ? Tone.Frequency(36 + (note.midi % 12), "midi").toNote() : note.name;
      synth.triggerAttackRelease(name, Math.max(0.05, note.duration), time, note.velocity);
    }, track.notes.map((n) => ({ time: n.time, name: n.name, midi: n.midi, duration: n.duration, velocity: n.velocity })));
    part.start(0);
    player.channels[viewTrack.index] = channel;
    player.disposables.push(part, synth, channel);
  }
  state.player = player;
  applyMix();
  transport.scheduleOnce(() => stop(), midi.duration + 0.3);
  transport.start("+0.05");
  $("play-state").textContent = "playing";
  const head = document.createElement("div");
  head.id = "playhead";
  head.style.cssText = "position:absolute;top:0;bottom:0;width:2px;background:#e63946;pointer-events:none";
  $("roll").append(head);
  const move = () => {
    if (state.player !== player) return;
    const beats = midi.header.secondsToTicks(transport.seconds) / midi.header.ppq;
    head.style.left = `${HEAD_WIDTH + beats * state.px}px`;
    requestAnimationFrame(move);
  };
  move();
}

function stop() {
  const player = state.player;
  state.player = null;
  if (typeof Tone === "undefined") return;
  const transport = Tone.getTransport();
  transport.stop();
  transport.cancel();
  if (player) for (const d of player.disposables) d.dispose();
  const head = $("playhead");
  if (head) head.remove();
  $("play-state").textContent = "stopped";
}

function dragOut(e) {
  // Chrome and Edge turn DownloadURL into a file dropped on the desktop or a DAW.
  if (!state.result) return;
  const url = new URL(state.result.midi, location.href).href;
  e.dataTransfer.setData("DownloadURL", `audio/midi:${state.result.id}.mid:${url}`);
  e.dataTransfer.setData("text/uri-list", url);
}

// ------------------------------------------------------------------ start
async function init() {
  const options = await api("/api/options");
  state.options = options;
  $("folder").textContent = `results in ${options.folder}`;
  $("style").replaceChildren(...options.styles.map((s) => new Option(s, s)));
  $("key").append(...options.keys.map((k) => new Option(k, k)));
  $("meter").replaceChildren(...options.meters.map((m) => new Option(m, m)));
  $("groove").append(...(options.grooves || []).map((g) => new Option(g, g)));
  $("density").replaceChildren(...(options.densities || []).map((d) => new Option(d, d, d === "medium", d === "medium")));
  $("controls").addEventListener("submit", generate);
  $("chords").addEventListener("input", checkChords);
  $("meter").addEventListener("change", checkChords);
  $("regenerate").addEventListener("click", () => edit("regenerate"));
  $("vary").addEventListener("click", () => edit("vary"));
  $("play").addEventListener("click", play);
  $("stop").addEventListener("click", stop);
  $("sel-bars").addEventListener("input", selectionFromInputs);
  $("sel-track").addEventListener("change", selectionFromInputs);
  $("download-midi").addEventListener("dragstart", dragOut);
  const results = await loadHistory();
  const wanted = location.hash.slice(1);
  if (wanted) await openResult(wanted);
  else if (results.length) await openResult(results[0].id);
}

init().catch((e) => showError(e.message));

// The console's only script: weight sliders, playing a result, live job updates, the playground
// and dataset uploads. Plain JavaScript, no build step; every state-changing fetch sends the
// page's CSRF token in X-CSRF-Token.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

async function post(url, body, type) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-CSRF-Token": csrf(), "Content-Type": type },
    body,
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.message || `${response.status} ${response.statusText}`);
  return data;
}

function weightSliders() {
  const sliders = [...document.querySelectorAll("input[data-weight]")];
  const show = () => {
    const total = sliders.reduce((s, el) => s + Number(el.value), 0);
    for (const el of sliders) {
      const out = document.querySelector(`output[data-share="${el.id}"]`);
      if (out) out.textContent = total ? (Number(el.value) / total).toFixed(2) : "—";
    }
  };
  sliders.forEach((el) => el.addEventListener("input", show));
  show();
}

function players() {
  const player = document.getElementById("player");
  if (!player) return;
  document.querySelectorAll("button.play[data-media]").forEach((button) => {
    button.addEventListener("click", () => {
      const start = Number(button.dataset.start);
      const url = new URL(button.dataset.media, location.href).href;
      document.getElementById("player-wrap").hidden = false;
      document.getElementById("now-playing").textContent = "Playing " + button.dataset.label;
      const seek = () => {
        player.addEventListener("seeked", () => {
          player.dataset.seekedTo = String(player.currentTime);
          player.play().catch(() => {});  // autoplay may be refused; the controls still work
        }, { once: true });
        player.currentTime = start;
      };
      delete player.dataset.seekedTo;
      if (player.src !== url) {
        player.src = url;
        player.addEventListener("loadedmetadata", seek, { once: true });
      } else {
        seek();
      }
      player.focus();
    });
  });
}

function polling() {
  document.querySelectorAll("[data-poll]").forEach((box) => {
    const tick = async () => {
      if (!box.querySelector("[data-running]")) return;  // finished: stop polling
      try {
        const response = await fetch(box.dataset.poll, { credentials: "same-origin" });
        if (response.ok) box.innerHTML = await response.text();
      } finally {
        setTimeout(tick, 1000);
      }
    };
    setTimeout(tick, 1000);
  });
}

// Reads a server-sent event stream from a POST (EventSource can only GET): onEvent(name, data) for
// each event as it arrives.
async function streamPost(url, body, onEvent) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-CSRF-Token": csrf(), "Content-Type": "application/json", Accept: "text/event-stream" },
    body,
  });
  if (!response.ok) {  // refused before the first delta: an ordinary error body
    const data = await response.json().catch(() => ({}));
    throw new Error(data.message || `${response.status} ${response.statusText}`);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const name = /^event: (.*)$/m.exec(frame)?.[1];
      const data = /^data: (.*)$/m.exec(frame)?.[1];
      if (name && data) onEvent(name, JSON.parse(data));
    }
  }
}

function playground() {
  const form = document.getElementById("playground");
  if (!form) return;
  const log = document.getElementById("pg-log");
  const turns = [];
  const say = (role, text, cls) => {
    const li = document.createElement("li");
    li.className = cls || role;
    li.textContent = `${role}: ${text}`;
    log.append(li);
    return li;
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = form.elements.text.value.trim();
    if (!text) return;
    turns.push({ role: "user", text });
    say("user", text);
    form.elements.text.value = "";
    let answer = "", li = null, deltas = 0;
    try {
      await streamPost(form.dataset.url, JSON.stringify({ model: form.elements.model.value, messages: turns }), (name, data) => {
        if (name === "delta") {
          answer += data.text;
          li = li || say("assistant", "");
          li.textContent = `assistant: ${answer}`;
          li.dataset.deltas = String(++deltas);
        } else if (name === "end") {
          li = li || say("assistant", "");
          li.dataset.done = data.stopReason;
        } else if (name === "error") {
          throw new Error(data.message);
        }
      });
      turns.push({ role: "assistant", text: answer });
    } catch (err) {
      turns.pop();
      if (li) li.remove();
      say("error", err.message, "error");
    }
  });
}

function upload() {
  const form = document.getElementById("upload");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = form.elements.file.files[0];
    const error = document.getElementById("upload-error");
    error.hidden = true;
    const query = new URLSearchParams({ name: file.name, profile: form.elements.profile.value });
    try {
      const out = await post(`${form.dataset.url}?${query}`, file, "application/octet-stream");
      location.href = out.report + "#report";
    } catch (err) {
      error.textContent = err.message;
      error.hidden = false;
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  weightSliders();
  players();
  polling();
  playground();
  upload();
});

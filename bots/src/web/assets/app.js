"use strict";
// headshot web chat: renders the transcript streamed over SSE and posts user input.
(() => {
  const $ = (sel) => document.querySelector(sel);
  const thread = $("#thread"), text = $("#text"), conn = $("#conn");
  const working = $("#working"), drop = $("#drop");
  let localSeq = 0, actionText = "", actionTimer = 0, uploads = 0;

  // Small DOM helper: h("a", {href, className}, child, "text", ...).
  function h(tag, props, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k in el && typeof v !== "string") el[k] = v;
      else if (k === "className" || k === "textContent") el[k] = v;
      else el.setAttribute(k, v);
    }
    el.append(...kids.filter((k) => k !== null && k !== undefined));
    return el;
  }

  // Only same-origin paths or http(s) links are ever put into href/src.
  const safeUrl = (u) => (typeof u === "string" && /^(\/(?!\/)|https?:)/i.test(u) ? u : null);

  function fmtBytes(n) {
    if (!Number.isFinite(n)) return "";
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${Math.round(n / 1024)} KB`;
    return `${(n / 1024 / 1024).toFixed(1)} MB`;
  }

  const nearBottom = () =>
    window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 120;
  const toBottom = () => window.scrollTo(0, document.documentElement.scrollHeight);

  // ---- rendering -------------------------------------------------------

  function renderAttachment(a, isResult) {
    const url = safeUrl(a.url), dl = safeUrl(a.download) || url;
    const name = String(a.name || "file");
    const link = dl ? h("a", { href: dl, download: name, className: "dl" }, `Download ${name}`) : null;
    if (!String(a.mime || "").startsWith("image/") || !url) {
      return h("div", { className: "att file" }, link || name,
        a.bytes ? h("span", { className: "meta" }, ` · ${fmtBytes(a.bytes)}`) : null);
    }
    const img = h("img", {
      src: url, alt: name, className: isResult ? "result" : "thumb", decoding: "async",
      width: a.width > 0 ? String(a.width) : null, height: a.height > 0 ? String(a.height) : null,
    });
    const meta = [name];
    if (a.width && a.height) meta.push(`${a.width}×${a.height}`);
    if (a.bytes) meta.push(fmtBytes(a.bytes));
    return h("figure", { className: "att" },
      h("a", { href: url, target: "_blank", rel: "noopener", className: "view" }, img),
      h("figcaption", {}, h("span", { className: "meta" }, meta.join(" · ")), " ", link));
  }

  function render(m) {
    const from = ["bot", "user", "system"].includes(m.from) ? m.from : "bot";
    const el = h("article", { className: `msg ${from}`, "data-id": String(m.id ?? "") });
    if (m.kind) el.dataset.kind = m.kind;
    if (m.text) {
      el.append(h("div", { className: "text", textContent: m.text }));
      const w = /Working[^\n]*?(\d+)\s*\/\s*(\d+)/.exec(m.text);
      if (w && +w[2] > 0) {
        el.append(h("progress", { max: String(w[2]), value: String(Math.min(+w[1], +w[2])), "aria-label": "Progress" }));
      }
    }
    const atts = Array.isArray(m.attachments) ? m.attachments : [];
    if (atts.length) {
      const isResult = from === "bot" && (m.kind === "album" || m.kind === "files");
      const box = h("div", { className: `atts${atts.length > 1 ? " grid" : ""}` });
      for (const a of atts) box.append(renderAttachment(a, isResult));
      el.append(box);
    }
    for (const row of Array.isArray(m.buttons) ? m.buttons : []) {
      const r = h("div", { className: "buttons", role: "group" });
      for (const b of row || []) {
        r.append(h("button", { type: "button", className: "action", "data-data": String(b.data ?? "") }, String(b.label ?? "")));
      }
      el.append(r);
    }
    return el;
  }

  function findMsg(id) {
    for (const el of thread.children) if (el.dataset.id === String(id)) return el;
    return null;
  }

  // Append or replace message `m`; `edit` keeps position and focus.
  function upsert(m) {
    if (!m || m.id === undefined) return;
    const stick = nearBottom() || m.from === "user";
    const old = findMsg(m.id), el = render(m);
    if (old) {
      const focused = old.contains(document.activeElement) ? document.activeElement.dataset.data : null;
      old.replaceWith(el);
      if (focused) el.querySelector(`button.action[data-data="${CSS.escape(focused)}"]`)?.focus();
    } else {
      thread.append(el);
      if (m.from === "bot") setAction("");
    }
    if (!stick) return;
    toBottom();
    // Images without a known size grow the page once loaded; follow them if still at the end.
    el.querySelectorAll("img:not([height])").forEach((img) => img.addEventListener("load", () => {
      if (window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - img.height - 120) toBottom();
    }, { once: true }));
  }

  // A local, client-only system note (errors from the server, network failures).
  function note(msg) {
    upsert({ id: `local-${++localSeq}`, from: "system", text: msg });
    toBottom();
  }

  // The transient "working" line: uploads in flight win over the bot's chat action.
  function updateWorking() {
    const msg = uploads ? "Uploading…" : actionText;
    working.textContent = msg;
    working.hidden = !msg;
  }
  function setAction(msg) {
    clearTimeout(actionTimer);
    actionText = msg;
    if (msg) actionTimer = setTimeout(() => setAction(""), 5000);
    updateWorking();
  }

  // ---- talking to the server ------------------------------------------

  async function post(url, body) {
    const init = { method: "POST" };
    if (body instanceof FormData) init.body = body;
    else { init.headers = { "Content-Type": "application/json" }; init.body = JSON.stringify(body); }
    try {
      const r = await fetch(url, init);
      if (r.ok) return true;
      let msg = `Request failed (${r.status}).`;
      try { const j = await r.json(); if (j && j.error) msg = String(j.error); } catch (_) { /* not JSON */ }
      note(msg);
    } catch (e) {
      note("Could not reach the headshot server. Is it still running?");
    }
    return false;
  }

  const pressTemporarily = (buttons, ms = 1500) => {
    buttons.forEach((b) => { b.disabled = true; });
    setTimeout(() => buttons.forEach((b) => { b.disabled = false; }), ms);
  };

  async function sendText(t) {
    t = t.trim();
    if (!t) return;
    return post("/api/send", { text: t });
  }

  $("#form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const t = text.value;
    if (!t.trim()) return;
    text.value = "";
    const ok = await sendText(t);
    if (!ok && !text.value) text.value = t; // keep what failed so it can be retried
  });

  document.querySelectorAll("button.cmd").forEach((b) =>
    b.addEventListener("click", () => { pressTemporarily([b], 800); sendText(b.dataset.cmd); }));

  thread.addEventListener("click", (ev) => {
    const b = ev.target.closest("button.action");
    if (!b || b.disabled) return;
    pressTemporarily([...b.parentElement.querySelectorAll("button")]);
    post("/api/button", { data: b.dataset.data });
  });

  // ---- uploads: picker, camera, drag and drop, paste -------------------

  async function upload(list) {
    const files = [...list].filter((f) => !f.type || f.type.startsWith("image/"));
    if (!files.length) { note("Only image files can be uploaded."); return; }
    const fd = new FormData();
    files.forEach((f, i) => fd.append("photo", f, f.name || `photo-${i + 1}.${(f.type.split("/")[1] || "jpg").replace(/\W.*/, "")}`));
    const cmd = text.value.trim();
    let caption = null;
    if (cmd.startsWith("/")) { caption = cmd; fd.append("caption", cmd); text.value = ""; }
    uploads++;
    updateWorking();
    const ok = await post("/api/upload", fd);
    uploads--;
    updateWorking();
    if (!ok && caption && !text.value) text.value = caption;
  }

  for (const input of [$("#file"), $("#camera")]) {
    input.addEventListener("change", () => {
      if (input.files.length) upload(input.files);
      input.value = ""; // allow picking the same file again
    });
  }

  let dragDepth = 0;
  const hasFiles = (ev) => ev.dataTransfer && [...ev.dataTransfer.types].includes("Files");
  window.addEventListener("dragenter", (ev) => {
    if (!hasFiles(ev)) return;
    ev.preventDefault();
    dragDepth++;
    drop.hidden = false;
  });
  window.addEventListener("dragover", (ev) => { if (hasFiles(ev)) ev.preventDefault(); });
  window.addEventListener("dragleave", (ev) => {
    if (hasFiles(ev) && --dragDepth <= 0) { dragDepth = 0; drop.hidden = true; }
  });
  window.addEventListener("drop", (ev) => {
    if (!hasFiles(ev)) return;
    ev.preventDefault();
    dragDepth = 0;
    drop.hidden = true;
    if (ev.dataTransfer.files.length) upload(ev.dataTransfer.files);
  });
  document.addEventListener("paste", (ev) => {
    const files = [...(ev.clipboardData?.files || [])].filter((f) => f.type.startsWith("image/"));
    if (!files.length) return;
    ev.preventDefault();
    upload(files);
  });

  // ---- style catalog ---------------------------------------------------

  async function loadCatalog() {
    let cat;
    try {
      const r = await fetch("/api/catalog");
      if (!r.ok) throw new Error(String(r.status));
      cat = await r.json();
    } catch (_) {
      setTimeout(loadCatalog, 5000);
      return;
    }
    const styles = Array.isArray(cat.styles) ? cat.styles : [];
    const box = $("#styles");
    box.textContent = "";
    const order = ["headshot", "portrait"];
    const groups = [...order, ...new Set(styles.map((s) => s.mode).filter((m) => !order.includes(m)))];
    for (const mode of groups) {
      const list = styles.filter((s) => (s.mode || "headshot") === mode);
      if (!list.length) continue;
      const g = h("div", { className: "group", role: "group", "aria-label": `${mode} styles` },
        h("span", { className: "group-title", "aria-hidden": "true" }, mode));
      for (const s of list) {
        g.append(h("button", {
          type: "button", className: "style", "data-style": String(s.name),
          title: s.description || null,
        }, String(s.title || s.name)));
      }
      box.append(g);
    }
    const dl = $("#commands");
    dl.textContent = "";
    for (const c of Array.isArray(cat.commands) ? cat.commands : []) {
      dl.append(h("option", { value: `/${c.name}` }, c.description || ""));
    }
  }

  $("#styles").addEventListener("click", (ev) => {
    const b = ev.target.closest("button.style");
    if (!b || b.disabled) return;
    pressTemporarily([b], 1000);
    post("/api/button", { data: `style:${b.dataset.style}` });
  });

  // ---- live updates ----------------------------------------------------

  function setConn(state, label) {
    conn.dataset.state = state;
    conn.textContent = label;
  }

  function connect() {
    const es = new EventSource("/api/events");
    const on = (type, fn) => es.addEventListener(type, (ev) => {
      let data;
      try { data = JSON.parse(ev.data || "{}"); } catch (_) { return; }
      fn(data);
    });
    es.addEventListener("open", () => setConn("connected", "connected"));
    es.addEventListener("error", () => {
      setConn("reconnecting", "reconnecting…");
      // The browser retries by itself unless the server refused the stream outright.
      if (es.readyState === EventSource.CLOSED) { es.close(); setTimeout(connect, 3000); }
    });
    on("reset", () => { thread.textContent = ""; setAction(""); });
    on("message", upsert);
    on("edit", upsert);
    on("action", (a) => setAction(a.kind === "upload_photo" ? "headshot is preparing your photos…" : "headshot is working…"));
  }

  loadCatalog();
  connect();
})();

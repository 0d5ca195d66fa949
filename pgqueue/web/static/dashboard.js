// pgqueue dashboard: live updates over Server-Sent Events. No framework, no build step.
// Everything read from the server is written with textContent, never as markup.
"use strict";
(function () {
  const base = document.body.dataset.base || "";
  const page = document.body.dataset.page;
  const live = document.getElementById("live");

  function setLive(on) {
    if (!live) return;
    live.classList.add("shown");  // only pages with a stream show the indicator
    live.classList.toggle("on", on);
  }

  function seconds(value) {
    if (typeof value !== "number") return "";
    if (value < 60) return value.toFixed(1) + "s";
    if (value < 3600) return (value / 60).toFixed(0) + "m";
    return (value / 3600).toFixed(1) + "h";
  }

  // Forms that destroy something ask first.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });

  const SVG = "http://www.w3.org/2000/svg";
  function el(name, attrs) {
    const node = document.createElementNS(SVG, name);
    for (const key in attrs) node.setAttribute(key, String(attrs[key]));
    return node;
  }

  function drawChart(throughput) {
    const box = document.getElementById("chart");
    if (!box) return;
    const width = Math.max(box.clientWidth, 300), height = 140, bottom = 18;
    const slots = 60, now = Math.floor(Date.now() / 60000);
    const counts = [];
    for (let i = 0; i < slots; i++) counts.push({ ok: 0, bad: 0 });
    (throughput || []).forEach(function (row) {
      const index = slots - 1 - (now - Math.floor(Date.parse(row.minute) / 60000));
      if (index >= 0 && index < slots) {
        counts[index].ok += row.succeeded;
        counts[index].bad += row.failed;
      }
    });
    const max = Math.max(1, ...counts.map(function (c) { return c.ok + c.bad; }));
    const svg = el("svg", { viewBox: "0 0 " + width + " " + height, preserveAspectRatio: "none" });
    const step = width / slots, plot = height - bottom - 14;
    counts.forEach(function (c, i) {
      const okH = (c.ok / max) * plot, badH = (c.bad / max) * plot;
      const x = i * step + 1, w = Math.max(1, step - 2), y0 = height - bottom;
      if (c.ok) svg.appendChild(el("rect", { class: "ok", x: x, y: y0 - okH, width: w, height: okH, rx: 1 }));
      if (c.bad) svg.appendChild(el("rect", { class: "bad", x: x, y: y0 - okH - badH, width: w, height: badH, rx: 1 }));
    });
    svg.appendChild(el("line", { class: "axis", x1: 0, x2: width, y1: height - bottom, y2: height - bottom }));
    [["60 min ago", 2, "start"], ["30", width / 2, "middle"], ["now", width - 2, "end"]].forEach(function (t) {
      const label = el("text", { x: t[1], y: height - 4, "text-anchor": t[2] });
      label.textContent = t[0];
      svg.appendChild(label);
    });
    const total = counts.reduce(function (sum, c) { return sum + c.ok + c.bad; }, 0);
    const peak = el("text", { x: 2, y: 10 });
    peak.textContent = total ? "peak " + max + "/min · " + total + " in the hour" : "no jobs finished in the last hour";
    svg.appendChild(peak);
    box.replaceChildren(svg);
  }

  function queueRow(tbody, name) {
    for (const row of tbody.rows) if (row.dataset.queue === name) return row;
    const row = document.createElement("tr");
    row.dataset.queue = name;
    const first = document.createElement("td");
    const link = document.createElement("a");
    link.className = "queue-link";
    link.href = base + "/jobs?queue=" + encodeURIComponent(name);
    link.textContent = name;
    first.appendChild(link);
    row.appendChild(first);
    ["ready", "scheduled", "running", "retrying", "waiting", "dead", "succeeded_5m", "failed_5m", "lag_seconds"].forEach(function (field) {
      const cell = document.createElement("td");
      cell.className = "n";
      if (field === "dead") {
        const a = document.createElement("a");
        a.href = base + "/dead?queue=" + encodeURIComponent(name);
        a.dataset.field = field;
        cell.appendChild(a);
      } else {
        cell.dataset.field = field;
      }
      row.appendChild(cell);
    });
    const empty = tbody.querySelector("tr.empty");
    if (empty) empty.remove();
    tbody.appendChild(row);
    return row;
  }

  function applyOverview(data) {
    drawChart(data.throughput);
    const tbody = document.querySelector("#queues tbody");
    const totals = { ready: 0, running: 0, scheduled: 0, retrying: 0, waiting: 0, dead: 0 };
    (data.queues || []).forEach(function (q) {
      for (const key in totals) totals[key] += q[key];
      if (!tbody) return;
      const row = queueRow(tbody, q.queue);
      row.querySelectorAll("[data-field]").forEach(function (cell) {
        const field = cell.dataset.field;
        cell.textContent = field === "lag_seconds" ? seconds(q[field]) : String(q[field]);
        if (field === "dead") {
          cell.classList.toggle("dead-count", q.dead > 0);
          cell.classList.toggle("zero", q.dead === 0);
        }
      });
    });
    document.querySelectorAll("[data-total]").forEach(function (node) {
      node.textContent = String(totals[node.dataset.total]);
    });
    const deadCard = document.getElementById("dead-card");
    if (deadCard) deadCard.classList.toggle("danger", totals.dead > 0);
    document.querySelectorAll("[data-workers]").forEach(function (node) {
      node.textContent = String(data.workers[node.dataset.workers]);
    });
  }

  if (page === "queues") {
    const initial = document.getElementById("overview-data");
    if (initial) drawChart(JSON.parse(initial.textContent).throughput);
    const stream = new EventSource(base + "/api/live");
    stream.onopen = function () { setLive(true); };
    stream.onerror = function () { setLive(false); };
    stream.addEventListener("overview", function (event) { applyOverview(JSON.parse(event.data)); });
  }

  function applyWorkers(rows) {
    const tbody = document.querySelector("#workers tbody");
    if (!tbody) return;
    const known = new Set(Array.from(tbody.rows).map(function (r) { return r.dataset.workerId; }).filter(Boolean));
    const now = new Set(rows.map(function (w) { return w.id; }));
    if (known.size !== now.size || rows.some(function (w) { return !known.has(w.id); })) {
      window.location.reload();  // a worker came or went: the page lists them all afresh
      return;
    }
    rows.forEach(function (w) {
      for (const row of tbody.rows) {
        if (row.dataset.workerId !== w.id) continue;
        row.querySelectorAll("[data-field]").forEach(function (cell) {
          const field = cell.dataset.field;
          if (field === "alive") {
            const badge = document.createElement("span");
            badge.className = "badge " + (w.alive ? "state-succeeded" : "state-dead");
            badge.textContent = w.alive ? "alive" : "lost";
            cell.replaceChildren(badge);
          } else if (field === "heartbeat_age_seconds" || field === "uptime_seconds") {
            cell.textContent = seconds(w[field]);
          } else if (field === "health") {
            cell.textContent = w.health;
            cell.className = w.health === "ok" ? "ok-text" : "err";
          } else {
            cell.textContent = String(w[field]);
          }
        });
      }
    });
  }

  if (page === "workers") {
    const stream = new EventSource(base + "/api/live");
    stream.onopen = function () { setLive(true); };
    stream.onerror = function () { setLive(false); };
    stream.addEventListener("overview", function (event) {
      applyWorkers(JSON.parse(event.data).worker_rows || []);
    });
  }

  if (page === "job") {
    const head = document.querySelector("[data-job-id]");
    if (head && head.dataset.jobFinished === "no") {
      const id = head.dataset.jobId;
      const bar = document.getElementById("progress");
      const value = document.getElementById("progress-value");
      const message = document.getElementById("progress-message");
      const stream = new EventSource(base + "/api/jobs/" + encodeURIComponent(id) + "/events");
      stream.onopen = function () { setLive(true); };
      stream.onerror = function () { setLive(false); };
      stream.addEventListener("progress", function (event) {
        const data = JSON.parse(event.data);
        // A fraction 0..1 is the convention (docs/progress.md); other numbers are shown as they are.
        if (typeof data.value === "number" && data.value >= 0 && data.value <= 1) {
          bar.value = data.value;
          value.textContent = (data.value * 100).toFixed(0) + "%";
        } else if (typeof data.value === "number") {
          bar.removeAttribute("value");
          value.textContent = String(data.value);
        }
        message.textContent = data.message || "";
        const state = document.getElementById("job-state");
        if (state.textContent !== "running") {
          state.textContent = "running";
          state.className = "badge big-badge state-running";
        }
      });
      stream.addEventListener("finished", function () {
        // The stream ends with the outcome; reload to show the result, errors and timeline.
        stream.close();
        window.location.reload();
      });
    }
  }
})();

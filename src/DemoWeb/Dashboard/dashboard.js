// Polls /stats once a second and renders the per-loop counters (and, through charts.js, their
// history); no framework, no CDN.
(function () {
  "use strict";
  const counters = ["connections.current", "connections.accepted", "bytes.received", "bytes.sent", "reads", "writes", "epoll.wakeups"];
  let previous = null;

  function format(n) {
    return Number(n || 0).toLocaleString("en-US");
  }

  function formatBytesPerSecond(n) {
    if (n < 1024) return n.toFixed(0) + " B/s";
    if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KiB/s";
    return (n / 1024 / 1024).toFixed(1) + " MiB/s";
  }

  function render(stats) {
    const status = document.getElementById("status");
    if (stats.loops.length === 0) {
      status.textContent = "transport: " + stats.transport + " — no epoll counters (the Sockets transport has none)";
    } else {
      status.textContent = "transport: " + stats.transport + " — " + stats.loops.length + " epoll loop(s) — updated " + new Date(stats.time).toLocaleTimeString();
    }
    for (const name of counters) {
      const cell = document.getElementById("total-" + name.replace(".", "-"));
      if (cell) cell.textContent = format(stats.totals[name]);
    }
    if (previous) {
      const seconds = Math.max(0.001, (new Date(stats.time) - new Date(previous.time)) / 1000);
      for (const name of ["bytes.received", "bytes.sent"]) {
        const delta = (stats.totals[name] || 0) - (previous.totals[name] || 0);
        document.getElementById("rate-" + name.replace(".", "-")).textContent = formatBytesPerSecond(Math.max(0, delta) / seconds);
      }
    }
    previous = stats;
    if (window.DashboardCharts) window.DashboardCharts.add(stats);

    const body = document.getElementById("loops");
    body.replaceChildren();
    for (const loop of stats.loops) {
      const row = document.createElement("tr");
      row.dataset.loop = loop.loop;
      const cells = [String(loop.loop)].concat(counters.map(name => format(loop.values[name])));
      for (const text of cells) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.appendChild(cell);
      }
      body.appendChild(row);
    }
  }

  async function refresh() {
    try {
      const response = await fetch("/stats", { cache: "no-store" });
      render(await response.json());
    } catch (error) {
      document.getElementById("status").textContent = "cannot reach /stats: " + error;
    }
  }

  refresh();
  setInterval(refresh, 1000);
})();

// Renders the per-loop counters (and, through charts.js, their history) from the snapshots the
// /hubs/stats SignalR hub pushes once a second; polls /stats instead while the hub cannot be reached.
// No framework, no CDN.
(function () {
  "use strict";
  const counters = ["connections.current", "connections.accepted", "bytes.received", "bytes.sent", "reads", "writes", "epoll.wakeups"];
  const HubPath = "/hubs/stats";
  // While polling, how often to try the hub again (it may be back after a restart, or a proxy may have dropped it).
  const HubRetry = 10000;
  let previous = null;
  // How updates arrive, "signalr" or "polling"; on <body data-updates> too, for tests and curious people.
  let updates = null;
  let pollTimer = null;

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
    const via = updates === "signalr" ? "live over SignalR" : "polling /stats";
    if (stats.loops.length === 0) {
      status.textContent = "transport: " + stats.transport + " — no epoll counters (the Sockets transport has none) — " + via;
    } else {
      status.textContent = "transport: " + stats.transport + " — " + stats.loops.length + (stats.loops.length === 1 ? " epoll loop" : " epoll loops") + " — updated " + new Date(stats.time).toLocaleTimeString() + " — " + via;
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

  function setUpdates(way) {
    updates = way;
    document.body.dataset.updates = way;
  }

  async function refresh() {
    try {
      const response = await fetch("/stats", { cache: "no-store" });
      const stats = await response.json();
      // A poll that was under way when the hub took over is simply one more sample.
      render(stats);
    } catch (error) {
      document.getElementById("status").textContent = "cannot reach /stats: " + error;
    }
  }

  function startPolling() {
    if (pollTimer !== null) return;
    setUpdates("polling");
    refresh();
    pollTimer = setInterval(refresh, 1000);
  }

  function stopPolling() {
    clearInterval(pollTimer);
    pollTimer = null;
  }

  function connectHub() {
    if (!window.SignalRClient) {
      startPolling();
      return;
    }
    window.SignalRClient.connect(HubPath, {
      stats: stats => {
        if (updates !== "signalr") {
          stopPolling();
          setUpdates("signalr");
        }
        render(stats);
      },
    }, reason => {
      console.log("dashboard: the stats hub is unavailable (" + reason + "); polling /stats");
      startPolling();
      setTimeout(connectHub, HubRetry);
    });
  }

  connectHub();
})();

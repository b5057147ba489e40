// Draws the dashboard's history charts as inline SVG: one line per epoll loop over the last few
// minutes. No framework and no CDN, so the page works offline and on a box with no internet access.
// dashboard.js calls DashboardCharts.add(stats) once per /stats poll.
(function () {
  "use strict";
  const svgNs = "http://www.w3.org/2000/svg";
  const windowSamples = 180;              // three minutes at one sample a second
  const width = 600, height = 140, top = 8, bottom = 18;
  const colors = ["#38bdf8", "#f472b6", "#a3e635", "#fbbf24", "#c084fc", "#34d399", "#f87171", "#60a5fa"];

  // Each chart derives one number per loop from two consecutive samples (rates) or from one (gauges).
  const charts = [
    { id: "chart-requests", title: "reads per second (≈ requests or messages)", unit: "/s",
      value: (loop, before, seconds) => rate(loop, before, "reads", seconds) },
    { id: "chart-bytes", title: "bytes per second, in + out", unit: "B/s",
      value: (loop, before, seconds) => rate(loop, before, "bytes.received", seconds) + rate(loop, before, "bytes.sent", seconds) },
    { id: "chart-connections", title: "open connections", unit: "",
      value: loop => Number(loop.values["connections.current"] || 0) },
  ];

  const history = [];                     // [{ time, loops: { loopNumber: [value per chart] } }]
  let previous = null;

  function rate(loop, before, name, seconds) {
    if (!before) return 0;
    const delta = Number(loop.values[name] || 0) - Number(before.values[name] || 0);
    return Math.max(0, delta) / seconds;  // a counter only goes up; a negative delta is a restarted server
  }

  function scaled(n, unit) {
    const steps = unit === "B/s" ? [[1024 * 1024 * 1024, " GiB/s"], [1024 * 1024, " MiB/s"], [1024, " KiB/s"]] : [[1e6, "M"], [1e3, "k"]];
    for (const [size, suffix] of steps) {
      if (n >= size) return (n / size).toFixed(1) + (unit === "B/s" ? suffix : suffix + unit);
    }
    return n.toFixed(0) + (unit === "B/s" ? " B/s" : unit);
  }

  function element(name, attributes, parent) {
    const node = document.createElementNS(svgNs, name);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
    if (parent) parent.appendChild(node);
    return node;
  }

  function add(stats) {
    if (!stats.loops || stats.loops.length === 0) return;   // Sockets: nothing per loop to draw
    const time = new Date(stats.time);
    const seconds = previous ? Math.max(0.001, (time - new Date(previous.time)) / 1000) : 1;
    const sample = { time, loops: {} };
    for (const loop of stats.loops) {
      const before = previous && previous.loops.find(l => l.loop === loop.loop);
      sample.loops[loop.loop] = charts.map(chart => chart.value(loop, before, seconds));
    }
    previous = stats;
    history.push(sample);
    if (history.length > windowSamples) history.shift();
    draw(stats.loops.map(l => l.loop));
  }

  function draw(loopNumbers) {
    const container = document.getElementById("charts");
    if (!container) return;
    container.hidden = false;
    charts.forEach((chart, index) => {
      let figure = document.getElementById(chart.id);
      if (!figure) {
        figure = document.createElement("figure");
        figure.id = chart.id;
        figure.className = "chart";
        const caption = document.createElement("figcaption");
        caption.textContent = chart.title;
        figure.appendChild(caption);
        container.appendChild(figure);
      }
      const old = figure.querySelector("svg");
      if (old) old.remove();
      const svg = element("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": chart.title, "data-points": String(history.length) });
      figure.querySelector("figcaption").after(svg);   // redrawn each sample, always between caption and legend
      let peak = 0;
      for (const sample of history) for (const n of loopNumbers) peak = Math.max(peak, (sample.loops[n] || [])[index] || 0);
      const ceiling = peak > 0 ? peak * 1.1 : 1;
      element("line", { x1: 0, y1: height - bottom, x2: width, y2: height - bottom, class: "axis" }, svg);
      element("text", { x: 4, y: top + 10, class: "scale" }, svg).textContent = "max " + scaled(peak, chart.unit);
      element("text", { x: width - 4, y: height - 4, class: "scale", "text-anchor": "end" }, svg).textContent = "now";
      element("text", { x: 4, y: height - 4, class: "scale" }, svg).textContent = `−${windowSamples / 60} min`;
      loopNumbers.forEach((n, i) => {
        const points = history.map((sample, at) => {
          const x = width - (history.length - 1 - at) * (width / (windowSamples - 1));
          const y = (height - bottom) - ((sample.loops[n] || [])[index] || 0) / ceiling * (height - bottom - top);
          return x.toFixed(1) + "," + y.toFixed(1);
        });
        const values = history.map(sample => (sample.loops[n] || [])[index] || 0);
        element("polyline", {
          points: points.join(" "), fill: "none", stroke: colors[i % colors.length], "stroke-width": 2,
          "data-loop": String(n), "data-last": String(values[values.length - 1]), "data-max": String(Math.max(...values)),
        }, svg);
      });
      let legend = figure.querySelector(".legend");
      if (!legend) {
        legend = document.createElement("div");
        legend.className = "legend";
        figure.appendChild(legend);
      }
      legend.replaceChildren(...loopNumbers.map((n, i) => {
        const item = document.createElement("span");
        item.style.color = colors[i % colors.length];
        item.textContent = "■ loop " + n;
        return item;
      }));
    });
  }

  window.DashboardCharts = { add };
})();

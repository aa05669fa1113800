// A line chart of metric series (uPlot on a canvas), read through GET /v1/metric-series.
//
// Points: the server cuts each series to the chart's x range and keeps every bucket's
// lowest and highest point (docs/openapi.yaml), about two per pixel column; uPlot then
// draws each column's first, lowest, highest and last point. So a spike is never thinned
// away, however long the series. Dragging across the chart zooms in and reads the zoomed
// range again at full detail; a double click zooms back out.
//
// For tests and benchmarks, window.__kiln.charts[id] holds what the chart shows: its uPlot
// data, the request it last made and when it was drawn (bench/ui/studio_bench.mjs).
import uPlot from 'uplot';
import { useEffect, useRef, useState } from 'preact/hooks';
import { getJson, query } from '../api.js';
import { toNumber } from '../format.js';
import { html } from '../html.js';
import { useWidth } from './use_width.js';

export const kPalette = ['#1f6feb', '#d1242f', '#1a7f37', '#9a6700', '#8250df', '#bf3989',
                         '#0a7e8c', '#57606a', '#fb8500', '#3a86ff'];

// Points asked per pixel column of the plot: uPlot's own decimation finishes the job.
const kPointsPerPixel = 2;
// How often a live chart reads its series again.
const kLiveMs = 5000;

window.__kiln = window.__kiln || { charts: {} };
// The chart library itself, for the benchmark that draws a series whole as its peer.
window.__kiln.uPlot = uPlot;

// TensorBoard's debiased exponential moving average, weight in [0, 1).
export function smooth(values, weight) {
  if (!weight) return values;
  const out = new Array(values.length);
  let last = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || !Number.isFinite(v)) {
      out[i] = v;
      continue;
    }
    last = last * weight + (1 - weight) * v;
    n++;
    out[i] = last / (1 - weight ** n);
  }
  return out;
}

// Series from the API as x/y arrays on the chosen axis (time in seconds for uPlot).
function toXY(series, axis) {
  const xs = axis === 'time' ? series.times.map((t) => t / 1e6) : series.steps;
  const ys = series.values.map(toNumber);
  return { xs, ys };
}

// One x array for every series (uPlot's shape): the union of their x values, with null
// where a series has no point.
function align(list) {
  if (list.length === 1) return [Float64Array.from(list[0].xs), list[0].ys];
  return uPlot.join(list.map(({ xs, ys }) => [xs, ys]));
}

// lines: [{run, name, label, color?, dash?}]. axis: 'step' | 'time'. smoothing: 0..0.99. logY: bool.
// live: read again every few seconds (not while zoomed in, nor while the tab is hidden).
// range/onRange: the zoom ([min, max] on the x axis, null for everything) when the caller
// keeps it (in the URL, shared by its charts); the chart keeps its own otherwise.
export function MetricChart({ id, lines, axis = 'step', smoothing = 0, logY = false,
                              height = 260, title, markers, live = false, range: shared, onRange }) {
  const box = useRef(null);
  const plot = useRef(null);
  const [own, setOwn] = useState(null);
  const range = onRange ? shared : own;
  const setRange = onRange || setOwn;
  const [loaded, setLoaded] = useState(null);
  const [error, setError] = useState(null);
  const width = useWidth(box);

  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (!live || range) return undefined;
    const timer = setInterval(() => {
      if (!document.hidden) setTick((t) => t + 1);
    }, kLiveMs);
    return () => clearInterval(timer);
  }, [live, !!range]);

  // Reading: again when the lines, the axis or the range change.
  const key = JSON.stringify(lines.map((l) => [l.run, l.name]));
  useEffect(() => {
    if (!width || !lines.length) return undefined;
    const controller = new AbortController();
    const maxPoints = Math.max(64, Math.round(width * (window.devicePixelRatio || 1) * kPointsPerPixel));
    const scale = axis === 'time' ? 1e6 : 1;
    const params = {
      run: [...new Set(lines.map((l) => l.run))],
      name: [...new Set(lines.map((l) => l.name))],
      max_points: maxPoints,
      x: axis,
      x_min: range ? Math.floor(range[0] * scale) : undefined,
      x_max: range ? Math.ceil(range[1] * scale) : undefined,
    };
    const started = performance.now();
    getJson(`/v1/metric-series${query(params)}`, { signal: controller.signal })
      .then((body) => {
        const byKey = new Map(body.series.map((s) => [`${s.run_id}\n${s.name}`, s]));
        const found = lines.map((l) => byKey.get(`${l.run}\n${l.name}`)).filter((s) => s && !s.error);
        setLoaded({ series: found, lines, params, started });
        setError(found.length ? null : 'no points logged yet');
      })
      .catch((e) => {
        if (e.name !== 'AbortError') setError(e.message);
      });
    return () => controller.abort();
  }, [key, axis, width, range && range[0], range && range[1], tick]);

  // Drawing: again when what was read or how it is shown changes.
  useEffect(() => {
    if (!loaded || !width) return;
    const { series, params, started } = loaded;
    const usable = series.filter((s) => (s.kind || 'scalar') === 'scalar');
    if (!usable.length) return;
    const xy = usable.map((s) => toXY(s, axis));
    xy.forEach((s) => {
      s.ys = smooth(s.ys, smoothing);
      if (logY) s.ys = s.ys.map((v) => (v > 0 ? v : null));
    });
    const data = align(xy);
    const shown = usable.map((s) => loaded.lines.find((l) => l.run === s.run_id && l.name === s.name) || {});
    const labels = usable.map((s, i) => shown[i].label || s.name);
    const options = {
      width,
      height,
      title,
      scales: {
        x: { time: axis === 'time', ...(range ? { min: range[0], max: range[1] } : {}) },
        y: logY ? { distr: 3 } : {},
      },
      axes: [{ label: axis === 'time' ? undefined : 'step' }, {}],
      series: [{ label: axis }, ...labels.map((label, i) => ({
        label,
        stroke: shown[i].color || kPalette[i % kPalette.length],
        dash: shown[i].dash ? [6, 4] : undefined,
        width: 1.5,
        spanGaps: true,
        points: { show: false },
      }))],
      cursor: { drag: { x: true, y: false } },
      hooks: {
        setSelect: [(u) => {
          if (u.select.width < 4) return;
          const min = u.posToVal(u.select.left, 'x');
          const max = u.posToVal(u.select.left + u.select.width, 'x');
          u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
          setRange([min, max]);
        }],
        draw: [(u) => drawMarkers(u, markers)],
      },
    };
    if (plot.current) plot.current.destroy();
    const u = new uPlot(options, data, box.current);
    plot.current = u;
    u.over.addEventListener('dblclick', () => setRange(null));
    window.__kiln.charts[id] = {
      data,
      labels,
      request: params,
      totals: usable.map((s) => ({ total: s.total_count, inRange: s.range_count, sent: s.values.length })),
      drawnMs: performance.now() - started,
      drawnAt: performance.now(),
      plot: u,
      range,
      // What a drag does, to any range (a drag needs 4 pixels).
      zoom: (min, max) => setRange([min, max]),
    };
  }, [loaded, smoothing, logY, width, height]);

  useEffect(() => () => {
    if (plot.current) plot.current.destroy();
    delete window.__kiln.charts[id];
  }, []);

  return html`
    <div class="chart">
      <div class="chart-plot" ref=${box} data-chart=${id}
           aria-label=${`chart of ${lines.map((l) => l.label || l.name).join(', ')}`} role="img"></div>
      ${range && html`<button class="link" onClick=${() => setRange(null)}>Zoom out</button>`}
      ${error && html`<p class="muted">${error}</p>`}
    </div>`;
}

// Vertical marks at given x values (e.g. where a trial was stopped).
function drawMarkers(u, markers) {
  if (!markers || !markers.length) return;
  const ctx = u.ctx;
  ctx.save();
  ctx.strokeStyle = '#d1242f';
  ctx.setLineDash([4, 3]);
  for (const x of markers) {
    const px = Math.round(u.valToPos(x, 'x', true));
    ctx.beginPath();
    ctx.moveTo(px, u.bbox.top);
    ctx.lineTo(px, u.bbox.top + u.bbox.height);
    ctx.stroke();
  }
  ctx.restore();
}

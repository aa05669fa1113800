// Parallel coordinates on a canvas: one vertical axis per parameter and the objective last,
// one line per trial, coloured by its objective. Drag along an axis to keep only the
// trials inside that range (a brush per axis; click an axis without dragging to clear its
// brush). The trials table beside it is the same data for the keyboard and screen readers.
import { useEffect, useRef, useState } from 'preact/hooks';
import { html } from '../html.js';
import { useWidth } from './use_width.js';
import { formatNumber } from '../format.js';

const kPad = { top: 28, bottom: 24, left: 40, right: 60 };

// The canvas sized for the screen's pixel ratio, cleared, drawing in CSS pixels.
function clearedContext(canvas, width, height) {
  const dpr = window.devicePixelRatio || 1;
  canvas.width = width * dpr;
  canvas.height = height * dpr;
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, width, height);
  return ctx;
}

// An axis over the trials' values: numeric (linear, or log when every value is > 0 and
// they span 3 decades or more) or categorical (evenly spaced, in first-seen order).
export function makeAxis(name, values) {
  const numeric = values.every((v) => v === null || v === undefined || typeof v === 'number');
  if (numeric) {
    const finite = values.filter((v) => Number.isFinite(v));
    let min = Math.min(...finite);
    let max = Math.max(...finite);
    if (!finite.length) { min = 0; max = 1; }
    const log = finite.length > 0 && min > 0 && max / min >= 1000;
    if (min === max) { min -= 0.5; max += 0.5; }
    const f = log ? Math.log10 : (x) => x;
    return { name, kind: 'number', min, max, log,
             pos: (v) => (Number.isFinite(v) ? (f(v) - f(min)) / (f(max) - f(min)) : null),
             label: (t) => formatNumber(log ? 10 ** (f(min) + t * (f(max) - f(min))) : min + t * (max - min)) };
  }
  const categories = [...new Set(values.map((v) => JSON.stringify(v)))];
  const n = categories.length;
  return { name, kind: 'category', categories,
           pos: (v) => (n === 1 ? 0.5 : categories.indexOf(JSON.stringify(v)) / (n - 1)),
           label: null };
}

// rows: [{id, values: [per axis], color}]; axes from makeAxis; brushes: {axisIndex: [lo, hi]}
// in 0..1 (bottom = 0); onBrush(next brushes).
export function ParallelCoordinates({ axes, rows, brushes, onBrush, label }) {
  const canvas = useRef(null);
  const [drag, setDrag] = useState(null);
  const width = useWidth(canvas, 800);

  const height = 320;
  const plotH = height - kPad.top - kPad.bottom;
  const xOf = (i) => kPad.left + (axes.length === 1 ? 0 : (i * (width - kPad.left - kPad.right)) / (axes.length - 1));
  const yOf = (t) => kPad.top + (1 - t) * plotH;
  const inBrush = (row) => Object.entries(brushes).every(([i, [lo, hi]]) => {
    if (!axes[i]) return true; // a link from before the parameters changed
    const t = axes[i].pos(row.values[i]);
    return t !== null && t >= lo - 1e-9 && t <= hi + 1e-9;
  });

  useEffect(() => {
    const ctx = clearedContext(canvas.current, width, height);
    const draw = (row, alpha) => {
      ctx.strokeStyle = row.color;
      ctx.globalAlpha = alpha;
      ctx.lineWidth = alpha === 1 ? 1.6 : 1;
      ctx.beginPath();
      let started = false;
      axes.forEach((axis, i) => {
        const t = axis.pos(row.values[i]);
        if (t === null) { started = false; return; }
        if (!started) ctx.moveTo(xOf(i), yOf(t));
        else ctx.lineTo(xOf(i), yOf(t));
        started = true;
      });
      ctx.stroke();
    };
    rows.filter((r) => !inBrush(r)).forEach((r) => draw(r, 0.15));
    rows.filter(inBrush).forEach((r) => draw(r, 1));
    ctx.globalAlpha = 1;
    ctx.fillStyle = '#1f2328';
    ctx.strokeStyle = '#57606a';
    ctx.font = '12px system-ui, "DejaVu Sans", sans-serif';
    ctx.textAlign = 'center';
    axes.forEach((axis, i) => {
      const x = xOf(i);
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(x, yOf(0));
      ctx.lineTo(x, yOf(1));
      ctx.stroke();
      ctx.fillText(axis.name, x, 14);
      ctx.textAlign = 'left';
      if (axis.kind === 'number') {
        ctx.fillText(axis.label(1), x + 4, yOf(1) + 4);
        ctx.fillText(axis.label(0), x + 4, yOf(0));
      } else {
        axis.categories.forEach((cat) => ctx.fillText(JSON.parse(cat), x + 4, yOf(axis.pos(JSON.parse(cat))) + 4));
      }
      ctx.textAlign = 'center';
      const brush = brushes[i]; // brushes naming no axis are left out by inBrush
      if (brush) {
        ctx.fillStyle = 'rgba(9, 105, 218, 0.25)';
        ctx.fillRect(x - 6, yOf(brush[1]), 12, yOf(brush[0]) - yOf(brush[1]));
        ctx.fillStyle = '#1f2328';
      }
    });
    if (drag) {
      ctx.fillStyle = 'rgba(9, 105, 218, 0.25)';
      const [a, b] = [Math.min(drag.from, drag.to), Math.max(drag.from, drag.to)];
      ctx.fillRect(xOf(drag.axis) - 6, yOf(b), 12, yOf(a) - yOf(b));
    }
  }, [axes, rows, brushes, drag, width]);

  const toT = (event) => {
    const rect = canvas.current.getBoundingClientRect();
    return Math.min(1, Math.max(0, 1 - (event.clientY - rect.top - kPad.top) / plotH));
  };
  const nearestAxis = (event) => {
    const rect = canvas.current.getBoundingClientRect();
    const x = event.clientX - rect.left;
    let best = -1;
    let bestDistance = 24;
    axes.forEach((_, i) => {
      const d = Math.abs(xOf(i) - x);
      if (d < bestDistance) { best = i; bestDistance = d; }
    });
    return best;
  };
  const onDown = (event) => {
    const axis = nearestAxis(event);
    if (axis < 0) return;
    canvas.current.setPointerCapture(event.pointerId);
    setDrag({ axis, from: toT(event), to: toT(event) });
  };
  const onMove = (event) => drag && setDrag({ ...drag, to: toT(event) });
  const onUp = () => {
    if (!drag) return;
    const next = { ...brushes };
    const [lo, hi] = [Math.min(drag.from, drag.to), Math.max(drag.from, drag.to)];
    if (hi - lo < 0.01) delete next[drag.axis];
    else next[drag.axis] = [lo, hi];
    setDrag(null);
    onBrush(next);
  };
  return html`<canvas ref=${canvas} class="parallel" role="img" aria-label=${label}
    style=${{ height: `${height}px` }} onPointerDown=${onDown} onPointerMove=${onMove} onPointerUp=${onUp}></canvas>`;
}

// A scatter of points [{x, y, color, title}] with labelled axes, on a canvas.
export function Scatter({ points, xLabel, yLabel, label }) {
  const canvas = useRef(null);
  const width = useWidth(canvas, 500);
  const height = 300;
  useEffect(() => {
    const ctx = clearedContext(canvas.current, width, height);
    const xAxis = makeAxis(xLabel, points.map((p) => p.x));
    const yAxis = makeAxis(yLabel, points.map((p) => p.y));
    const pad = { l: 60, r: 16, t: 12, b: 40 };
    const px = (t) => pad.l + t * (width - pad.l - pad.r);
    const py = (t) => height - pad.b - t * (height - pad.t - pad.b);
    ctx.strokeStyle = '#57606a';
    ctx.strokeRect(pad.l, pad.t, width - pad.l - pad.r, height - pad.t - pad.b);
    ctx.fillStyle = '#1f2328';
    ctx.font = '12px system-ui, "DejaVu Sans", sans-serif';
    ctx.textAlign = 'center';
    ctx.fillText(xLabel, (pad.l + width - pad.r) / 2, height - 8);
    if (xAxis.kind === 'number') {
      ctx.fillText(xAxis.label(0), px(0), height - 24);
      ctx.fillText(xAxis.label(1), px(1), height - 24);
    } else {
      xAxis.categories.forEach((cat) => ctx.fillText(JSON.parse(cat), px(xAxis.pos(JSON.parse(cat))), height - 24));
    }
    ctx.textAlign = 'right';
    if (yAxis.kind === 'number') {
      ctx.fillText(yAxis.label(1), pad.l - 4, py(1) + 4);
      ctx.fillText(yAxis.label(0), pad.l - 4, py(0));
    }
    ctx.save();
    ctx.translate(12, (pad.t + height - pad.b) / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = 'center';
    ctx.fillText(yLabel, 0, 0);
    ctx.restore();
    for (const p of points) {
      const tx = xAxis.pos(p.x);
      const ty = yAxis.pos(p.y);
      if (tx === null || ty === null) continue;
      ctx.fillStyle = p.color;
      ctx.beginPath();
      ctx.arc(px(tx), py(ty), 4, 0, 2 * Math.PI);
      ctx.fill();
    }
  }, [points, xLabel, yLabel, width]);
  return html`<canvas ref=${canvas} class="parallel" role="img" aria-label=${label} style=${{ height: `${height}px` }}></canvas>`;
}

// The two charts, drawn with uPlot (bundled, about 50 KB minified): the
// desire lines (cumulative distance against each goal's straight line and
// the current-average projection) and the pace (average daily distance
// against the pace each goal requires from each day on). Hovering shows the
// date's values in the legend.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { dayEpoch, fmt1 } from './format.js';

// Dark enough for 4.5:1 against white (WCAG AA for text-sized marks).
export const GOAL_COLORS = ['#b3261e', '#8a5300', '#1b7a3a', '#6a3fb5', '#00687f'];
const RIDDEN_COLOR = '#1f4e8c';
const PROJECTION_COLOR = '#4a4a4a';

const charts = new Map();  // element id -> uPlot instance

function size(el) {
  const width = Math.max(280, Math.floor(el.clientWidth));
  const height = window.matchMedia('(max-width: 600px)').matches ? 240 : 320;
  return { width, height };
}

function baseOptions(el, unitLabel) {
  return {
    ...size(el),
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'),
    cursor: { drag: { x: false, y: false }, points: { size: 7 } },
    legend: { live: true },
    axes: [
      { stroke: '#333', grid: { stroke: '#e4e4e4' }, ticks: { stroke: '#ccc' } },
      { stroke: '#333', label: unitLabel, labelSize: 20, size: 56, grid: { stroke: '#e4e4e4' }, ticks: { stroke: '#ccc' } },
    ],
  };
}

const valueFmt = (u, v) => (v == null ? '–' : fmt1(v));

function dateSeries() {
  return { label: 'Date', value: (u, ts) => (ts == null ? '–' : new Date(ts * 1e3).toISOString().slice(0, 10)) };
}

function goalName(g, i) {
  return g.label || `Goal ${i + 1}`;
}

function draw(el, opts, data) {
  const old = charts.get(el.id);
  if (old) old.destroy();
  el.replaceChildren();
  const chart = new uPlot(opts, data, el);
  charts.set(el.id, chart);
}

export function drawDesireChart(el, p) {
  const n = p.days_in_year;
  const xs = Array.from({ length: n }, (_, i) => dayEpoch(p.year, i));
  const ridden = Array.from({ length: n }, (_, i) => (i < p.series.cumulative.length ? p.series.cumulative[i] : null));
  const series = [dateSeries(), { label: 'Ridden', stroke: RIDDEN_COLOR, width: 3, value: valueFmt }];
  const data = [xs, ridden];
  p.goals.forEach((g, i) => {
    series.push({
      label: `${goalName(g, i)} (${fmt1(g.target)})`,
      stroke: GOAL_COLORS[i % GOAL_COLORS.length],
      width: 1.5,
      dash: [6, 4],
      value: valueFmt,
    });
    data.push(g.desire_line);
  });
  if (p.phase === 'in_progress') {
    // The current average carried from today to 31 December.
    const today = p.days_elapsed - 1;
    data.push(xs.map((_, i) => (i >= today ? p.average_pace * (i + 1) : null)));
    series.push({ label: 'Projection', stroke: PROJECTION_COLOR, width: 2, dash: [2, 4], value: valueFmt });
  }
  const opts = { ...baseOptions(el, p.unit), series, scales: { x: { time: true }, y: { range: (u, lo, hi) => [0, hi * 1.05 || 1] } } };
  draw(el, opts, data);
}

export function drawPaceChart(el, p) {
  const len = p.series.average_pace.length;
  const xs = Array.from({ length: len }, (_, i) => dayEpoch(p.year, i));
  const series = [dateSeries(), { label: 'Average so far', stroke: RIDDEN_COLOR, width: 3, value: valueFmt }];
  const data = [xs, p.series.average_pace];
  p.goals.forEach((g, i) => {
    series.push({ label: `Needed for ${goalName(g, i)}`, stroke: GOAL_COLORS[i % GOAL_COLORS.length], width: 1.5, value: valueFmt });
    data.push(g.required_pace);
  });
  // Near 31 December a missed goal needs hundreds per day; keep the useful
  // part readable by capping the scale at 2.5 times the steepest goal line.
  const steepest = Math.max(p.average_pace, ...p.goals.map((g) => g.target / p.days_in_year));
  const cap = Math.max(1, 2.5 * steepest);
  const opts = {
    ...baseOptions(el, `${p.unit}/day`),
    series,
    scales: { x: { time: true }, y: { range: (u, lo, hi) => [0, Math.min(hi * 1.05 || 1, cap)] } },
  };
  draw(el, opts, data);
}

// Keeps the charts as wide as their containers (phone rotation, resizing).
export function watchResize() {
  const observer = new ResizeObserver((entries) => {
    for (const entry of entries) {
      const chart = charts.get(entry.target.id);
      if (chart) chart.setSize(size(entry.target));
    }
  });
  for (const id of ['desire-chart', 'pace-chart']) {
    const el = document.getElementById(id);
    if (el) observer.observe(el);
  }
}

// The dashboard: pick a year, a sport and a unit; see the cards, the desire
// lines, the pace chart and the goals editor. Everything comes from the
// same-origin data API; nothing is fetched from the internet.
import './style.css';
import { api } from './api.js';
import { drawDesireChart, drawPaceChart, watchResize } from './charts.js';
import { fmt0, fmt1, fmtDay, signed1 } from './format.js';
import { GoalsEditor } from './goals.js';

const UNIT_KEY = 'desirelines.unit';
const $ = (id) => document.getElementById(id);
const q = (testid) => document.querySelector(`[data-testid="${testid}"]`);

const state = { years: null, year: null, category: null, unit: 'km', loadSeq: 0, loaded: 0 };

function readUnit() {
  try {
    const u = localStorage.getItem(UNIT_KEY);
    return u === 'mi' ? 'mi' : 'km';
  } catch {
    return 'km';
  }
}

function saveUnit(unit) {
  try {
    localStorage.setItem(UNIT_KEY, unit);
  } catch {
    /* private mode: not remembered */
  }
}

function setStatus(text, kind = '') {
  const status = $('status');
  status.textContent = text;
  status.className = `status ${kind}`;
}

function setBusy(busy, stateName) {
  const app = $('app');
  app.setAttribute('aria-busy', String(busy));
  app.dataset.state = stateName;
}

// The years to offer: those with data, plus the current one (a new year
// without activities yet still has goals to look at).
function yearOptions() {
  const current = Number(state.years.today.slice(0, 4));
  const years = state.years.years.map((y) => y.year);
  if (!years.includes(current)) years.push(current);
  return years.sort((a, b) => b - a);
}

function categoriesFor(year) {
  const entry = state.years.years.find((y) => y.year === year);
  const cats = entry ? [...entry.categories] : [];
  if (!cats.includes(state.years.default_category)) cats.unshift(state.years.default_category);
  return cats;
}

function fillSelect(select, values, selected) {
  select.replaceChildren(...values.map((v) => new Option(String(v), String(v))));
  select.value = String(selected);
}

function syncControls() {
  fillSelect($('year-select'), yearOptions(), state.year);
  const cats = categoriesFor(state.year);
  if (!cats.includes(state.category)) state.category = cats.includes('cycling') ? 'cycling' : cats[0];
  fillSelect($('category-select'), cats, state.category);
  $(`unit-${state.unit}`).checked = true;
  history.replaceState(null, '', `#${state.year}/${state.category}`);
}

// The goal the athlete is working toward: the smallest not reached yet, or
// the largest when every goal is reached.
function nextGoal(p) {
  const sorted = p.goals.map((g, i) => ({ ...g, index: i })).sort((a, b) => a.target - b.target);
  return sorted.find((g) => !g.reached) || sorted[sorted.length - 1];
}

function renderCards(p, summary) {
  const u = p.unit;
  document.querySelectorAll('.unit').forEach((n) => (n.textContent = u));
  document.querySelectorAll('.unit-per-day').forEach((n) => (n.textContent = `${u}/day`));
  q('distance-value').textContent = fmt1(p.distance);
  const count = summary.totals.count;
  q('distance-sub').textContent =
    count === 0
      ? 'no activities yet'
      : `${fmt0(count)} ${count === 1 ? 'activity' : 'activities'}, last on ${fmtDay(summary.last_activity_date)}`;

  const g = nextGoal(p);
  q('goal-label').textContent = g.label || `Goal ${g.index + 1}`;
  q('goal-target').textContent = fmt1(g.target);
  q('goal-progress').textContent = fmt1(g.progress_pct);
  q('goal-bar').style.width = `${Math.min(100, Math.max(0, g.progress_pct))}%`;
  q('goal-bar').parentElement.setAttribute('aria-valuenow', String(Math.round(Math.min(100, g.progress_pct))));
  const where = g.gap >= 0 ? 'ahead' : 'behind';
  q('goal-gap').textContent = g.reached
    ? `reached on ${fmtDay(g.reached_on)}`
    : `${fmt1(Math.abs(g.gap))} ${u} ${where} (${fmt1(Math.abs(g.gap_days))} days)`;
  q('goal-gap').className = g.reached || g.gap >= 0 ? 'good' : 'bad';

  q('pace-needed-value').textContent = fmt1(g.pace_needed);
  q('average-pace-value').textContent = fmt1(p.average_pace);
  q('projection-value').textContent = fmt1(p.projection);
  q('projection-sub').textContent = p.phase === 'complete' ? 'the year is complete' : 'at the current average';
  const m = p.momentum_pct_per_week;
  q('momentum-value').textContent = m == null ? 'not enough data' : signed1(m);
  q('momentum-value').className = m == null ? 'muted' : m >= 0 ? 'good' : 'bad';
  $('momentum-unit').hidden = m == null;
}

function renderSummaries(p) {
  const u = p.unit;
  const g = nextGoal(p);
  const name = g.label || `Goal ${g.index + 1}`;
  const through = p.through ? fmtDay(p.through) : 'the start of the year';
  let text = `Through ${through} ${p.year}: ${fmt1(p.distance)} ${u}. ${name} (${fmt1(g.target)} ${u}): `;
  text += g.reached ? `reached on ${fmtDay(g.reached_on)}.` : `${fmt1(Math.abs(g.gap))} ${u} ${g.gap >= 0 ? 'ahead of' : 'behind'} its line.`;
  if (p.phase === 'in_progress') text += ` At the current average the year ends near ${fmt0(p.projection)} ${u}.`;
  $('desire-summary').textContent = text;
  const needs = p.goals.map((goal, i) => `${goal.label || `Goal ${i + 1}`} ${fmt1(goal.pace_needed)}`).join(', ');
  $('pace-summary').textContent =
    `Average so far ${fmt1(p.average_pace)} ${u}/day. ` +
    (p.phase === 'complete' ? 'The year is complete.' : `Needed from today (${u}/day): ${needs}.`);
}

async function load() {
  const seq = ++state.loadSeq;
  const { year, category, unit } = state;
  setBusy(true, 'loading');
  setStatus('Loading…');
  try {
    const [pacing, summary, goals] = await Promise.all([
      api.pacing(year, category, unit),
      api.year(year, category),
      api.goals(year, category, unit),
    ]);
    if (seq !== state.loadSeq) return;  // a newer selection is on its way
    renderCards(pacing, summary);
    drawDesireChart($('desire-chart'), pacing);
    drawPaceChart($('pace-chart'), pacing);
    renderSummaries(pacing);
    editor.show(year, category, unit, goals);
    setStatus('');
    $('app').dataset.loaded = String(++state.loaded);  // lets tests wait for a fresh render
    setBusy(false, 'ready');
  } catch (e) {
    if (seq !== state.loadSeq) return;
    setStatus(`Could not load ${category} ${year}: ${e.message}`, 'error');
    setBusy(false, 'error');
  }
}

const editor = new GoalsEditor({
  announce: (text) => setStatus(text, 'ok'),
  onSaved: async () => {
    const message = $('status').textContent;
    await load();
    setStatus(message, 'ok');
  },
});

function pickInitial() {
  const [hashYear, hashCat] = location.hash.slice(1).split('/');
  const years = yearOptions();
  const withData = state.years.years.map((y) => y.year);
  const current = Number(state.years.today.slice(0, 4));
  state.year = years.includes(Number(hashYear))
    ? Number(hashYear)
    : withData.includes(current) || withData.length === 0 ? current : Math.max(...withData);
  state.category = hashCat || state.years.default_category;
}

async function start() {
  state.unit = readUnit();
  $('year-select').addEventListener('change', (e) => {
    state.year = Number(e.target.value);
    syncControls();
    load();
  });
  $('category-select').addEventListener('change', (e) => {
    state.category = e.target.value;
    syncControls();
    load();
  });
  for (const radio of document.querySelectorAll('input[name="unit"]')) {
    radio.addEventListener('change', (e) => {
      state.unit = e.target.value;
      saveUnit(state.unit);
      load();
    });
  }
  $('controls').addEventListener('submit', (e) => e.preventDefault());
  watchResize();
  try {
    state.years = await api.years();
  } catch (e) {
    setStatus(`Could not reach the data API: ${e.message}`, 'error');
    setBusy(false, 'error');
    return;
  }
  pickInitial();
  syncControls();
  await load();
}

start();

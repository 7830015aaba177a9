// Browser test of the dashboard in headless Chromium (Debian's package),
// driven by playwright-core from web/node_modules. Run with node's test
// runner:
//
//   DASHBOARD_URL=http://127.0.0.1:PORT node --test tests/e2e/dashboard/
//
// or let it start the test-only server itself:
//
//   DASHBOARD_DEV_SERVER=build/<dir>/bin/dashboard_dev_server node --test tests/e2e/dashboard/
//
// Environment:
//   DASHBOARD_URL          a running `desirelines serve` (or dev server) with data
//                          for at least two years, cycling and one other category
//   DASHBOARD_DEV_SERVER   alternatively, the dashboard_dev_server binary to start
//   DASHBOARD_WRITE_TOKEN  the server's write token (default "dev-token")
//   DASHBOARD_SCREENSHOT   where to save the screenshot (default $TMPDIR/dashboard.png;
//                          a phone-sized one goes beside it, *-phone.png)
//   CHROMIUM_PATH          default /usr/bin/chromium
//
// The test edits the goals of the current year's cycling: point it at a
// throwaway data set.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

const require = createRequire(new URL('../../../web/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const TOKEN = process.env.DASHBOARD_WRITE_TOKEN || 'dev-token';
const SHOT = process.env.DASHBOARD_SCREENSHOT || path.join(os.tmpdir(), 'dashboard.png');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const one = new Intl.NumberFormat('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 });

let base = process.env.DASHBOARD_URL || '';
let devServer = null;
let browser = null;
let page = null;
let profile = null;
const problems = [];  // console errors, page errors, CSP violations, failed requests
const clientErrors = [];  // "PUT /api/..." of every answer >= 400

// Starts the dev server and resolves with its URL (first stdout line).
function startDevServer(binary) {
  return new Promise((resolve, reject) => {
    devServer = spawn(binary, ['--token', TOKEN], { stdio: ['ignore', 'pipe', 'inherit'] });
    const timer = setTimeout(() => reject(new Error('dev server did not start in 60 s')), 60000);
    devServer.on('exit', (code) => reject(new Error(`dev server exited with ${code}`)));
    readline.createInterface({ input: devServer.stdout }).on('line', (line) => {
      const m = /^listening on (\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
}

async function api(pathname) {
  const res = await fetch(new URL(pathname, base));
  assert.equal(res.status, 200, `${pathname} answered ${res.status}`);
  return res.json();
}

async function text(testid) {
  return (await page.locator(`[data-testid="${testid}"]`).textContent()).trim();
}

// Loads the page afresh (goto or reload) and waits for its first render.
async function openPage(navigate) {
  await navigate();
  await page.waitForSelector('#app[data-state="ready"][data-loaded]', { timeout: 15000 });
}

// Runs `action`, then waits until the dashboard finished a newer render.
async function andWaitForRender(action) {
  const before = await page.evaluate(() => Number(document.getElementById('app')?.dataset.loaded || 0));
  await action();
  await page.waitForFunction(
    (n) => {
      const app = document.getElementById('app');
      return app !== null && Number(app.dataset.loaded || 0) > n && app.dataset.state === 'ready';
    },
    before,
    { timeout: 15000 },
  );
}

async function selection() {
  return {
    year: await page.inputValue('[data-testid="year-select"]'),
    category: await page.inputValue('[data-testid="category-select"]'),
    unit: (await page.isChecked('[data-testid="unit-mi"]')) ? 'mi' : 'km',
  };
}

// The cards must show exactly the API's numbers, formatted to one decimal.
async function expectCardsMatchApi() {
  const { year, category, unit } = await selection();
  const p = await api(`/api/v1/years/${year}/${category}/pacing?unit=${unit}`);
  assert.equal(await text('distance-value'), one.format(p.distance), 'distance so far');
  assert.equal(await text('projection-value'), one.format(p.projection), 'projection');
  assert.equal(await text('average-pace-value'), one.format(p.average_pace), 'average pace');
  const next = [...p.goals].sort((a, b) => a.target - b.target).find((g) => !g.reached) ||
    [...p.goals].sort((a, b) => b.target - a.target)[0];
  assert.equal(await text('pace-needed-value'), one.format(next.pace_needed), 'pace needed');
  assert.equal(await text('goal-progress'), one.format(next.progress_pct), 'progress');
  assert.equal(await text('goal-target'), one.format(next.target), 'next goal');
  assert.equal(await text('goal-label'), next.label || `Goal ${p.goals.indexOf(next) + 1}`);
  const m = p.momentum_pct_per_week;
  const momentum = await text('momentum-value');
  if (m === null) assert.equal(momentum, 'not enough data');
  else assert.ok(momentum.includes(one.format(Math.abs(m))), `momentum ${momentum} vs ${m}`);
  assert.ok((await text('desire-summary')).includes(`${one.format(p.distance)} ${unit}`), 'chart summary');
  return p;
}

// Waits until both charts were redrawn at their containers' width.
async function chartsFit() {
  await page.waitForFunction(() =>
    ['desire-chart', 'pace-chart'].every((id) => {
      const el = document.getElementById(id);
      const canvas = el?.querySelector('.uplot');
      return !!canvas && Math.abs(canvas.getBoundingClientRect().width - Math.max(280, Math.floor(el.clientWidth))) < 2;
    }),
  );
}

before(async () => {
  if (!base && process.env.DASHBOARD_DEV_SERVER) base = await startDevServer(process.env.DASHBOARD_DEV_SERVER);
  assert.ok(base, 'set DASHBOARD_URL or DASHBOARD_DEV_SERVER');
  profile = mkdtempSync(path.join(os.tmpdir(), 'dashboard-chromium-'));
  // A fresh profile (--user-data-dir) every run: playwright passes it on.
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--no-first-run', '--disable-sync'],
  });
  page = browser.pages()[0] || (await browser.newPage());
  page.on('console', (msg) => {
    // HTTP errors are checked one by one below (a 400 is expected once).
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) {
      problems.push(`console: ${msg.text()}`);
    }
  });
  page.on('response', (res) => {
    if (res.status() >= 400) clientErrors.push(`${res.request().method()} ${new URL(res.url()).pathname} ${res.status()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()}`));
  page.on('request', (req) => {
    if (!req.url().startsWith(base.replace(/\/$/, '')) && !req.url().startsWith('data:')) {
      problems.push(`request outside the server: ${req.url()}`);
    }
  });
});

after(async () => {
  await browser?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  devServer?.kill('SIGTERM');
});

test('opens with the cards showing the API numbers', async () => {
  await openPage(() => page.goto(base));
  const years = await api('/api/v1/years');
  const { year, category } = await selection();
  assert.equal(year, years.today.slice(0, 4), 'opens on the current year');
  assert.equal(category, 'cycling');
  await expectCardsMatchApi();
  assert.equal(await page.locator('#desire-chart canvas').count(), 1, 'desire chart drawn');
  assert.equal(await page.locator('#pace-chart canvas').count(), 1, 'pace chart drawn');
  assert.equal(await page.getAttribute('#desire-chart', 'aria-describedby'), 'desire-summary');
});

test('hovering the chart shows the date and values', async () => {
  const box = await page.locator('#desire-chart .u-over').boundingBox();
  await page.mouse.move(box.x + box.width * 0.1, box.y + box.height / 2);
  const legend = await page.locator('#desire-chart .u-legend').textContent();
  assert.match(legend, /\d{4}-\d{2}-\d{2}/, 'legend shows the hovered date');
});

test('switching the year shows that year', async () => {
  const years = await api('/api/v1/years');
  const current = years.today.slice(0, 4);
  const previous = years.years.map((y) => String(y.year)).find((y) => y !== current);
  assert.ok(previous, 'the data set needs a past year');
  await andWaitForRender(() => page.selectOption('[data-testid="year-select"]', previous));
  const p = await expectCardsMatchApi();
  assert.equal(p.phase, 'complete');
  assert.equal(await text('projection-sub'), 'the year is complete');
});

test('switching the category shows that sport', async () => {
  const { year } = await selection();
  const entry = (await api('/api/v1/years')).years.find((y) => String(y.year) === year);
  const other = entry.categories.find((c) => c !== 'cycling');
  assert.ok(other, 'the data set needs a second category');
  await andWaitForRender(() => page.selectOption('[data-testid="category-select"]', other));
  assert.equal((await selection()).category, other);
  await expectCardsMatchApi();
});

test('the units toggle switches to miles and is remembered', async () => {
  await andWaitForRender(() => page.check('[data-testid="unit-mi"]'));
  const p = await expectCardsMatchApi();
  assert.equal(p.unit, 'mi');
  await openPage(() => page.reload());
  assert.equal(await page.isChecked('[data-testid="unit-mi"]'), true, 'remembered after a reload');
  await expectCardsMatchApi();
  await andWaitForRender(() => page.check('[data-testid="unit-km"]'));
});

test('the goals editor shows a duplicate value error, then saves', async () => {
  const current = (await api('/api/v1/years')).today.slice(0, 4);
  await andWaitForRender(() => page.selectOption('[data-testid="year-select"]', current));
  await andWaitForRender(() => page.selectOption('[data-testid="category-select"]', 'cycling'));
  const first = await page.inputValue('[data-testid="goal-value-0"]');
  await page.fill('[data-testid="goal-value-1"]', first);

  // Without a token the editor asks for one and sends nothing.
  if (!(await page.isVisible('[data-testid="write-token"]'))) await page.click('#token-box summary');
  await page.fill('[data-testid="write-token"]', '');
  await page.click('[data-testid="goals-save"]');
  assert.match(await text('goals-error'), /write token/);

  await page.fill('[data-testid="write-token"]', TOKEN);
  await page.click('[data-testid="goals-save"]');
  await page.waitForSelector('[data-testid="goal-error-1"]:not(:empty)');
  assert.match(await text('goal-error-1'), /duplicates goals\[0\]/);
  assert.equal(await page.getAttribute('[data-testid="goal-value-1"]', 'aria-invalid'), 'true');

  // Goals around the projection, so that the screenshot shows some ahead
  // and some behind: 85 %, 100 % and 115 % of it, in whole hundreds.
  const { projection } = await api(`/api/v1/years/${current}/cycling/pacing`);
  const goals = [0.85, 1.0, 1.15].map((f, i) => Math.ceil((projection * f) / 100) * 100 + i * 100);
  for (const [i, v] of goals.entries()) await page.fill(`[data-testid="goal-value-${i}"]`, String(v));
  await page.fill('[data-testid="goal-label-1"]', 'Commuter');
  await andWaitForRender(() => page.click('[data-testid="goals-save"]'));
  assert.match(await text('goals-source'), /^Saved goals/);
  const stored = await api(`/api/v1/goals/${current}/cycling`);
  assert.equal(stored.source, 'stored');
  assert.deepEqual(stored.goals.map((g) => g.value), goals);
  assert.equal(stored.goals[1].label, 'Commuter');
  await expectCardsMatchApi();
});

test('works on a phone-sized screen', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await chartsFit();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `page scrolls sideways by ${overflow}px`);
  await page.screenshot({ path: SHOT.replace(/\.png$/, '-phone.png'), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });
  await chartsFit();
  // The whole page in one viewport (a full-page capture would resize it and
  // lose the hover), hovering a day so that the legend shows its values.
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  await page.setViewportSize({ width: 1280, height });
  await chartsFit();
  const box = await page.locator('#desire-chart .u-over').boundingBox();
  await page.mouse.move(box.x + box.width * 0.62, box.y + box.height / 2);
  await page.waitForFunction(() => /\d{4}-\d{2}-\d{2}/.test(document.querySelector('#desire-chart .u-legend').textContent));
  await page.screenshot({ path: SHOT });
});

test('nothing went wrong in the page', async () => {
  assert.deepEqual(problems, []);
  const year = (await api('/api/v1/years')).today.slice(0, 4);
  assert.deepEqual(clientErrors, [`PUT /api/v1/goals/${year}/cycling 400`], 'only the duplicate goal was refused');
});

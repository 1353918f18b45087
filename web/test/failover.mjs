// Failover of the watch page between two origins, in a real browser: Debian's Chromium,
// headless, driven by playwright-core.
//
//   node test/failover.mjs PAGE_URL ARTIFACT_DIR
//
// PAGE_URL is a watch page given two origins of one channel in lockstep (`/?src=A,B`, or a
// `src` that is a multivariant playlist listing both as redundant streams); tests/failover.rs
// starts both and opens the first's page. With FAILOVER_ROUTE=URL and FAILOVER_ROUTE_BODY=TEXT
// the browser answers URL with TEXT itself (the multivariant playlist, which no origin
// serves). The harness is on stdin: once the page has played for a while, this prints
// `FAILOVER_KILL I` (I: the index of the origin the page plays from, in its `src`), the
// harness SIGKILLs that origin and answers with a line. Measured in the page, from the kill
// to WINDOW_S (10) seconds after it, each a failure if it does not hold:
//   - the longest gap between two presented frames (requestVideoFrameCallback), the end of the
//     window counting as a frame: under 1 s (and `currentTime`, sampled every 50 ms, is never
//     still for 1 s; "Reconnecting…" is never shown);
//   - `currentTime` advances by 5 s or more;
//   - the page plays from the other origin (`window.playout.origin`, and its status line says
//     so);
//   - the delay behind the schedule (wall clock minus the program-date-time of the frame on
//     screen), median over the 3 s before the kill and over the last 3 s of the window,
//     changes by less than 1 s.
// It keeps ARTIFACT_DIR/failover.png, prints `FAILOVER stall_ms=… delay_before_s=…
// delay_after_s=…` and `FAILOVER_REPORT {json}`.
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { launch } from './browser.mjs';

const [pageUrl, artifacts = 'failover-artifacts'] = process.argv.slice(2);
if (!pageUrl) {
  console.error('usage: node test/failover.mjs PAGE_URL [ARTIFACT_DIR]');
  process.exit(2);
}
/** Played before the kill, at least (and locked on its delay). */
const PLAY_MS = Number(process.env.FAILOVER_PLAY_SECONDS ?? 8) * 1000;
const WINDOW_MS = Number(process.env.FAILOVER_WINDOW_SECONDS ?? 10) * 1000;
const MAX_STALL_MS = 1000;
const MIN_ADVANCE_S = 5;
const MAX_DELAY_CHANGE_MS = 1000;
/** The delay is the median of this long before the kill, and at the end of the window. */
const DELAY_SPAN_MS = 3000;

const failures = [];
const fail = (msg) => {
  failures.push(msg);
  console.log(`FAILOVER FAIL ${msg}`);
};
const log = (msg) => console.log(`FAILOVER ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
};
const round = (x, digits = 0) => (Number.isFinite(x) ? Number(x.toFixed(digits)) : null);

const browser = await launch();
const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
const page = await context.newPage();
const routed = process.env.FAILOVER_ROUTE;
if (routed) {
  const body = process.env.FAILOVER_ROUTE_BODY ?? '';
  await page.route(routed, (route) =>
    route.fulfill({
      status: 200,
      contentType: 'application/vnd.apple.mpegurl',
      headers: { 'Access-Control-Allow-Origin': '*', 'Cache-Control': 'no-cache' },
      body,
    }),
  );
}
// Every presented frame, timestamped (page clock), and every 50 ms what the page shows.
await page.addInitScript(() => {
  window.__frames = [];
  window.__samples = [];
  document.addEventListener('DOMContentLoaded', () => {
    const v = document.getElementById('video');
    const frame = (now, meta) => {
      window.__frames.push([performance.now(), meta.mediaTime]);
      v.requestVideoFrameCallback(frame);
    };
    if (v.requestVideoFrameCallback) v.requestVideoFrameCallback(frame);
    const shown = (id) => !document.querySelector(`[data-testid="${id}"]`).hidden;
    setInterval(() => {
      window.__samples.push({
        t: performance.now(),
        wall: Date.now(),
        currentTime: v.currentTime,
        pd: window.playout?.playingDate() ?? null,
        reconnecting: shown('reconnecting'),
        error: shown('error'),
      });
    }, 50);
  });
});
let killed = false;
const errors = [];
page.on('pageerror', (e) => errors.push(e.message));
page.on('console', (m) => {
  // After the kill the browser itself logs the refused connections.
  if (m.type() === 'error' && !killed) errors.push(`console: ${m.text()}`);
});

const opened = Date.now();
await page.goto(pageUrl);
await page.waitForFunction(() => window.playout?.playingDate() != null, null, {
  timeout: 30000,
});
const playing = Date.now();
log(`playing ${((playing - opened) / 1000).toFixed(1)} s after it opened`);
await sleep(PLAY_MS);
await page
  .waitForFunction(() => window.playout.status().locked && window.playout.status().live, null, {
    timeout: 30000,
  })
  .catch(() => fail('the page never settled on its delay before the kill'));

const before = await page.evaluate(() => ({
  origin: window.playout.origin,
  status: window.playout.status(),
  text: document.querySelector('[data-testid="origin"]').textContent,
}));
log(`before the kill: ${JSON.stringify(before)}`);
if (!before.origin) fail('window.playout.origin is null: the page did not take two origins');
const from = before.origin?.index ?? 0;
const sources = before.origin?.sources ?? [];

// ---- The kill ---------------------------------------------------------------------------------
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const killAt = await page.evaluate(() => (window.__killAt = performance.now()));
killed = true;
log(`kill at ${new Date().toISOString()}`);
console.log(`FAILOVER_KILL ${from}`);
await lines.next();
const confirmed = await page.evaluate(() => performance.now());
log(`killed ${Math.round(confirmed - killAt)} ms after FAILOVER_KILL`);
await sleep(Math.max(0, killAt + WINDOW_MS - confirmed) + 200);

const seen = await page.evaluate(() => ({
  frames: window.__frames,
  samples: window.__samples,
  now: performance.now(),
  origin: window.playout.origin,
  status: window.playout.status(),
  events: window.playout.events,
  text: document.querySelector('[data-testid="origin"]').textContent,
  dataOrigin: document.querySelector('[data-testid="origin"]').dataset.origin,
}));
const end = killAt + WINDOW_MS;

// The longest gap between presented frames in [kill, kill + WINDOW], from the last frame
// before the kill, to the end of the window.
const times = seen.frames.map((f) => f[0]);
let prevFrame = times.filter((t) => t < killAt).pop() ?? killAt;
let stall = 0;
let framesAfter = 0;
for (const t of times) {
  if (t < killAt || t > end) continue;
  stall = Math.max(stall, t - prevFrame);
  prevFrame = t;
  framesAfter++;
}
stall = Math.max(stall, end - prevFrame);

// currentTime still: the longest run of samples without a change.
const win = seen.samples.filter((s) => s.t >= killAt && s.t <= end);
let still = 0;
let since = win[0]?.t ?? killAt;
for (let k = 1; k < win.length; k++) {
  if (win[k].currentTime !== win[k - 1].currentTime) since = win[k].t;
  still = Math.max(still, win[k].t - since);
}
const advance = win.length ? win[win.length - 1].currentTime - win[0].currentTime : 0;
const delays = (t0, t1) =>
  seen.samples.filter((s) => s.t >= t0 && s.t <= t1 && s.pd != null).map((s) => s.wall - s.pd);
const delayBefore = median(delays(killAt - DELAY_SPAN_MS, killAt));
const delayAfter = median(delays(end - DELAY_SPAN_MS, end));
const reconnecting = win.filter((s) => s.reconnecting).length;
const shownError = win.some((s) => s.error);

if (!seen.frames.length) fail('no presented frames seen (requestVideoFrameCallback never called)');
if (!(stall < MAX_STALL_MS)) fail(`the picture froze for ${Math.round(stall)} ms after the kill`);
if (!(still < MAX_STALL_MS)) fail(`currentTime stood still for ${Math.round(still)} ms`);
if (!(advance >= MIN_ADVANCE_S)) {
  fail(`currentTime advanced only ${advance.toFixed(2)} s in the ${WINDOW_MS / 1000} s after the kill`);
}
if (reconnecting) fail(`"Reconnecting…" was shown in ${reconnecting} samples after the kill`);
if (shownError) fail('an error was shown after the kill');
const to = seen.origin?.index;
if (to == null || to === from) {
  fail(`the page still plays from origin ${to} (${seen.origin?.url}), the one killed`);
} else {
  if (seen.origin.url !== sources[to]) fail(`origin ${to} is ${seen.origin.url}, not ${sources[to]}`);
  const host = new URL(sources[to]).host;
  if (seen.dataOrigin !== String(to) || !seen.text.includes(host)) {
    fail(`the status line says "${seen.text}" (data-origin ${seen.dataOrigin}), not ${host}`);
  }
}
if (!Number.isFinite(delayBefore) || !Number.isFinite(delayAfter)) {
  fail(`no delay measured (before ${delayBefore}, after ${delayAfter})`);
} else if (!(Math.abs(delayAfter - delayBefore) < MAX_DELAY_CHANGE_MS)) {
  fail(`the delay went from ${delayBefore} ms to ${delayAfter} ms`);
}
for (const e of errors) fail(`page error before the kill: ${e}`);

await mkdir(resolve(artifacts), { recursive: true });
const shot = join(resolve(artifacts), 'failover.png');
await page.screenshot({ path: shot });

const report = {
  stall_ms: round(stall),
  still_ms: round(still),
  frames_after_kill: framesAfter,
  advance_s: round(advance, 2),
  delay_before_s: round(delayBefore / 1000, 3),
  delay_after_s: round(delayAfter / 1000, 3),
  origin_before: before.origin,
  origin_after: seen.origin,
  status_line: seen.text,
  reconnecting_samples: reconnecting,
  player_events: seen.events,
  screenshot: shot,
  failures,
};
console.log(
  `FAILOVER stall_ms=${report.stall_ms} delay_before_s=${report.delay_before_s} ` +
    `delay_after_s=${report.delay_after_s}`,
);
console.log(`FAILOVER_REPORT ${JSON.stringify(report)}`);
await browser.close();
process.exit(failures.length ? 1 : 0);

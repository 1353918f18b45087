// The watch page in a real browser: Debian's Chromium, headless, driven by playwright-core.
//
//   node test/watch.mjs BASE_URL ARTIFACT_DIR
//
// BASE_URL is a running playout whose first HLS output plays a channel; tests/watch_page.rs
// starts one. Checks, each a failure if it does not hold:
//   - the page autoplays muted and `currentTime` keeps advancing, with no stall;
//     (a browser that stops altogether, seen as a look coming seconds late, is not the
//     page's fault: the page then has 15 s to be live again, and the watch goes on longer);
//   - the LIVE dot is shown, and there is no seek bar (no `controls`, no range input);
//   - the title on screen is what /api/v1/now?at= gives for the instant on screen (and, with
//     WATCH_RED_TITLE set, the picture agrees: that title's frames are red, the others not);
//   - a second page opened 5 s later sits within 0.5 s of the first;
//   - the delay behind the wall clock (Date.now() minus the program-date-time of the frame on
//     screen) is 6 s or less, median and worst, over WATCH_SECONDS (default 60);
//   - with a harness on stdin: after it prints WATCH_RESTART the harness restarts playout and
//     answers with a line; the open page plays on, live again, with no error shown.
// It keeps ARTIFACT_DIR/watch.png, and prints `WATCH_REPORT {json}` with what it measured.
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { launch } from './browser.mjs';

const [base, artifacts = 'watch-artifacts'] = process.argv.slice(2);
if (!base) {
  console.error('usage: node test/watch.mjs BASE_URL [ARTIFACT_DIR]');
  process.exit(2);
}
const SECONDS = Number(process.env.WATCH_SECONDS ?? 60);
const RED_TITLE = process.env.WATCH_RED_TITLE ?? '';
const RESTART = process.env.WATCH_RESTART === '1';
/** The page's own default delay; the target of the issue is at most 6 s. */
const MAX_DELAY_MS = 6000;
/** Time given to a page to reach its delay before it is held to it. */
const SETTLE_MS = 12000;
/** Near a programme boundary a sample says nothing about titles. */
const EDGE_MS = 400;
/**
 * Looks come every 0.8–1.2 s. One that comes this much later means the browser (or the
 * machine under it) stopped: every page stalls then, which says nothing about this one.
 */
const FREEZE_MS = 3000;
/** After such a freeze the page has this long to be back at its delay before it is held to it. */
const RECOVER_MS = 15000;
/** Freezes taken in one run; each lengthens the watch by itself and the recovery. */
const MAX_FREEZES = 2;

let restarting = false;
const failures = [];
const fail = (msg) => {
  failures.push(msg);
  console.log(`WATCH FAIL ${msg}`);
};
const log = (msg) => console.log(`WATCH ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
};

const browser = await launch();

/** A viewer: its own browser context (no shared cache or clock estimate), one page. */
async function openViewer(name) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  const errors = [];
  // Uncaught exceptions always count; console errors only while the server is up (during
  // the restart the browser itself logs the refused connections).
  page.on('pageerror', (e) => errors.push(`${name}: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !restarting) errors.push(`${name} console: ${m.text()}`);
  });
  const opened = Date.now();
  await page.goto(new URL('/', base).href);
  await page.waitForFunction(() => window.playout?.playingDate() != null, null, {
    timeout: 30000,
  });
  log(`${name} playing ${((Date.now() - opened) / 1000).toFixed(1)} s after it opened`);
  return { name, page, errors, opened };
}

/** One look at a page: the frame on screen, its date, what the page shows. */
function look(viewer) {
  return viewer.page.evaluate((redTitle) => {
    const v = window.playout.video;
    const q = (id) => document.querySelector(`[data-testid="${id}"]`);
    let red = null;
    if (redTitle && v.videoWidth) {
      // The top of a red_4s frame is pure red; testsrc2 never is, everywhere at once.
      const c = document.createElement('canvas');
      c.width = 32;
      c.height = 18;
      const g = c.getContext('2d', { willReadFrequently: true });
      g.drawImage(v, 0, 0, 32, 18);
      const px = g.getImageData(0, 0, 32, 12).data;
      red = true;
      for (let i = 0; i < px.length; i += 4) {
        if (!(px[i] > 170 && px[i + 1] < 80 && px[i + 2] < 80)) red = false;
      }
    }
    return {
      wall: Date.now(),
      pd: window.playout.playingDate(),
      currentTime: v.currentTime,
      paused: v.paused,
      muted: v.muted,
      rate: v.playbackRate,
      controls: v.controls || v.hasAttribute('controls'),
      ranges: document.querySelectorAll('input[type=range]').length,
      live: !q('live').hidden,
      reconnecting: !q('reconnecting').hidden,
      error: q('error').hidden ? null : q('error').textContent,
      title: q('title').textContent,
      next: q('next').textContent,
      guideRows: q('guide').children.length,
      red,
    };
  }, RED_TITLE);
}

async function nowAt(ms) {
  const r = await fetch(new URL(`/api/v1/now?at=${new Date(ms).toISOString()}`, base));
  return r.json();
}

/** Checks one look at a page against the API; returns what was compared. */
async function checkTitle(viewer, s, tally) {
  if (s.pd == null) return;
  const j = await nowAt(s.pd);
  const start = Date.parse(j.current.started_at);
  const end = start + j.current.duration_seconds * 1000;
  if (s.pd - start < EDGE_MS || end - s.pd < EDGE_MS) {
    tally.edge++;
    return;
  }
  tally.compared++;
  tally.titles.add(j.current.title);
  if (s.title !== j.current.title) {
    tally.wrong++;
    fail(
      `${viewer.name}: shows "${s.title}" for ${new Date(s.pd).toISOString()}, where ` +
        `/api/v1/now gives "${j.current.title}"`,
    );
  }
  if (RED_TITLE && s.red !== null) {
    tally.pictures++;
    if (s.red !== (j.current.title === RED_TITLE)) {
      tally.wrongPictures++;
      fail(
        `${viewer.name}: the picture at ${new Date(s.pd).toISOString()} is ` +
          `${s.red ? '' : 'not '}red, but it is "${j.current.title}"`,
      );
    }
  }
}

const report = { seconds: SECONDS };
await mkdir(resolve(artifacts), { recursive: true });

const a = await openViewer('A');
await sleep(Math.max(0, a.opened + 5000 - Date.now()));
const b = await openViewer('B');

// ---- Watch both for SECONDS ---------------------------------------------------------------
const tally = { compared: 0, edge: 0, wrong: 0, pictures: 0, wrongPictures: 0, titles: new Set() };
const delays = [];
const apart = [];
let stalls = 0;
let notLive = 0;
let samples = 0;
let prev = null;
const freezes = [];
let heldFrom = 0;
const began = Date.now();
let until = began + SECONDS * 1000;
while (Date.now() < until) {
  const t = Date.now();
  const sa = await look(a);
  const sb = await look(b);
  samples++;
  if (prev && sa.wall - prev.wall > FREEZE_MS) {
    const gap = sa.wall - prev.wall;
    freezes.push(gap);
    log(`the browser stopped for ${gap} ms between two looks; the page has ${RECOVER_MS} ms to be live again`);
    heldFrom = sa.wall + RECOVER_MS;
    until = Math.min(until + gap + RECOVER_MS, began + 3 * SECONDS * 1000);
  }
  const held = sa.wall >= heldFrom;
  if (sa.controls || sa.ranges) fail(`A has a seek bar (controls=${sa.controls}, ranges=${sa.ranges})`);
  if (sa.error || sb.error) fail(`an error is shown: ${sa.error ?? sb.error}`);
  if (!sa.muted) fail('A is not muted (autoplay must start muted)');
  if (held && sa.paused) fail(`A is paused at ${sa.currentTime}`);
  if (held && prev && sa.currentTime - prev.currentTime < 0.5 * ((sa.wall - prev.wall) / 1000)) {
    stalls++;
    fail(
      `A stalled: currentTime ${prev.currentTime.toFixed(3)} → ${sa.currentTime.toFixed(3)} ` +
        `over ${sa.wall - prev.wall} ms`,
    );
  }
  prev = sa;
  const settled = (v) => held && sa.wall - v.opened > SETTLE_MS;
  if (settled(a)) {
    delays.push(sa.wall - sa.pd);
    if (!sa.live) notLive++;
  }
  if (settled(b) && sb.pd != null) {
    // Each page's delay is measured against the same clock; their difference is how far
    // apart the two viewers are, whatever the moment of each look.
    apart.push(Math.abs(sa.wall - sa.pd - (sb.wall - sb.pd)));
  }
  if (settled(a)) await checkTitle(a, sa, tally);
  if (settled(b)) await checkTitle(b, sb, tally);
  // Not exactly 1 s, so that the looks fall at every phase of the programmes.
  await sleep(Math.max(0, t + 800 + Math.random() * 400 - Date.now()));
}
if (freezes.length > MAX_FREEZES) fail(`the browser stopped ${freezes.length} times (${freezes.join(', ')} ms)`);
if (notLive) fail(`the LIVE dot was hidden in ${notLive} of ${delays.length} settled looks`);
if (tally.compared < 10) fail(`only ${tally.compared} title checks away from programme edges`);
if (tally.titles.size < 2) fail(`the titles never changed (${[...tally.titles].join(', ')})`);
if (RED_TITLE && tally.pictures < 10) fail(`only ${tally.pictures} pictures checked`);
if (!delays.length) fail('no settled looks');
const delay = { median_ms: median(delays), worst_ms: Math.max(...delays), best_ms: Math.min(...delays) };
if (!(delay.median_ms <= MAX_DELAY_MS && delay.worst_ms <= MAX_DELAY_MS)) {
  fail(`delay behind the wall clock: median ${delay.median_ms} ms, worst ${delay.worst_ms} ms`);
}
const viewers = { median_ms: median(apart), worst_ms: Math.max(...apart), looks: apart.length };
if (!(apart.length >= 10 && viewers.worst_ms <= 500)) {
  fail(`the two viewers are ${viewers.worst_ms} ms apart at worst (${apart.length} looks)`);
}
const last = await look(a);
Object.assign(report, {
  looks: samples,
  delay,
  viewers_apart: viewers,
  stalls,
  browser_freezes_ms: freezes,
  not_live: notLive,
  titles: { ...tally, titles: [...tally.titles] },
  on_screen: { title: last.title, next: last.next, guide_rows: last.guideRows, rate: last.rate },
});
const shot = join(resolve(artifacts), 'watch.png');
await a.page.screenshot({ path: shot });
report.screenshot = shot;
log(`screenshot ${shot}`);
const playerEvents = async (v) => v.page.evaluate(() => window.playout.events).catch(() => []);
report.player_events = { B: await playerEvents(b) };
await b.page.context().close();

// ---- A restart of playout under the open page ------------------------------------------------
if (RESTART) {
  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  restarting = true;
  const killed = Date.now();
  console.log('WATCH_RESTART');
  await lines.next();
  log(`restarted ${Date.now() - killed} ms after WATCH_RESTART`);
  let back = null;
  let reconnecting = 0;
  const deadline = Date.now() + 45000;
  let p = null;
  while (Date.now() < deadline) {
    const s = await look(a);
    if (s.error) fail(`an error is shown after the restart: ${s.error}`);
    if (s.reconnecting) reconnecting++;
    const moving = p && s.currentTime > p.currentTime;
    if (moving && s.live && s.pd > killed) {
      back = s;
      break;
    }
    p = s;
    await sleep(250);
  }
  if (!back) fail('after the restart the page did not come back to live with new frames');
  report.restart = {
    live_again_ms: back ? back.wall - killed : null,
    looks_reconnecting: reconnecting,
    delay_after_ms: back ? back.wall - back.pd : null,
  };
}

for (const e of [...a.errors, ...b.errors]) fail(`page error: ${e}`);
report.player_events.A = await playerEvents(a);
report.failures = failures;
console.log(`WATCH_REPORT ${JSON.stringify(report)}`);
await browser.close();
process.exit(failures.length ? 1 : 0);

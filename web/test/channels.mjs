// A host's channel list and console picker in a real browser: Debian's Chromium, headless,
// driven by playwright-core.
//
//   node test/channels.mjs BASE_URL EXPECTED_IDS [ARTIFACT_DIR]
//
// BASE_URL is a running host (`playout run DIR`) whose channels include EXPECTED_IDS
// (comma-separated ids); CHANNELS_FAILED_ID, when set, names one more (or one of them) that
// must be shown failed. Checks, each a failure if it does not hold:
//   - the list at BASE_URL/ has a row for every expected id within 20 s, and within 30 s each
//     (but the failed one) is on air (data-state="on_air") with a title; its watch link is
//     /c/ID/ and its console link /c/ID/console;
//   - with CHANNELS_FAILED_ID: that row shows data-state="failed" and a non-empty error;
//   - every row is reachable by keyboard (Tab reaches its watch link), and a link with the
//     focus keeps it across a refresh;
//   - no page error on the list;
//   - the first channel's watch link leads to its watch page, which reads /c/ID/api/v1/now
//     (not the root's) and shows a title within 30 s;
//   - BASE_URL/console lists the same ids, each linking to /c/ID/console; following one shows
//     the console's sign-in, with its watch-page and as-run CSV links under /c/ID.
// It keeps ARTIFACT_DIR/channels.png and picker.png, and prints `CHANNELS_REPORT {json}` with
// what it saw.
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { launch } from './browser.mjs';

const [base, idsArg, artifacts = 'channels-artifacts'] = process.argv.slice(2);
if (!base || !idsArg) {
  console.error('usage: node test/channels.mjs BASE_URL EXPECTED_IDS [ARTIFACT_DIR]');
  process.exit(2);
}
const expected = idsArg
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const failedId = process.env.CHANNELS_FAILED_ID?.trim() || null;
const ROW_LIMIT_MS = 20000;
const ON_AIR_LIMIT_MS = 30000;
const WATCH_LIMIT_MS = 30000;
/** The page fetches the list every 2 s; a focus kept across this long was kept by a refresh. */
const REFRESH_WAIT_MS = 2500;

const failures = [];
const fail = (msg) => {
  failures.push(msg);
  console.log(`CHANNELS FAIL ${msg}`);
};
const log = (msg) => console.log(`CHANNELS ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const report = { expected, failed_id: failedId, warnings: [] };

/** Polls `f` every `ms` until it gives a truthy value (returned) or `limit` ms pass (null). */
async function until(f, limit, ms = 200) {
  const end = Date.now() + limit;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) return null;
    await sleep(ms);
  }
}

const browser = await launch();
await mkdir(resolve(artifacts), { recursive: true });

/** Uncaught errors (pageerror), named by the page they came from: each fails the test. */
const pageErrors = [];
/** What each tab shows now, by tab: a link followed changes it. */
const showing = new Map();
async function open(name, path) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  showing.set(page, name);
  page.on('pageerror', (e) => pageErrors.push(`${showing.get(page)}: ${e.message}`));
  await page.goto(new URL(path, base).href);
  return page;
}

/** What each channel's row shows, by id. */
const rowsOf = (page) =>
  page.locator('[data-testid="channel"]').evaluateAll((rows) =>
    Object.fromEntries(
      rows.map((r) => {
        const t = (id) => r.querySelector(`[data-testid="${id}"]`);
        return [
          r.dataset.id,
          {
            state: r.dataset.state,
            name: t('name')?.textContent.trim() ?? null,
            title: t('title')?.textContent.trim() ?? null,
            stateText: t('state')?.textContent.trim() ?? null,
            live: !!t('live'),
            watch: t('watch')?.getAttribute('href') ?? null,
            console: t('console')?.getAttribute('href') ?? null,
            error: t('error')?.textContent.trim() ?? null,
          },
        ];
      }),
    ),
  );

let list = null;
let picker = null;
const shot = (name) => join(resolve(artifacts), name);
try {
  // ---- The list ------------------------------------------------------------------------------
  list = await open('list', '/');
  const all = failedId && !expected.includes(failedId) ? [...expected, failedId] : expected;
  const present = await until(async () => {
    const rows = await rowsOf(list);
    return all.every((id) => rows[id]) ? rows : null;
  }, ROW_LIMIT_MS);
  if (!present) {
    const rows = await rowsOf(list);
    const missing = all.filter((id) => !rows[id]);
    fail(`no row within ${ROW_LIMIT_MS} ms for ${missing} (rows: ${Object.keys(rows)})`);
  }
  log(`rows: ${Object.keys(await rowsOf(list)).join(', ')}`);

  const onAirIds = expected.filter((id) => id !== failedId);
  const ready = (r) => r && r.state === 'on_air' && r.title;
  const onAir = await until(async () => {
    const rows = await rowsOf(list);
    return onAirIds.every((id) => ready(rows[id])) ? rows : null;
  }, ON_AIR_LIMIT_MS);
  const rows = onAir ?? (await rowsOf(list));
  report.rows = rows;
  for (const id of onAirIds) {
    const r = rows[id];
    if (!r) continue;
    if (!ready(r)) {
      fail(
        `${id} is not on air with a title within ${ON_AIR_LIMIT_MS} ms: state ` +
          `${r.state} ("${r.stateText}"), title ${JSON.stringify(r.title)}, error ${r.error}`,
      );
    }
  }
  for (const id of all) {
    const r = rows[id];
    if (!r) continue;
    if (r.watch !== `/c/${id}/`) fail(`${id}'s watch link is ${r.watch}, not /c/${id}/`);
    if (r.console !== `/c/${id}/console`) {
      fail(`${id}'s console link is ${r.console}, not /c/${id}/console`);
    }
    if (!r.name) fail(`${id}'s row shows no name`);
  }

  // ---- The failed channel ------------------------------------------------------------------
  if (failedId) {
    const failed = await until(async () => {
      const r = (await rowsOf(list))[failedId];
      return r?.state === 'failed' && r.error ? r : null;
    }, ON_AIR_LIMIT_MS);
    const r = failed ?? (await rowsOf(list))[failedId];
    report.failed_row = r ?? null;
    if (!failed) {
      fail(
        `${failedId} is not shown failed with an error within ${ON_AIR_LIMIT_MS} ms: ` +
          JSON.stringify(r ?? null),
      );
    } else {
      log(`${failedId} failed: ${r.error.split('\n')[0]}`);
    }
  }

  // ---- The API the page shows --------------------------------------------------------------
  const shown = await list.evaluate(() => ({
    ids: window.playout?.channels?.channels?.map((c) => c.id) ?? null,
    hls: Object.fromEntries(window.playout?.channels?.channels?.map((c) => [c.id, c.hls]) ?? []),
    updatedAt: window.playout?.updatedAt ?? null,
  }));
  report.window_playout = shown;
  if (!shown.ids) fail('window.playout.channels has no channels list');
  else if (!all.every((id) => shown.ids.includes(id))) {
    fail(`window.playout.channels lists ${shown.ids}, not all of ${all}`);
  }
  if (await list.locator('[data-testid="channels-error"]').isVisible()) {
    const t = await list.locator('[data-testid="channels-error"]').textContent();
    fail(`the list shows a fetch error: ${t}`);
  }

  // ---- The keyboard --------------------------------------------------------------------------
  // Tab from the top of the page: every row's watch link is reached, in the rows' order.
  await list.evaluate(() => document.activeElement?.blur());
  await list.locator('body').focus().catch(() => {});
  const reached = [];
  const wanted = new Set(all);
  const total = await list.locator('a, button, [tabindex]').count();
  for (let i = 0; i < total + 5 && reached.length < wanted.size; i++) {
    await list.keyboard.press('Tab');
    const f = await list.evaluate(() => {
      const a = document.activeElement;
      const row = a?.closest('[data-testid="channel"]');
      return { testid: a?.dataset?.testid ?? null, id: row?.dataset.id ?? null };
    });
    if (f.testid === 'watch' && wanted.has(f.id) && !reached.includes(f.id)) reached.push(f.id);
  }
  report.keyboard_reached = reached;
  const unreached = all.filter((id) => !reached.includes(id));
  if (unreached.length) fail(`Tab does not reach the watch link of ${unreached.join(', ')}`);

  // A focused link keeps the focus across refreshes of the list.
  const first = onAirIds[0] ?? all[0];
  if (first) {
    const link = list.locator(`[data-testid="channel"][data-id="${first}"] [data-testid="watch"]`);
    await link.focus();
    const before = await list.evaluate(() => window.playout.updatedAt);
    await sleep(REFRESH_WAIT_MS);
    const refreshed = await until(
      async () => (await list.evaluate(() => window.playout.updatedAt)) !== before,
      5000,
    );
    const kept = await link.evaluate((a) => document.activeElement === a);
    report.focus_kept = kept;
    if (!refreshed) fail('the list was not refreshed within 7.5 s');
    if (!kept) fail(`the focus left ${first}'s watch link when the list was refreshed`);
  }
  await list.screenshot({ path: shot('channels.png'), fullPage: true });

  // ---- The first channel's watch page, under /c/ID/ ------------------------------------------
  if (first && rows[first]) {
    // Only what the watch page asked counts: the list page's own refresh of /api/v1/channels
    // may still leave while the link is followed, so each request is known by its referrer.
    const prefix = `/c/${first}/`;
    const requests = [];
    list.on('request', (r) => {
      const path = new URL(r.url()).pathname;
      const referer = r.headers().referer;
      const from = referer ? new URL(referer).pathname : null;
      if ((r.isNavigationRequest() && path === prefix) || from?.startsWith(prefix)) {
        requests.push(path);
      }
    });
    showing.set(list, `watch page of ${first}`);
    await list.locator(`[data-testid="channel"][data-id="${first}"] [data-testid="watch"]`).click();
    await list.waitForURL((u) => u.pathname === `/c/${first}/`, { timeout: 10000 }).catch(() => {});
    const at = new URL(list.url()).pathname;
    report.watch_path = at;
    if (at !== `/c/${first}/`) fail(`the watch link of ${first} led to ${at}, not /c/${first}/`);
    const title = () => list.locator('[data-testid="title"]').textContent();
    const watchStart = Date.now();
    const titled = await until(async () => {
      const t = ((await title().catch(() => '')) ?? '').trim();
      return t && t !== '…' ? t : null;
    }, WATCH_LIMIT_MS);
    report.watch_title = titled;
    report.watch_title_ms = titled ? Date.now() - watchStart : null;
    if (!titled) fail(`the watch page of ${first} shows no title within ${WATCH_LIMIT_MS} ms`);
    report.watch_requests = [...new Set(requests)].slice(0, 30);
    if (!requests.some((p) => p.startsWith(`${prefix}api/v1/now`))) {
      fail(`the watch page of ${first} did not ask ${prefix}api/v1/now`);
    }
    const astray = requests.filter((p) => p.startsWith('/api/') || p.startsWith('/hls/'));
    if (astray.length) fail(`the watch page of ${first} asked the root: ${astray.slice(0, 5)}`);
    // A channel with an HLS output plays it from under its prefix too.
    const hls = shown.hls?.[first];
    if (hls && !requests.some((p) => p.startsWith(`${prefix}hls/`))) {
      fail(`the watch page of ${first} asked nothing under ${prefix}hls/ (hls: ${hls})`);
    }
    log(`watch page of ${first}: "${titled}" in ${report.watch_title_ms} ms`);
  }

  // ---- The console picker --------------------------------------------------------------------
  picker = await open('picker', '/console');
  const listed = await until(async () => {
    const r = await rowsOf(picker);
    return all.every((id) => r[id]) ? r : null;
  }, ROW_LIMIT_MS);
  const prows = listed ?? (await rowsOf(picker));
  report.picker_ids = Object.keys(prows);
  for (const id of all) {
    if (!prows[id]) fail(`the picker has no row for ${id}`);
    else if (prows[id].console !== `/c/${id}/console`) {
      fail(`the picker links ${id} to ${prows[id].console}, not /c/${id}/console`);
    }
  }
  const explains = (await picker.locator('main').textContent()) ?? '';
  if (!/host's token/i.test(explains) || !/own token/i.test(explains)) {
    fail("the picker does not explain the host's token and a channel's own");
  }
  await picker.screenshot({ path: shot('picker.png'), fullPage: true });
  const pick = onAirIds[0] ?? all[0];
  if (pick && prows[pick]) {
    showing.set(picker, `console of ${pick}`);
    const row = picker.locator(`[data-testid="channel"][data-id="${pick}"]`);
    await row.locator('[data-testid="console"]').click();
    await picker
      .waitForURL((u) => u.pathname === `/c/${pick}/console`, { timeout: 10000 })
      .catch(() => {});
    report.console_path = new URL(picker.url()).pathname;
    const signin = await picker
      .locator('[data-testid="token"]')
      .waitFor({ state: 'visible', timeout: 10000 })
      .then(
        () => true,
        () => false,
      );
    if (!signin) fail(`the console of ${pick} (${report.console_path}) shows no sign-in`);
    const links = await picker.evaluate(() => ({
      watch: document.getElementById('watch-link')?.getAttribute('href') ?? null,
      csv: document.querySelector('[data-testid="asrun-csv"]')?.getAttribute('href') ?? null,
    }));
    report.console_links = links;
    if (links.watch !== `/c/${pick}/`) {
      fail(`the console of ${pick} links its watch page as ${links.watch}`);
    }
    if (!links.csv?.startsWith(`/c/${pick}/api/v1/asrun`)) {
      fail(`the console of ${pick} links its as-run CSV as ${links.csv}`);
    }
    log(`console of ${pick}: sign-in ${signin ? 'shown' : 'missing'}`);
  }
} catch (e) {
  fail(`stopped: ${e.message}`);
  await list?.screenshot({ path: shot('channels.png'), fullPage: true }).catch(() => {});
}

for (const e of pageErrors) fail(`page error: ${e}`);
report.failures = failures;
console.log(`CHANNELS_REPORT ${JSON.stringify(report)}`);
await browser.close();
process.exit(failures.length ? 1 : 0);

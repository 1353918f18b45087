// The operator console in a real browser: Debian's Chromium, headless, driven by playwright-core.
//
//   node test/console.mjs BASE_URL TOKEN MEDIA_FILE [ARTIFACT_DIR]
//
// BASE_URL is a running playout with http.api_token = TOKEN, a media library and an HLS
// output; tests/console_page.rs starts one. What an operator does, checked step by step (each
// a failure if it does not hold):
//   - a wrong token is refused, with a visible message, and the console stays closed;
//   - the right token signs in, and is kept in sessionStorage as playout.token;
//   - MEDIA_FILE, uploaded through the file input, fills the progress bar, is said to be
//     playable and is listed in the library;
//   - added through the Add form with a unique title right after the item on air, it is shown
//     in the playlist at that place;
//   - once the edit is reloaded, Skip puts it on air: /api/v1/now names it within 15 s, the
//     console's Now shows it, and the watch page (a second browser at BASE_URL/, about 5 s
//     behind) shows its title within 30 s;
//   - the as-run section is shown; within 30 s (clicking its Refresh) it lists a row of one
//     of the playlist's titles that "played"; its CSV link asks for format=csv, and what it
//     gives starts with the CSV header and has at least one entry;
//   - no page error, and no reload error shown.
// It keeps ARTIFACT_DIR/console.png and prints `CONSOLE_REPORT {json}` with what it measured.
import { mkdir } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { launch } from './browser.mjs';

const [base, token, media, artifacts = 'console-artifacts'] = process.argv.slice(2);
if (!base || !token || !media) {
  console.error('usage: node test/console.mjs BASE_URL TOKEN MEDIA_FILE [ARTIFACT_DIR]');
  process.exit(2);
}
const NOW_LIMIT_MS = 15000;
const WATCH_LIMIT_MS = 30000;
/** The item on air must have this long left when the new one goes after it. */
const MARGIN_S = 12;
const ASRUN_LIMIT_MS = 30000;
const ASRUN_HEADER = 'start,end,duration,kind,title,path,planned_start,reason';

const failures = [];
const fail = (msg) => {
  failures.push(msg);
  console.log(`CONSOLE FAIL ${msg}`);
};
const log = (msg) => console.log(`CONSOLE ${msg}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const report = { warnings: [] };
const shot = join(resolve(artifacts), 'console.png');

/** Polls `f` every `ms` until it gives a truthy value (returned) or `limit` ms pass (null). */
async function until(f, limit, ms = 100) {
  const end = Date.now() + limit;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) return null;
    await sleep(ms);
  }
}

async function get(path, auth = true) {
  const r = await fetch(new URL(path, base), {
    headers: auth ? { Authorization: `Bearer ${token}` } : {},
    cache: 'no-store',
  });
  return r.json();
}
const nowApi = () => get('/api/v1/now', false);

/** `playout_playlist_reloads_total{result="ok"}`. */
async function reloads() {
  const t = await (await fetch(new URL('/metrics', base))).text();
  const m = t.match(/^playout_playlist_reloads_total\{result="ok"\} (\S+)$/m);
  return m ? Number(m[1]) : NaN;
}

const stem = (path) => basename(path).replace(/\.[^.]*$/, '');
const itemTitle = (it) => it.title ?? ('slate' in it ? 'Slate' : stem(it.path));

const browser = await launch();
await mkdir(resolve(artifacts), { recursive: true });

const pageErrors = [];
/** While true, the 401 the browser logs is the one the test asked for. */
let refusing = false;
async function open(name, path, viewport) {
  const page = await (await browser.newContext({ viewport })).newPage();
  page.on('pageerror', (e) => pageErrors.push(`${name}: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error' || (refusing && /\b401\b/.test(m.text()))) return;
    pageErrors.push(`${name} console: ${m.text()}`);
  });
  await page.goto(new URL(path, base).href);
  return page;
}

let page = null;
try {
  page = await open('console', '/console', { width: 1280, height: 1500 });
  const q = (id) => page.locator(`[data-testid="${id}"]`);
  const text = async (id) => ((await q(id).textContent()) ?? '').trim();

  // ---- A wrong token ----------------------------------------------------------------------
  refusing = true;
  await q('token').fill(`wrong-${token}`);
  await q('sign-in').click();
  const form = page.locator('#signin-error');
  const refused = await until(async () => {
    const m = (await form.textContent()).trim();
    return (await form.isVisible()) && /refused/i.test(m) ? m : null;
  }, 5000);
  report.wrong_token_message = refused;
  if (!refused) fail('a wrong token: no visible refusal on the sign-in form');
  if (await page.locator('#console').isVisible()) fail('a wrong token opened the console');
  const said = await text('message');
  if (!/refused/i.test(said)) fail(`a wrong token: the status line says "${said}"`);
  refusing = false;

  // ---- Sign in ----------------------------------------------------------------------------
  await q('token').fill(token);
  await q('token').press('Enter');
  await q('library').waitFor({ state: 'visible', timeout: 10000 });
  const kept = await page.evaluate(() => sessionStorage.getItem('playout.token'));
  if (kept !== token) fail('the token is not kept in sessionStorage as playout.token');
  log('signed in');

  // The watch page, open from now on so that it is live by the skip.
  const watch = await open('watch', '/', { width: 960, height: 800 });
  const watchReady = watch
    .waitForFunction(() => window.playout?.playingDate() != null, null, { timeout: 30000 })
    .then(
      () => true,
      () => false,
    );

  // ---- Upload -----------------------------------------------------------------------------
  const name = basename(media);
  const upStart = Date.now();
  await q('upload-file').setInputFiles(media);
  const uploaded = await until(async () => {
    const t = await text('upload-result');
    return /^(Uploaded|Not uploaded)/.test(t) ? t : null;
  }, 60000);
  report.upload_ms = Date.now() - upStart;
  report.upload_result = uploaded;
  if (!/: playable/.test(uploaded ?? '')) fail(`the upload did not end playable: ${uploaded}`);
  const progress = await q('upload-progress').evaluate((p) => p.value);
  if (progress !== 100) fail(`the upload progress bar ends at ${progress}, not 100`);
  const lists = async () => (await q('library').textContent()).includes(name);
  if (!(await until(lists, 10000))) fail(`the library does not list ${name}`);
  log(`uploaded ${name} in ${report.upload_ms} ms: ${uploaded}`);

  // ---- Add it right after the item on air -------------------------------------------------
  // Skip goes on with the rotation entry after the one it cuts short, so that is where the
  // new item goes; the item on air must have time enough left for the edit to land first.
  const onAir = await until(
    async () => {
      const { current } = await nowApi();
      const { items } = await get('/api/v1/playlist');
      const i = items.findIndex((it) => itemTitle(it) === current.title);
      const left = current.duration_seconds - current.position_seconds;
      const fits = current.kind !== 'event' && i >= 0 && left >= MARGIN_S;
      return fits ? { i, title: current.title } : null;
    },
    60000,
    500,
  );
  if (!onAir) throw new Error(`no item on air with ${MARGIN_S} s left to put the new one after`);
  const before = await reloads();
  const title = `Upload ${Date.now().toString(36)}`;
  const position = onAir.i + 1;
  Object.assign(report, { title, position, after: onAir.title });
  await page.locator('#add-source').selectOption(name);
  await page.locator('#add-title').fill(title);
  await page.locator('#add-position').fill(String(position + 1));
  await page.locator('#add-submit').click();
  const row = page.locator(`[data-testid="playlist-item"][data-title="${title}"]`);
  if (!(await row.waitFor({ timeout: 10000 }).then(() => true, () => false))) {
    fail(`the playlist does not show "${title}": ${await text('message')}`);
  } else {
    const at = Number(await row.getAttribute('data-index'));
    if (at !== position) fail(`"${title}" is at index ${at} of the playlist, not ${position}`);
  }
  log(`added "${title}" at index ${position}, after "${onAir.title}": ${await text('message')}`);
  // A Skip before the reload would go on with the old playlist. The channel publishes a
  // reloaded playlist as soon as it has it, so /api/v1/now, and then the console, name the
  // new item as next well before the item on air ends.
  if (!(await until(async () => (await reloads()) > before, 10000))) {
    fail(`the edit was not reloaded within 10 s (reloads: ${await reloads()})`);
  }
  const nextNamed = await until(async () => (await nowApi()).next[0]?.title === title, 5000);
  if (!nextNamed) fail(`/api/v1/now does not name "${title}" as next after the reload`);
  const nextShown = await until(async () => (await text('next-title')) === title, 5000);
  if (!nextShown) fail(`the console's Next does not show "${title}" after the reload`);
  report.next_before_skip = await text('next-title');
  if ((await text('now-title')) === title) fail(`"${title}" came on air before the skip`);
  if (!(await watchReady)) fail('the watch page did not start playing within 30 s');

  // ---- Skip ---------------------------------------------------------------------------------
  const answer = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/skip');
  const skipped = Date.now();
  await q('skip').click();
  const a = await answer;
  report.skip_answer = { status: a.status(), ...(await a.json().catch(() => ({}))) };
  if (a.status() !== 200) fail(`Skip answered ${JSON.stringify(report.skip_answer)}`);
  let early = null;
  const named = await until(async () => {
    const { current } = await nowApi();
    if (current.title !== title) return null;
    // Named as on air before it starts: the API would be ahead of the air.
    if (current.position_seconds < 0) early ??= current;
    return current;
  }, NOW_LIMIT_MS);
  report.skip_to_api_ms = named ? Date.now() - skipped : null;
  if (!named) fail(`/api/v1/now did not name "${title}" within ${NOW_LIMIT_MS} ms of the skip`);
  report.skip_to_on_air_ms = await until(async () => {
    const { current } = await nowApi();
    const on = current.title === title && current.position_seconds >= 0;
    return on ? Date.now() - skipped : null;
  }, NOW_LIMIT_MS);
  if (early) {
    const w =
      `/api/v1/now named "${title}" as current before its start: ` +
      `position_seconds ${early.position_seconds}, duration_seconds ` +
      `${early.duration_seconds}, started_at ${early.started_at}`;
    fail(w);
  }
  report.skip_message = await text('message');
  if (!/^Skipped/.test(report.skip_message)) {
    fail(`after Skip the status line says "${report.skip_message}"`);
  }
  const onConsole = await until(async () => (await text('now-title')) === title, 5000);
  report.skip_to_console_ms = onConsole ? Date.now() - skipped : null;
  if (!onConsole) fail(`the console's Now does not show "${title}" after the skip`);
  if ((await row.getAttribute('aria-current')) !== 'true') {
    fail(`"${title}" is not marked on air in the playlist`);
  }

  const watchTitle = () => watch.locator('[data-testid="title"]').textContent();
  const shown = await until(
    async () => (await watchTitle()) === title,
    WATCH_LIMIT_MS - (Date.now() - skipped),
  );
  report.skip_to_watch_ms = shown ? Date.now() - skipped : null;
  if (!shown) {
    fail(
      `the watch page did not show "${title}" within ${WATCH_LIMIT_MS} ms of the skip ` +
        `(it shows "${await watchTitle()}")`,
    );
  }
  const { skip_to_api_ms: api, skip_to_watch_ms: watched } = report;
  log(`skip → /api/v1/now ${api} ms, → watch page ${watched} ms`);

  report.outputs_rows = await q('outputs').locator('tbody tr').count();
  if (!report.outputs_rows) fail('the outputs table is empty');
  if (await q('reload-error').isVisible()) {
    fail(`a reload error is shown: ${await text('reload-error')}`);
  }
  // An event added through the form is in the playlist file's events, and removed again.
  await page.locator('#event-at').fill('03:00');
  await page.locator('#event-source').selectOption('');
  await page.locator('#event-slate').fill('10s');
  await page.locator('#event-title').fill('Night break');
  await page.locator('#event-form button[type=submit]').click();
  const eventRow = page.locator('[data-testid="event"][data-title="Night break"]');
  const added = await eventRow.waitFor({ timeout: 10000 }).then(() => true, () => false);
  const listed = (await get('/api/v1/events')).events.some((e) => e.title === 'Night break');
  if (!added || !listed) fail(`the event form did not add the event: ${await text('message')}`);
  await eventRow.locator('button').click();
  const gone = await eventRow.waitFor({ state: 'detached', timeout: 10000 }).then(
    () => true,
    () => false,
  );
  if (!gone || (await get('/api/v1/events')).events.length) fail('the event was not removed');
  report.event_added_and_removed = added && listed && gone;

  // ---- The as-run log -----------------------------------------------------------------------
  // By now the channel has passed item boundaries (at least the upload, played to its end
  // about 12 s after the skip): the table lists one that played, and its CSV link gives it.
  if (!(await q('asrun').isVisible())) fail('the as-run section is not shown');
  const titles = new Set((await get('/api/v1/playlist')).items.map(itemTitle));
  const asrunRows = () =>
    q('asrun-row').evaluateAll((rows) =>
      rows.map((r) => ({
        title: r.querySelector('.title')?.textContent.trim(),
        reason: r.querySelector('.reason')?.textContent.trim(),
      })),
    );
  const asrunStart = Date.now();
  const played = await until(
    async () => {
      await page.locator('#asrun-refresh').click();
      await sleep(300);
      return (await asrunRows()).find((r) => titles.has(r.title) && r.reason === 'played');
    },
    ASRUN_LIMIT_MS,
    1000,
  );
  report.asrun_played = played;
  report.asrun_ms = played ? Date.now() - asrunStart : null;
  report.asrun_rows = await q('asrun-row').count();
  if (!played) {
    fail(
      `no as-run row of one of ${JSON.stringify([...titles])} that played within ` +
        `${ASRUN_LIMIT_MS} ms: ${JSON.stringify(await asrunRows())}`,
    );
  } else if (await q('asrun-empty').isVisible()) {
    fail('the as-run table has rows but still says nothing has aired');
  }
  const csvLink = q('asrun-csv');
  const href = (await csvLink.getAttribute('href')) ?? '';
  report.asrun_csv_href = href;
  report.asrun_csv_download = await csvLink.getAttribute('download');
  if (!href.includes('format=csv')) fail(`the as-run CSV link is ${JSON.stringify(href)}`);
  const csv = await page.evaluate(async (h) => {
    const r = await fetch(h, { cache: 'no-store' });
    return { status: r.status, type: r.headers.get('content-type'), text: await r.text() };
  }, href);
  const csvLines = csv.text.split('\n');
  report.asrun_csv = { status: csv.status, type: csv.type, first: csvLines[0] };
  report.asrun_csv_lines = csvLines.filter((l) => l.trim()).length;
  if (csv.status !== 200) fail(`the as-run CSV link answered ${csv.status}: ${csv.text}`);
  if (csvLines[0] !== ASRUN_HEADER) {
    fail(`the as-run CSV starts with ${JSON.stringify(csvLines[0])}, not the header`);
  }
  if (report.asrun_csv_lines < 2) fail(`the as-run CSV has no entry: ${JSON.stringify(csv.text)}`);
  log(`as-run: ${report.asrun_rows} rows, "${played?.title}" played; CSV ${href}`);

  // The console with the new item on air, and its preview showing it too.
  await sleep(1500);
  await page.screenshot({ path: shot, fullPage: true });
  report.screenshot = shot;
} catch (e) {
  fail(`stopped: ${e.message}`);
  await page?.screenshot({ path: shot, fullPage: true }).catch(() => {});
}

for (const e of pageErrors) fail(`page error: ${e}`);
report.failures = failures;
console.log(`CONSOLE_REPORT ${JSON.stringify(report)}`);
await browser.close();
process.exit(failures.length ? 1 : 0);

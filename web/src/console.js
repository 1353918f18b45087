// The operator console at /console: sign in with the channel's API token, upload media, edit
// the playlist, skip and play now, and watch the outputs. It is the control API
// (/api/v1/openapi.json) with buttons: every write is one request, and what the server
// answers is what the page shows. No framework; the watch page itself is the preview.
//
// The token is kept in sessionStorage (this tab only) and sent as `Authorization: Bearer`.
// Playlist edits send the ETag they were made against (`If-Match`); a 412 means someone else
// changed the playlist first, so the page reloads it and says so.
//
// Test hooks: data-testid="token|sign-in|upload-file|upload-progress|upload-result|library|
// playlist|playlist-item|now-title|next-title|skip|play-now|outputs|reload-error|undo|message|
// asrun|asrun-row|asrun-csv|asrun-empty", and `window.playout.state()`.
//
// The as-run log (today, UTC) is a read route like /api/v1/now: fetched without the token.
//
// A channel of a host (`playout run DIR`) has its console at /c/ID/console: then its API, its
// watch page (the link and the preview) and the as-run CSV are under /c/ID too (base.js), and
// the host's token (host.yaml's http.api_token) opens it as well as the channel's own.
import { BASE } from './base.js';
import { node } from './dom.js';

const API = `${BASE}/api/v1`;
const TOKEN_KEY = 'playout.token';
const NOW_MS = 1000;
const OUTPUTS_MS = 2000;
const PLAYLIST_MS = 3000;
const LIBRARY_MS = 10000;
const ASRUN_MS = 10000;
/** The width the preview lays the watch page out at, before scaling it to the card. */
const PREVIEW_WIDTH = 1000;

const $ = (id) => document.getElementById(id);
const tid = (id) => document.querySelector(`[data-testid="${id}"]`);

const ui = {
  channel: $('channel'),
  message: tid('message'),
  signOut: $('sign-out'),
  signin: $('signin'),
  signinForm: $('signin-form'),
  token: tid('token'),
  signinError: $('signin-error'),
  console: $('console'),
  reloadError: tid('reload-error'),
  preview: document.querySelector('.preview iframe'),
  nowTitle: tid('now-title'),
  nowKind: $('now-kind'),
  nowProgress: $('now-progress'),
  nowTime: $('now-time'),
  nextTitle: tid('next-title'),
  nextTime: $('next-time'),
  later: $('later'),
  skip: tid('skip'),
  playnowForm: $('playnow-form'),
  playnowSource: $('playnow-source'),
  playnowSlate: $('playnow-slate'),
  playnowTitle: $('playnow-title'),
  playlist: tid('playlist'),
  undo: tid('undo'),
  playlistReload: $('playlist-reload'),
  editErrors: $('edit-errors'),
  addForm: $('add-form'),
  addSource: $('add-source'),
  addSlate: $('add-slate'),
  addTitle: $('add-title'),
  addPosition: $('add-position'),
  libraryDir: $('library-dir'),
  uploadFile: tid('upload-file'),
  uploadProgress: tid('upload-progress'),
  uploadCancel: $('upload-cancel'),
  uploadResult: tid('upload-result'),
  uploadLimit: $('upload-limit'),
  library: tid('library'),
  events: tid('events'),
  eventForm: $('event-form'),
  eventAt: $('event-at'),
  eventSource: $('event-source'),
  eventSlate: $('event-slate'),
  eventTitle: $('event-title'),
  outputs: document.querySelector('[data-testid="outputs"] tbody'),
  asrunDay: $('asrun-day'),
  asrunRefresh: $('asrun-refresh'),
  asrunCsv: tid('asrun-csv'),
  asrunUpdated: $('asrun-updated'),
  asrunError: $('asrun-error'),
  asrunScroll: document.querySelector('[data-testid="asrun"] .scroll'),
  asrun: document.querySelector('#asrun-table tbody'),
  asrunEmpty: tid('asrun-empty'),
};

// The channel's own watch page and as-run CSV, under the base the console is served at.
$('watch-link').href = `${BASE}/`;
ui.preview.dataset.src = `${BASE}/`;
ui.asrunCsv.href = `${API}/asrun?format=csv`;
if (BASE) $('token-source').textContent = "(the host's, or http.api_token of the channel file)";

let token = null;
let signedIn = false;
const timers = [];

// ---- Small helpers ---------------------------------------------------------------------------

/** A refused or failed request: `status` 0 when the server did not answer. */
class ApiError extends Error {
  constructor(status, body) {
    super(body?.error || `HTTP ${status}`);
    this.status = status;
    this.body = body ?? {};
  }
}

/** The status line. */
function say(text, kind = 'info') {
  ui.message.textContent = text;
  ui.message.dataset.kind = kind;
}

/** A button named by its visible text and, for screen readers, what it acts on. */
function button(text, context, props = {}) {
  const hidden = node('span', { class: 'sr-only' }, `: ${context}`);
  return node('button', { type: 'button', ...props }, text, hidden);
}

function setText(e, text) {
  if (e.textContent !== text) e.textContent = text;
}

function bytes(n) {
  if (!Number.isFinite(n)) return '?';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i ? n.toFixed(1) : n} ${units[i]}`;
}

function duration(s) {
  if (!Number.isFinite(s)) return '?';
  const t = Math.max(0, Math.round(s));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = String(t % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

const clock = new Intl.DateTimeFormat(undefined, {
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});
const clockTime = (iso) => clock.format(new Date(iso));

function stem(path) {
  const base = String(path).split('/').pop();
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
}

/** The title the channel gives an item: its own, else "Slate" or the file's stem. */
function itemTitle(item) {
  if (item.title) return item.title;
  return 'slate' in item ? 'Slate' : stem(item.path);
}

// ---- Requests ----------------------------------------------------------------------------------

/** A control request; throws `ApiError` unless 2xx. A 401 also signs out. */
async function api(method, path, { body, etag } = {}) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (etag) headers['If-Match'] = etag;
  let r;
  try {
    r = await fetch(API + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError(0, { error: `the server did not answer (${e.message})` });
  }
  const json = await r.json().catch(() => ({}));
  if (r.status === 401) refused(json.error ?? 'HTTP 401');
  if (!r.ok) throw new ApiError(r.status, json);
  return { json, etag: r.headers.get('etag'), status: r.status };
}

/** Runs `work`, showing what went wrong in the status line (a 401 has already signed out). */
async function attempt(work) {
  try {
    return await work();
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    if (e.status !== 401) say(e.message, 'error');
    return undefined;
  }
}

// ---- Signing in and out -----------------------------------------------------------------------

function showSignedIn(yes) {
  signedIn = yes;
  ui.signin.hidden = yes;
  ui.console.hidden = !yes;
  ui.signOut.hidden = !yes;
}

async function signIn(candidate) {
  token = candidate;
  ui.signinError.textContent = '';
  try {
    // Any control read proves the token; the outputs are the cheapest.
    await api('GET', '/outputs');
  } catch (e) {
    if (e.status !== 401) {
      token = null;
      ui.signinError.textContent = `Cannot sign in: ${e.message}`;
    }
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  showSignedIn(true);
  say('Signed in.');
  ui.preview.src = ui.preview.dataset.src;
  start();
}

/** The server refused the token: back to the sign-in form, saying why. */
function refused(why) {
  signOut(
    signedIn
      ? `Signed out: the server refused the token (${why}).`
      : `The server refused this token (${why}).`,
  );
}

function signOut(why) {
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  for (const t of timers.splice(0)) clearInterval(t);
  uploading?.abort();
  ui.preview.src = 'about:blank';
  playlist = { etag: null, data: null };
  library = { dir: '', files: [], max: null };
  asrun = { from: null, entries: [] };
  showSignedIn(false);
  ui.signinError.textContent = why ?? '';
  say(why ?? 'Signed out.', why ? 'error' : 'info');
  ui.token.value = '';
  ui.token.focus();
}

ui.signinForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const t = ui.token.value.trim();
  if (t) signIn(t);
});
ui.signOut.addEventListener('click', () => signOut());

// The preview is the watch page itself, laid out at PREVIEW_WIDTH and scaled to fit.
new ResizeObserver(([e]) => {
  const s = e.contentRect.width / PREVIEW_WIDTH;
  if (s > 0) e.target.style.setProperty('--preview-scale', s.toFixed(4));
}).observe(ui.preview.parentElement);

// ---- Now and next, and the last rejected reload ---------------------------------------------

let now = null;

async function loadNow() {
  try {
    const r = await fetch(`${API}/now`, { cache: 'no-store' });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    now = await r.json();
  } catch {
    setText(ui.nowTime, 'the server did not answer');
    return;
  }
  if (now.channel && ui.channel.textContent !== now.channel) {
    ui.channel.textContent = now.channel;
    document.title = `${now.channel} · Console`;
  }
  const c = now.current;
  setText(ui.nowTitle, c.title);
  setText(ui.nowKind, c.kind === 'item' ? '' : c.kind);
  const len = Math.max(c.duration_seconds, 0);
  const pos = c.position_seconds;
  ui.nowProgress.max = len || 1;
  ui.nowProgress.value = Math.min(Math.max(pos, 0), len);
  // Just after a skip the server may name what comes on air in a moment (a start ahead).
  const ahead = `on air in ${(-pos).toFixed(1)} s`;
  setText(ui.nowTime, pos < 0 ? ahead : `${duration(pos)} of ${duration(len)}`);
  const [n, ...later] = now.next;
  setText(ui.nextTitle, n ? n.title : '…');
  const kind = n && n.kind !== 'item' ? ` (${n.kind})` : '';
  setText(ui.nextTime, n ? `at ${clockTime(n.start)}${kind}` : '');
  ui.later.replaceChildren(
    ...later.map((p) =>
      node('li', {}, node('time', { dateTime: p.start }, clockTime(p.start)), ' ', p.title),
    ),
  );
  const err = now.reload_error;
  ui.reloadError.hidden = !err;
  const rejected =
    'The last edit of the channel files was rejected; the channel plays on as before';
  setText(ui.reloadError, err ? `${rejected}: ${err}` : '');
  markOnAir();
}

ui.skip.addEventListener('click', () =>
  attempt(async () => {
    ui.skip.disabled = true;
    try {
      const { json } = await api('POST', '/skip');
      const inS = json.on_air_in_seconds.toFixed(1);
      say(`Skipped “${json.skipped}”: “${json.next}” is on air in ${inS} s.`);
    } finally {
      ui.skip.disabled = false;
      setTimeout(loadNow, 300);
    }
  }),
);

ui.playnowForm.addEventListener('submit', (e) => {
  e.preventDefault();
  // Play-now names a library file by its name; a playlist item names it by its path.
  const body = source(ui.playnowSource, ui.playnowSlate, ui.playnowTitle, (name) => name);
  if (!body) return;
  attempt(async () => {
    const { json } = await api('POST', '/play-now', { body });
    say(`Play now: on air at ${clockTime(json.at)}, in ${json.on_air_in_seconds.toFixed(1)} s.`);
    ui.playnowTitle.value = '';
    loadPlaylist();
  });
});

/** From a form's fields: `{path: pathOf(name)}` or `{slate}`, and the title if one is given. */
function source(select, slate, title, pathOf = libraryPath) {
  let body;
  if (select.value === '') {
    const d = slate.value.trim();
    if (!d) {
      say('Give the slate a length, e.g. 30s.', 'error');
      slate.focus();
      return null;
    }
    body = { slate: d };
  } else {
    body = { path: pathOf(select.value) };
  }
  if (title.value.trim()) body.title = title.value.trim();
  return body;
}

// ---- The playlist ---------------------------------------------------------------------------

let playlist = { etag: null, data: null };
let dragging = null;
let editing = false;

async function loadPlaylist(force = false) {
  const r = await attempt(() => api('GET', '/playlist'));
  if (r && signedIn && (force || r.etag !== playlist.etag)) setPlaylist(r.json, r.etag);
}

function setPlaylist(data, etag) {
  playlist = { etag, data };
  if (dragging === null) renderPlaylist();
  renderEvents();
}

/** The playlist's events, each with a Remove button. */
function renderEvents() {
  const events = playlist.data?.events ?? [];
  ui.events.replaceChildren(
    ...events.map((ev, i) => {
      const title = itemTitle(ev);
      const what = 'slate' in ev ? `slate, ${ev.slate}` : String(ev.path).split('/').pop();
      return node(
        'li',
        { class: 'item', dataset: { testid: 'event', index: String(i), title } },
        node('span', { class: 'num' }, String(ev.at)),
        node(
          'span',
          { class: 'what' },
          node('strong', {}, title),
          ' ',
          node('span', { class: 'detail' }, what),
        ),
        node(
          'span',
          { class: 'actions' },
          button('Remove', title, { class: 'danger', dataset: { index: String(i) } }),
        ),
      );
    }),
  );
  if (!events.length) ui.events.append(node('li', { class: 'empty' }, 'No events.'));
}

ui.events.addEventListener('click', async (e) => {
  const b = e.target.closest('button[data-index]');
  if (!b) return;
  const i = Number(b.dataset.index);
  const title = itemTitle(playlist.data.events[i]);
  await edit('DELETE', `/events/${i}`, undefined, `Removed the event “${title}”.`);
});

ui.eventForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  const what = source(ui.eventSource, ui.eventSlate, ui.eventTitle);
  if (!what) return;
  const body = { at: ui.eventAt.value.trim(), ...what };
  if (await edit('POST', '/events', body, `Added the event “${itemTitle(body)}” at ${body.at}.`)) {
    ui.eventTitle.value = '';
  }
});

/** Re-renders the list, keeping the keyboard on the same button of the same place. */
function renderPlaylist() {
  const items = playlist.data?.items ?? [];
  const f = document.activeElement;
  const keep = ui.playlist.contains(f) && f.dataset.action ? f.dataset : null;
  ui.playlist.replaceChildren(...items.map((item, i) => playlistRow(item, i, items.length)));
  if (keep) focusIn(ui.playlist, keep.action, keep.index);
  markOnAir();
}

/** Focuses the `action` button of row `index`, or the first enabled button of that row. */
function focusIn(list, action, index) {
  const b = list.querySelector(`[data-action="${action}"][data-index="${index}"]`);
  const row = list.querySelector(`li[data-index="${index}"]`);
  (b && !b.disabled ? b : row?.querySelector('button:not(:disabled)'))?.focus();
}

function playlistRow(item, i, count) {
  const title = itemTitle(item);
  const detail = ['slate' in item ? `slate, ${item.slate}` : String(item.path).split('/').pop()];
  for (const k of ['in', 'out', 'duration']) if (item[k] != null) detail.push(`${k} ${item[k]}`);
  const act = (text, action, props = {}) =>
    button(text, title, { dataset: { action, index: String(i) }, ...props });
  return node(
    'li',
    {
      class: 'item',
      draggable: true,
      dataset: { testid: 'playlist-item', index: String(i), title },
    },
    node('span', { class: 'handle', 'aria-hidden': 'true', title: 'Drag to reorder' }, '⠿'),
    node('span', { class: 'num' }, String(i + 1)),
    node(
      'span',
      { class: 'what' },
      node('strong', {}, title),
      ' ',
      node('span', { class: 'detail' }, detail.join(' · ')),
    ),
    node('span', { class: 'badge onair', hidden: true }, 'On air'),
    node(
      'span',
      { class: 'actions' },
      act('Move up', 'up', { disabled: i === 0 }),
      act('Move down', 'down', { disabled: i === count - 1 }),
      act('Remove', 'remove', { class: 'danger' }),
    ),
  );
}

/** The rotation entry on air: the first item with the title /api/v1/now gives. */
function onAirIndex() {
  const items = playlist.data?.items;
  if (!now || !items || now.current.kind === 'event') return -1;
  return items.findIndex((it) => itemTitle(it) === now.current.title);
}

function markOnAir() {
  const i = onAirIndex();
  for (const li of ui.playlist.children) {
    const on = Number(li.dataset.index) === i;
    if (on) li.setAttribute('aria-current', 'true');
    else li.removeAttribute('aria-current');
    li.querySelector('.onair').hidden = !on;
  }
}

/** One playlist edit, against the ETag of the playlist the page shows. */
async function edit(method, path, body, done) {
  if (editing) return false;
  editing = true;
  try {
    const r = await api(method, path, { body, etag: playlist.etag });
    showEditErrors(null);
    setPlaylist(r.json, r.etag);
    say(done);
    loadLibrary();
    return true;
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    if (e.status === 412) {
      await loadPlaylist(true);
      say(
        'Someone else changed the playlist meanwhile: it is reloaded as it is now. ' +
          'Check it, then redo your edit.',
        'error',
      );
    } else if (e.status === 422) {
      showEditErrors(e.body);
      say(`The playlist was not changed: ${e.message}`, 'error');
    } else if (e.status !== 401) {
      say(e.message, 'error');
    }
    return false;
  } finally {
    editing = false;
  }
}

/** A 422's `error` and its `errors[]` (place: message), or nothing. */
function showEditErrors(body) {
  const list = body?.errors ?? [];
  ui.editErrors.hidden = !body;
  ui.editErrors.querySelector('p').textContent = body ? `Not saved: ${body.error}` : '';
  ui.editErrors
    .querySelector('ul')
    .replaceChildren(
      ...list.map((x) => node('li', {}, node('code', {}, x.place), `: ${x.message}`)),
    );
}

function move(from, to) {
  const title = itemTitle(playlist.data.items[from]);
  const path = `/playlist/items/${from}/move`;
  return edit('POST', path, { to }, `Moved “${title}” to position ${to + 1}.`);
}

ui.playlist.addEventListener('click', async (e) => {
  const b = e.target.closest('button[data-action]');
  if (!b) return;
  const { action } = b.dataset;
  const i = Number(b.dataset.index);
  if (action === 'remove') {
    const title = itemTitle(playlist.data.items[i]);
    const done = `Removed “${title}” (Undo puts it back).`;
    await edit('DELETE', `/playlist/items/${i}`, undefined, done);
    return;
  }
  const to = action === 'up' ? i - 1 : i + 1;
  // The keyboard follows the item it moved.
  if (await move(i, to)) focusIn(ui.playlist, action, to);
});

// HTML5 drag and drop: dropping on an item puts the dragged one in its place.
ui.playlist.addEventListener('dragstart', (e) => {
  const li = e.target.closest('li.item');
  if (!li) return;
  dragging = Number(li.dataset.index);
  li.classList.add('dragging');
  e.dataTransfer.effectAllowed = 'move';
  e.dataTransfer.setData('text/plain', li.dataset.title);
});
ui.playlist.addEventListener('dragover', (e) => {
  const li = e.target.closest('li.item');
  if (dragging === null || !li) return;
  e.preventDefault();
  e.dataTransfer.dropEffect = 'move';
  for (const x of ui.playlist.querySelectorAll('.drop-target')) {
    if (x !== li) x.classList.remove('drop-target');
  }
  li.classList.add('drop-target');
});
ui.playlist.addEventListener('drop', async (e) => {
  const li = e.target.closest('li.item');
  if (dragging === null || !li) return;
  e.preventDefault();
  const from = dragging;
  const to = Number(li.dataset.index);
  dragging = null;
  if (from === to || !(await move(from, to))) renderPlaylist();
});
ui.playlist.addEventListener('dragend', () => {
  if (dragging !== null) {
    dragging = null;
    renderPlaylist();
  }
  for (const x of ui.playlist.querySelectorAll('.drop-target, .dragging')) {
    x.classList.remove('drop-target', 'dragging');
  }
});

ui.undo.addEventListener('click', () =>
  attempt(async () => {
    try {
      const r = await api('POST', '/playlist/undo');
      setPlaylist(r.json, r.etag);
      showEditErrors(null);
      say('The last edit is undone.');
      loadLibrary();
    } catch (e) {
      if (e.status !== 409) throw e;
      say(`Nothing to undo: ${e.message}.`, 'error');
    }
  }),
);
ui.playlistReload.addEventListener('click', async () => {
  await loadPlaylist(true);
  say('The playlist is reloaded.');
});

ui.addForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  const item = source(ui.addSource, ui.addSlate, ui.addTitle);
  if (!item) return;
  const body = { item };
  const pos = ui.addPosition.value.trim();
  if (pos) {
    const n = Number(pos);
    if (!Number.isInteger(n) || n < 1) {
      say('The position is a whole number from 1 (or empty, for the end).', 'error');
      ui.addPosition.focus();
      return;
    }
    body.position = n - 1;
  }
  const where = pos ? `at position ${pos}` : 'at the end';
  if (await edit('POST', '/playlist/items', body, `Added “${itemTitle(item)}” ${where}.`)) {
    ui.addTitle.value = '';
    ui.addPosition.value = '';
  }
});

// ---- The media library --------------------------------------------------------------------

let library = { dir: '', files: [], max: null };
/** Files a delete was refused for (409), by name: the answer, shown with "Delete anyway". */
const conflicts = new Map();

/** A library file's path as the playlist names it. */
function libraryPath(name) {
  return library.dir ? `${library.dir.replace(/\/+$/, '')}/${name}` : name;
}

async function loadLibrary() {
  const r = await attempt(() => api('GET', '/media'));
  if (!r || !signedIn) return;
  const same = JSON.stringify(r.json.files) === JSON.stringify(library.files);
  library = { dir: r.json.dir, files: r.json.files, max: r.json.max_upload_bytes };
  setText(ui.libraryDir, `(${library.dir})`);
  setText(ui.uploadLimit, library.max ? `(at most ${bytes(library.max)})` : '');
  if (!same || !ui.library.children.length) renderLibrary();
}

function renderLibrary() {
  const f = document.activeElement;
  const keep = ui.library.contains(f) && f.dataset.action ? f.dataset : null;
  ui.library.replaceChildren(...library.files.map(libraryRow));
  if (!library.files.length) {
    ui.library.append(node('li', { class: 'empty' }, 'No files yet: upload one above.'));
  }
  if (keep) {
    const same = [...ui.library.querySelectorAll(`[data-action="${keep.action}"]`)];
    same.find((b) => b.dataset.name === keep.name)?.focus();
  }
  for (const sel of [ui.addSource, ui.playnowSource, ui.eventSource]) fillSources(sel);
}

/** What the probe says, in a line. */
function probeText(p) {
  if (!p) return 'not probed';
  if (!p.playable) {
    return `not playable: ${p.reason ?? 'unreadable'}${p.error ? ` (${p.error})` : ''}`;
  }
  const parts = ['playable'];
  if (p.duration_seconds != null) parts.push(duration(p.duration_seconds));
  if (p.still) parts.push('still image');
  else parts.push([p.video && 'video', p.audio && 'audio'].filter(Boolean).join(' + ') || '—');
  return parts.join(' · ');
}

function libraryRow(file) {
  const p = file.probe ?? {};
  const act = (text, action, cls = '') =>
    button(text, file.name, { dataset: { action, name: file.name }, class: cls });
  const li = node(
    'li',
    { class: 'file', dataset: { name: file.name } },
    node(
      'span',
      { class: 'what' },
      node('strong', {}, file.name),
      ' ',
      node('span', { class: 'detail' }, `${bytes(file.size)} · ${probeText(p)}`),
      p.actions?.length ? node('span', { class: 'detail' }, `on air: ${p.actions.join(', ')}`) : '',
    ),
    node(
      'span',
      { class: 'badges' },
      node(
        'span',
        { class: `badge ${p.playable ? 'ok' : 'bad'}` },
        p.playable ? 'Playable' : 'Not playable',
      ),
      file.in_playlist ? node('span', { class: 'badge' }, 'In playlist') : null,
      file.on_air ? node('span', { class: 'badge onair' }, 'On air') : null,
    ),
    node(
      'span',
      { class: 'actions' },
      act('Add to playlist', 'add'),
      act('Play now', 'play', 'warn'),
      act('Delete', 'delete', 'danger'),
    ),
  );
  const why = conflicts.get(file.name);
  if (why) {
    const anyway = act('Delete anyway', 'force', 'danger');
    li.append(node('p', { class: 'conflict error' }, why, ' ', anyway));
  }
  return li;
}

/** A form's "What" choices: a slate, or any playable library file. */
function fillSources(sel) {
  const keep = sel.value;
  const opts = [node('option', { value: '' }, 'Slate (give a length)')];
  for (const f of library.files) {
    if (f.probe?.playable) opts.push(node('option', { value: f.name }, f.name));
  }
  sel.replaceChildren(...opts);
  const kept = [...sel.options].some((o) => o.value === keep);
  sel.value = kept ? keep : sel.options[sel.options.length - 1].value;
}

ui.library.addEventListener('click', async (e) => {
  const b = e.target.closest('button[data-action]');
  if (!b) return;
  const { name, action } = b.dataset;
  if (action === 'add') {
    const body = { item: { path: libraryPath(name) } };
    await edit('POST', '/playlist/items', body, `Added “${name}” at the end of the playlist.`);
  } else if (action === 'play') {
    await attempt(async () => {
      const { json } = await api('POST', '/play-now', { body: { path: name } });
      const inS = json.on_air_in_seconds.toFixed(1);
      say(`Play now: “${name}” is on air at ${clockTime(json.at)}, in ${inS} s.`);
      loadPlaylist();
    });
  } else if (action === 'delete' || action === 'force') {
    await attempt(() => remove(name, action === 'force'));
  }
});

/** Deletes a library file; a 409 (in the playlist, or on air) offers "Delete anyway". */
async function remove(name, force) {
  try {
    await api('DELETE', `/media/${encodeURIComponent(name)}${force ? '?force=true' : ''}`);
  } catch (e) {
    if (e.status !== 409) throw e;
    conflicts.set(name, e.message);
    renderLibrary();
    const row = [...ui.library.children].find((li) => li.dataset.name === name);
    row?.querySelector('[data-action="force"]')?.focus();
    say(`Kept “${name}”: ${e.message}`, 'error');
    return;
  } finally {
    if (force) conflicts.delete(name);
  }
  conflicts.delete(name);
  say(`Deleted “${name}”.`);
  await loadLibrary();
  ui.uploadFile.focus();
}

// ---- Uploads ---------------------------------------------------------------------------------

let uploading = null;

ui.uploadFile.addEventListener('change', () => {
  const file = ui.uploadFile.files[0];
  if (file) upload(file);
});
ui.uploadCancel.addEventListener('click', () => uploading?.abort());

function uploadResult(text, kind) {
  ui.uploadResult.textContent = text;
  ui.uploadResult.dataset.kind = kind;
}

/** `PUT /api/v1/media/NAME` with the file as the body, by XHR for its upload progress. */
function upload(file) {
  if (uploading) {
    say('An upload is already running.', 'error');
    return;
  }
  if (library.max && file.size > library.max) {
    uploadResult(
      `“${file.name}” is ${bytes(file.size)}, more than the ${bytes(library.max)} ` +
        'the server takes (media.max_upload).',
      'error',
    );
    return;
  }
  const xhr = new XMLHttpRequest();
  uploading = xhr;
  ui.uploadProgress.value = 0;
  ui.uploadCancel.hidden = false;
  uploadResult(`Uploading “${file.name}” (${bytes(file.size)})…`, 'info');
  xhr.open('PUT', `${API}/media/${encodeURIComponent(file.name)}`);
  xhr.setRequestHeader('Authorization', `Bearer ${token}`);
  xhr.setRequestHeader('Content-Type', 'application/octet-stream');
  xhr.upload.addEventListener('progress', (e) => {
    if (e.lengthComputable) ui.uploadProgress.value = (100 * e.loaded) / e.total;
  });
  xhr.upload.addEventListener('load', () => {
    ui.uploadProgress.value = 100;
    uploadResult(`“${file.name}” is sent; the server is checking it…`, 'info');
  });
  const finish = () => {
    uploading = null;
    ui.uploadCancel.hidden = true;
    ui.uploadFile.value = '';
  };
  xhr.addEventListener('load', async () => {
    finish();
    let j = {};
    try {
      j = JSON.parse(xhr.responseText);
    } catch {
      // Not JSON: the status says enough.
    }
    if (xhr.status === 401) {
      refused(j.error ?? 'HTTP 401');
    } else if (xhr.status === 200 || xhr.status === 201) {
      const replaced = xhr.status === 200 ? ' (it replaced the file of that name)' : '';
      uploadResult(`Uploaded “${j.name}”${replaced}: ${probeText(j.probe)}.`, 'ok');
      say(`Uploaded “${j.name}”.`);
      await loadLibrary();
      for (const sel of [ui.addSource, ui.playnowSource]) sel.value = j.name;
    } else {
      uploadResult(`Not uploaded: ${j.error ?? `HTTP ${xhr.status}`}`, 'error');
      say(`The upload of “${file.name}” was refused.`, 'error');
    }
  });
  xhr.addEventListener('error', () => {
    finish();
    uploadResult(`The upload of “${file.name}” failed: the connection was lost.`, 'error');
  });
  xhr.addEventListener('abort', () => {
    finish();
    ui.uploadProgress.value = 0;
    uploadResult(`The upload of “${file.name}” was cancelled; nothing was kept.`, 'info');
  });
  xhr.send(file);
}

// ---- Outputs ---------------------------------------------------------------------------------

async function loadOutputs() {
  const r = await attempt(() => api('GET', '/outputs'));
  if (!r || !signedIn) return;
  ui.outputs.replaceChildren(...r.json.outputs.map(outputRow));
}

function outputRow(o) {
  const up = o.state === 'up';
  return node(
    'tr',
    { dataset: { name: o.name, state: o.state } },
    node('th', { scope: 'row' }, o.name),
    node('td', {}, o.kind),
    node('td', { class: 'url' }, o.url),
    node('td', {}, node('span', { class: `badge ${up ? 'ok' : 'bad'}` }, up ? 'Up' : 'Down')),
    node('td', { class: 'n' }, bytes(o.bytes_total)),
    node('td', { class: 'n' }, String(o.dropped_packets_total)),
    node('td', { class: 'n' }, String(o.reconnects_total)),
  );
}

// ---- The as-run log --------------------------------------------------------------------------

/** The entries the table shows, of the span that starts at `from`. */
let asrun = { from: null, entries: [] };
/** The as-run request under way, if any: a refresh waits for it rather than sending another. */
let asrunLoading = null;

/** Today in UTC up to now, as the request's `from` and `to`, and the day (YYYY-MM-DD). */
function today() {
  const to = new Date();
  const from = new Date(Date.UTC(to.getUTCFullYear(), to.getUTCMonth(), to.getUTCDate()));
  // The span must not be empty, even at midnight exactly.
  if (to <= from) to.setTime(from.getTime() + 1);
  const f = from.toISOString();
  return { from: f, to: to.toISOString(), day: f.slice(0, 10) };
}

function asrunUrl({ from, to }, format) {
  const q = new URLSearchParams(format ? { format } : {});
  q.set('from', from);
  q.set('to', to);
  return `${API}/asrun?${q}`;
}

/** hh:mm:ss.mmm of an RFC 3339 UTC time; with its date in front when not on `day`. */
function utcTime(iso, day) {
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(String(iso));
  if (!m) return String(iso);
  const t = `${m[2]}.${(m[3] ?? '').padEnd(3, '0').slice(0, 3)}`;
  return m[1] === day ? t : `${m[1]} ${t}`;
}

/** Refreshes the table, unless a refresh is under way already (then it is that one). */
function loadAsrun() {
  asrunLoading ??= fetchAsrun().finally(() => {
    asrunLoading = null;
  });
  return asrunLoading;
}

async function fetchAsrun() {
  const span = today();
  let entries;
  try {
    let r;
    try {
      r = await fetch(asrunUrl(span), { cache: 'no-store' });
    } catch (e) {
      throw new Error(`the server did not answer (${e.message})`);
    }
    const json = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(json.error ?? `HTTP ${r.status}`);
    entries = Array.isArray(json.entries) ? json.entries : [];
  } catch (e) {
    if (!signedIn) return;
    ui.asrunError.hidden = false;
    setText(ui.asrunError, `The as-run log could not be loaded: ${e.message}`);
    return;
  }
  if (!signedIn) return;
  ui.asrunError.hidden = true;
  setText(ui.asrunError, '');
  renderAsrun(span, entries);
}

const sameEntry = (a, b) =>
  a.start === b.start && a.end === b.end && a.title === b.title && a.reason === b.reason;

/** Shows `entries` of `span`: new ones at the end are added on, anything else redraws. */
function renderAsrun(span, entries) {
  const old = asrun.from === span.from ? asrun.entries : [];
  const n = old.length;
  const grows = n > 0 && entries.length >= n && sameEntry(old[n - 1], entries[n - 1]);
  const s = ui.asrunScroll;
  const atEnd = s.scrollHeight - s.scrollTop - s.clientHeight < 8;
  const row = (e) => asrunRow(e, span.day);
  if (grows) ui.asrun.append(...entries.slice(n).map(row));
  else ui.asrun.replaceChildren(...entries.map(row));
  asrun = { from: span.from, entries };
  ui.asrunEmpty.hidden = entries.length > 0;
  s.hidden = !entries.length;
  // Newest last: follow the end of the log unless the operator scrolled up to read.
  if (!grows || (atEnd && entries.length > n)) s.scrollTop = s.scrollHeight;
  setText(ui.asrunDay, span.day);
  ui.asrunCsv.href = asrunUrl(span, 'csv');
  ui.asrunCsv.download = `asrun-${span.day}.csv`;
  setText(ui.asrunUpdated, `Updated at ${utcTime(span.to, span.day)} UTC`);
}

function asrunRow(e, day) {
  const bad = /^(failed|quarantined)/.test(e.reason);
  const time = (iso) => node('time', { dateTime: iso }, utcTime(iso, day));
  const secs = Number.isFinite(e.duration) ? e.duration.toFixed(3) : '?';
  return node(
    'tr',
    { dataset: { testid: 'asrun-row', kind: e.kind, reason: e.reason } },
    node('th', { scope: 'row', class: 't' }, time(e.start)),
    node('td', { class: 't' }, time(e.end)),
    node('td', { class: 'n' }, secs),
    node('td', {}, e.kind),
    node('td', { class: 'title', ...(e.path ? { title: e.path } : {}) }, e.title),
    node('td', { class: bad ? 'reason error' : 'reason' }, e.reason),
  );
}

ui.asrunRefresh.addEventListener('click', () => loadAsrun());

// ---- Start ------------------------------------------------------------------------------------

function every(ms, f) {
  f();
  timers.push(
    setInterval(() => {
      if (!document.hidden) f();
    }, ms),
  );
}

function start() {
  every(NOW_MS, loadNow);
  every(OUTPUTS_MS, loadOutputs);
  every(PLAYLIST_MS, () => {
    if (!editing && dragging === null) loadPlaylist();
  });
  every(LIBRARY_MS, () => {
    if (!uploading) loadLibrary();
  });
  every(ASRUN_MS, loadAsrun);
}

window.playout = {
  /** What the page holds: the playlist's ETag and items, the library, the last /now, and the
   * as-run entries shown. */
  state: () => ({ etag: playlist.etag, playlist: playlist.data, library, now, asrun }),
};

const kept = sessionStorage.getItem(TOKEN_KEY);
if (kept) {
  signIn(kept);
} else {
  showSignedIn(false);
  ui.token.focus();
}

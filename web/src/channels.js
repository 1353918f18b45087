// The host's pages (`playout run DIR`): the channel list at / (channels.html) and the console's
// channel picker at /console (picker.html). One script for both; the page says which it is
// (`<body data-page="list|picker">`). Both show every channel of the host from
// /api/v1/channels, fetched again every 2 s: its name and id, its state in words (failed and
// restarting marked, with the error of a failed one), what is on air (LIVE while a live input
// is), its restarts; the list links each channel's watch page and console, the picker links
// its console first.
//
// Rows are updated in place, never rebuilt, so that the keyboard stays where it is across
// refreshes. A failed fetch keeps the last list, says so on a visible line, and goes away at
// the next fetch that works.
//
// Test hooks: data-testid="channel" on each channel's row, with data-id="ID" and
// data-state="STATE" (and data-kind, the on-air kind, when known), holding "name", "title",
// "state", "live" (only while on air live), "watch", "console" (links) and "error" (only with
// an error); data-testid="channels-error" (the list could not be fetched) and "empty" (no
// channels); and `window.playout` = { page, channels (the last JSON answer), updatedAt (ms
// since the epoch of that answer), error (the last fetch's failure, or null) }.

import { node } from './dom.js';

const PAGE = document.body.dataset.page === 'picker' ? 'picker' : 'list';
const CHANNELS_URL = '/api/v1/channels';
const REFRESH_MS = 2000;
/** A fetch with no answer in this long has failed (the next one starts 2 s later). */
const TIMEOUT_MS = 5000;

/** A state in words, and the mark shown before them (not colour alone). */
const STATES = {
  starting: { text: 'Starting', mark: '◌' },
  on_air: { text: 'On air', mark: '●' },
  restarting: { text: 'Restarting', mark: '↻' },
  failed: { text: 'Failed', mark: '✕' },
  stopped: { text: 'Stopped', mark: '■' },
};
/** What is on air, by kind, in words; `live` is shown as the LIVE badge instead. */
const KINDS = { item: '', slate: 'Slate', event: 'Event' };

const $ = (id) => document.getElementById(id);
const ui = {
  heading: $('heading'),
  list: document.querySelector('[data-testid="channels"]'),
  error: document.querySelector('[data-testid="channels-error"]'),
  empty: document.querySelector('[data-testid="empty"]'),
  updated: $('updated'),
  announce: $('announce'),
};

const playout = { page: PAGE, channels: null, updatedAt: null, error: null };
window.playout = playout;

// ---- Small helpers -------------------------------------------------------------------------

function setText(e, text) {
  if (e.textContent !== text) e.textContent = text;
}

function setAttr(e, name, value) {
  if (e.getAttribute(name) !== value) e.setAttribute(name, value);
}

const sr = (text) => node('span', { class: 'sr-only' }, text);

const timeFmt = new Intl.DateTimeFormat(undefined, {
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});
const dateTimeFmt = new Intl.DateTimeFormat(undefined, {
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
});

/** A time of today as hh:mm:ss, another day's with its date. */
function when(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const today = new Date().toDateString() === d.toDateString();
  return (today ? timeFmt : dateTimeFmt).format(d);
}

// ---- A channel's row -------------------------------------------------------------------------

/** The rows shown, by channel id, each with the parts a refresh updates. */
const rows = new Map();
let rowCount = 0;

function makeRow(id) {
  const n = ++rowCount;
  const p = {};
  p.name = node('span', { class: 'name', dataset: { testid: 'name' } });
  p.id = node('code', { class: 'id' });
  p.mark = node('span', { class: 'mark', 'aria-hidden': 'true' });
  p.state = node('span', { class: 'state-text', dataset: { testid: 'state' } });
  p.title = node('strong', { class: 'title', dataset: { testid: 'title' } });
  p.unknown = node('span', { class: 'unknown' }, 'not known yet');
  p.kind = node('span', { class: 'kind' });
  p.live = node('span', { class: 'badge live', dataset: { testid: 'live' } }, 'LIVE');
  p.since = node('span', { class: 'since' });
  p.restarts = node('span', { class: 'restarts' });
  p.pid = node('span', { class: 'pid' });
  p.nohls = node('span', { class: 'nohls' }, 'no HLS output');
  p.error = node('pre', { class: 'error', id: `ch-${n}-error`, dataset: { testid: 'error' } });
  p.watch = node('a', { dataset: { testid: 'watch' } }, PAGE === 'picker' ? 'Watch page' : 'Watch');
  p.watchFor = sr('');
  p.watch.append(p.watchFor);
  p.console = node('a', { dataset: { testid: 'console' } });
  p.stateLine = node('p', { class: 'state' }, p.mark, ' ', p.state);

  const heading = node('h2', { id: `ch-${n}` });
  let links;
  if (PAGE === 'picker') {
    // The channel's name is the link to its console.
    p.consoleFor = null;
    p.console.append(p.name, ' ', p.id, sr(': open its console'));
    heading.append(p.console);
    links = node('p', { class: 'links' }, p.watch);
  } else {
    heading.append(p.name, ' ', p.id);
    p.consoleFor = sr('');
    p.console.append('Console', p.consoleFor);
    links = node('p', { class: 'links' }, p.watch, p.console);
  }
  const now = node('p', { class: 'now' }, node('span', { class: 'label' }, 'Now'), ' ');
  now.append(p.title, p.unknown, ' ', p.kind);
  p.now = now;
  const meta = node('p', { class: 'meta' }, p.since, p.restarts, p.pid, p.nohls);
  p.li = node(
    'li',
    { class: 'channel', dataset: { testid: 'channel', id } },
    node('div', { class: 'top' }, heading, p.stateLine),
    now,
    meta,
    links,
  );
  p.lastState = null;
  return p;
}

/** Brings a row up to date with the channel `ch` of the last answer. */
function fill(p, ch) {
  const id = String(ch.id);
  const name = ch.name ? String(ch.name) : id;
  const state = String(ch.state ?? 'unknown');
  const words = STATES[state] ?? { text: state.replace(/_/g, ' '), mark: '?' };
  setAttr(p.li, 'data-state', state);
  setText(p.name, name);
  setText(p.id, id);
  p.id.hidden = name === id;
  setText(p.mark, words.mark);
  setText(p.state, words.text);
  p.stateLine.className = `state state-${/^[a-z_]+$/.test(state) ? state : 'other'}`;

  const on = ch.on_air && typeof ch.on_air === 'object' ? ch.on_air : null;
  const title = on?.title != null ? String(on.title) : '';
  setText(p.title, title);
  p.title.hidden = !title;
  p.unknown.hidden = !!title;
  const kind = on?.kind != null ? String(on.kind) : '';
  if (kind) setAttr(p.li, 'data-kind', kind);
  else p.li.removeAttribute('data-kind');
  // The LIVE badge is there only while a live input is on air.
  if (kind === 'live') {
    if (!p.live.isConnected) p.now.append(p.live);
  } else {
    p.live.remove();
  }
  setText(p.kind, kind === 'live' ? '' : (KINDS[kind] ?? kind));
  p.kind.hidden = !p.kind.textContent;

  setText(p.since, ch.since ? `${words.text} since ${when(ch.since)}` : '');
  p.since.hidden = !ch.since;
  const restarts = Number(ch.restarts) || 0;
  setText(p.restarts, restarts === 1 ? '1 restart' : `${restarts} restarts`);
  p.restarts.classList.toggle('some', restarts > 0);
  setText(p.pid, ch.pid != null ? `pid ${ch.pid}` : '');
  p.pid.hidden = ch.pid == null;
  p.nohls.hidden = ch.hls !== null;

  // The error (several lines, maybe) only while there is one.
  const error = ch.error != null && String(ch.error).trim() ? String(ch.error) : '';
  setText(p.error, error);
  if (error && !p.error.isConnected) {
    p.li.insertBefore(p.error, p.li.querySelector('.links'));
  } else if (!error) {
    p.error.remove();
  }
  if (error) setAttr(p.li, 'aria-describedby', p.error.id);
  else p.li.removeAttribute('aria-describedby');

  const watch = ch.watch ? String(ch.watch) : `/c/${encodeURIComponent(id)}/`;
  const consoleUrl = ch.console ? String(ch.console) : `/c/${encodeURIComponent(id)}/console`;
  setAttr(p.watch, 'href', watch);
  setAttr(p.console, 'href', consoleUrl);
  setText(p.watchFor, `: ${name}`);
  if (p.consoleFor) setText(p.consoleFor, `: ${name}`);

  // A change of state is said to screen readers; the first look is not a change.
  if (p.lastState !== null && p.lastState !== state) say(`${name}: ${words.text}.`);
  p.lastState = state;
}

function say(text) {
  ui.announce.textContent = ui.announce.textContent === text ? `${text} ` : text;
}

// ---- The list ----------------------------------------------------------------------------------

/** Shows `channels` in their order, updating the rows there are; keeps the keyboard in place. */
function render(channels) {
  const focused = document.activeElement;
  const focusedRow = ui.list.contains(focused) ? focused.closest('li.channel') : null;
  const shown = [];
  const seen = new Set();
  for (const ch of channels) {
    const id = String(ch?.id ?? '');
    if (id && !seen.has(id)) {
      seen.add(id);
      shown.push([id, ch]);
    }
  }
  // The rows of channels no longer listed go first, so that the others need not move. The
  // keyboard, if in one of them, goes to the nearest row that stays (or the heading).
  const stays = (li) => li && seen.has(li.dataset.id);
  let refuge = null;
  if (focusedRow && !stays(focusedRow)) {
    let next = focusedRow.nextElementSibling;
    while (next && !stays(next)) next = next.nextElementSibling;
    let prev = focusedRow.previousElementSibling;
    while (prev && !stays(prev)) prev = prev.previousElementSibling;
    refuge = next ?? prev;
  }
  for (const [id, p] of rows) {
    if (seen.has(id)) continue;
    p.li.remove();
    rows.delete(id);
    say(`${p.name.textContent} is no longer on the list.`);
  }
  let at = ui.list.firstElementChild;
  for (const [id, ch] of shown) {
    let p = rows.get(id);
    if (!p) {
      p = makeRow(id);
      rows.set(id, p);
    }
    fill(p, ch);
    // Moved only when out of place: moving the row the keyboard is in would drop its focus.
    if (p.li !== at) ui.list.insertBefore(p.li, at);
    else at = at.nextElementSibling;
  }
  if (focusedRow && document.activeElement !== focused) {
    if (focused.isConnected) focused.focus();
    else (refuge?.querySelector('a') ?? ui.heading).focus();
  }
  ui.empty.hidden = rows.size > 0;
  ui.list.hidden = rows.size === 0;
}

// ---- Fetching ----------------------------------------------------------------------------------

let timer = null;
let loading = false;

async function refresh() {
  clearTimeout(timer);
  if (loading) return;
  if (document.hidden) {
    timer = setTimeout(refresh, REFRESH_MS);
    return;
  }
  loading = true;
  const ctl = new AbortController();
  const limit = setTimeout(() => ctl.abort(), TIMEOUT_MS);
  try {
    let r;
    try {
      r = await fetch(CHANNELS_URL, {
        cache: 'no-store',
        headers: { Accept: 'application/json' },
        signal: ctl.signal,
      });
    } catch (e) {
      throw new Error(
        ctl.signal.aborted
          ? `no answer within ${TIMEOUT_MS / 1000} s`
          : `the host did not answer (${e.message})`,
      );
    }
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    const json = await r.json().catch(() => null);
    if (!Array.isArray(json?.channels)) throw new Error('the answer is not a list of channels');
    render(json.channels);
    playout.channels = json;
    playout.updatedAt = Date.now();
    playout.error = null;
    ui.error.hidden = true;
    setText(ui.error, '');
    ui.list.classList.remove('stale');
    const n = json.channels.length;
    const count = n === 1 ? '1 channel' : `${n} channels`;
    setText(ui.updated, `${count} · updated at ${timeFmt.format(new Date(playout.updatedAt))}`);
  } catch (e) {
    playout.error = e.message;
    const kept = playout.updatedAt
      ? ` The list below is as it was at ${timeFmt.format(new Date(playout.updatedAt))}.`
      : '';
    setText(
      ui.error,
      `The channels could not be loaded: ${e.message}. Trying again every 2 s.${kept}`,
    );
    ui.error.hidden = false;
    ui.list.classList.add('stale');
    if (!playout.updatedAt) setText(ui.updated, '');
  } finally {
    clearTimeout(limit);
    loading = false;
    timer = setTimeout(refresh, REFRESH_MS);
  }
}

document.addEventListener('visibilitychange', () => {
  if (!document.hidden) refresh();
});

refresh();

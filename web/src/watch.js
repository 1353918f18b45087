// The watch page: plays the channel's HLS output so that it looks live. No seek bar; the page
// holds the playhead a fixed delay behind the server's clock (by program-date-time, with a
// gentle playback-rate correction, and a jump when far off), so that every viewer sees the
// same moment. The title and what comes next are those of the instant on screen.
//
// Query parameters: `delay=SECONDS` (default 5), `src=URL` (default /hls/index.m3u8, or
// /c/ID/hls/index.m3u8 for a channel of a host: see base.js, as for the API). `src=A,B`
// (comma-separated) gives two origins of one channel in lockstep, and a `src` that is a
// multivariant playlist whose variants are all the same stream (redundant streams) gives
// its variants: the page plays from one and goes on from the other when it fails (see
// "Two origins" below).
// Test hooks: data-testid="live|title|next|guide|unmute|reconnecting|error|origin", and
// `window.playout` (see the end of this file).
// The light build: no subtitles, alternate audio or DRM, none of which the channel has.
import Hls from 'hls.js/light';
import { BASE } from './base.js';

const query = new URLSearchParams(location.search);
const DELAY_MS = Math.round(clamp(Number(query.get('delay') ?? 5) || 5, 1, 30) * 1000);
const SOURCES = (query.get('src') || `${BASE}/hls/index.m3u8`)
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const SRC = SOURCES[0] ?? `${BASE}/hls/index.m3u8`;
const API = `${BASE}/api/v1`;

/** Closer than this to the target delay counts as live. */
const LIVE_MS = 1000;
/** Further than this from the target, jump instead of easing in. */
const JUMP_MS = 3000;
/** Playback rate stays within 1 ± this. */
const MAX_RATE_STEP = 0.1;
/** An error of this many ms gives the full rate step (so small errors fade in ~5 s). */
const RATE_GAIN_MS = 500;
/** Until the page first lands this close to its target, it jumps rather than eases. */
const LOCK_MS = 200;
/** No progress for this long while meant to play is a stall. */
const STALL_MS = 1000;
/** Off live for this long while meant to play: the player starts over from the live edge. */
const RESET_MS = 12000;
/**
 * With two origins, a request that has had no answer for this long is made on the other
 * origin (a playlist that has not fully come in this long after its answer began, too). At
 * its 5 s delay the page holds 3 to 5 s of stream ahead of the picture: a hung origin costs
 * this much of it.
 */
const FAILOVER_FIRST_BYTE_MS = 2000;
/** With two origins, a segment not fully loaded in this long is loaded from the other. */
const FAILOVER_FRAGMENT_MS = 4000;

/** The last things the player went through (errors, jumps, restarts), for `window.playout`. */
const events = [];
function note(what, detail) {
  events.push({ at: new Date().toISOString(), what, detail });
  if (events.length > 50) events.shift();
}

const el = (id) => document.querySelector(`[data-testid="${id}"]`);
const video = document.getElementById('video');
const ui = {
  channel: document.getElementById('channel'),
  live: el('live'),
  title: el('title'),
  next: el('next'),
  guide: el('guide'),
  more: document.querySelector('.guide .more'),
  unmute: el('unmute'),
  reconnecting: el('reconnecting'),
  error: el('error'),
  origin: el('origin'),
};

function clamp(x, lo, hi) {
  return Math.min(hi, Math.max(lo, x));
}

async function getJson(url) {
  const r = await fetch(url, { cache: 'no-store' });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

// ---- The server's clock ---------------------------------------------------------------------
// offset = server - local, from the quickest of a few round trips (the midpoint of the
// fastest is the best estimate); measured again every minute.

const clock = { offset: 0, known: false };

async function syncClock() {
  let best = null;
  for (let i = 0; i < 3; i++) {
    try {
      const t0 = performance.now();
      const j = await getJson(`${api()}/now`);
      const t1 = performance.now();
      const local = performance.timeOrigin + (t0 + t1) / 2;
      if (!best || t1 - t0 < best.rtt) best = { rtt: t1 - t0, offset: j.server_time_ms - local };
      if (j.channel) showChannel(j.channel);
    } catch {
      // The server is away (a restart): keep the last offset.
    }
  }
  if (best) {
    clock.offset = best.offset;
    clock.known = true;
  }
}

const serverNow = () => Date.now() + clock.offset;

function showChannel(name) {
  if (ui.channel.textContent !== name) {
    ui.channel.textContent = name;
    document.title = `${name} · Live`;
  }
}

// ---- Two origins -------------------------------------------------------------------------------
// `src=A,B`: two origins of one channel in lockstep (the same channel file with `anchor:` on
// two machines), whose playlists and segments have the same names and the same contents. Every
// request hls.js makes goes to the origin in use; one that fails there, or has no answer
// within FAILOVER_FIRST_BYTE_MS, is made again at once on the other, and the origin that
// answered is the one in use from then on (until it fails in turn: back to the first, if it
// is back). The segments being interchangeable, the buffer goes on filling from the other
// origin and the picture does not stop; the program-date-times being the same, neither does
// the delay change. A multivariant playlist whose variants are all the same stream (the same
// attributes, only the URI differs: redundant streams) is taken the same way: hls.js is
// given its first variant, and the variants are the origins. The API (the clock, what is on,
// the guide) is asked of the origin in use when its URL is a channel's `…/hls/…index.m3u8`.
// The multivariant playlist itself is loaded from where it is (at a restart of the player).
// Only with hls.js: a browser without MSE plays the first `src`, with no failover.

const origins = {
  /** The origins' playlist URLs (absolute); fewer than two: no failover. */
  urls: [],
  /** The folder of each, which its segment URLs start with. */
  bases: [],
  /** The API of each: where its channel answers, or this page's own. */
  apis: [],
  /** The URL of the multivariant playlist they came from, if they did. */
  manifest: null,
  /** The one in use: the last that answered. */
  active: 0,
  switches: 0,
  /** Why each last failed. */
  failures: [],
};

function setOrigins(urls, manifest = null) {
  const abs = urls.map((u) => new URL(u, location.href).href);
  const same = abs.length === origins.urls.length && abs.every((u, i) => u === origins.urls[i]);
  if (same) return;
  origins.urls = abs;
  origins.bases = abs.map((u) => new URL('.', u).href);
  origins.apis = abs.map((u) => {
    const m = /^(.*)\/hls\/(?:[^/]+\/)?index\.m3u8$/.exec(new URL(u).pathname);
    return m ? `${new URL(u).origin}${m[1]}/api/v1` : API;
  });
  origins.manifest = manifest;
  origins.active = 0;
  origins.failures = abs.map(() => null);
  showOrigin();
}

const failingOver = () => origins.urls.length > 1;

/** Where the API is: the origin in use's with two origins, else this page's. */
function api() {
  return failingOver() ? origins.apis[origins.active] : API;
}

/** `url` (of any origin) on origin `i`: the same path under its folder. */
function onOrigin(url, i) {
  const j = origins.urls.indexOf(url);
  if (j >= 0) return origins.urls[i];
  let from = -1;
  origins.bases.forEach((b, k) => {
    if (url.startsWith(b) && (from < 0 || b.length > origins.bases[from].length)) from = k;
  });
  return from < 0 ? url : origins.bases[i] + url.slice(origins.bases[from].length);
}

function originFailed(i, why) {
  origins.failures[i] = { at: new Date().toISOString(), why };
}

function originAnswered(i) {
  if (i === origins.active) return;
  const from = origins.active;
  origins.active = i;
  origins.switches++;
  const why = origins.failures[from]?.why ?? '?';
  note('failover', `${origins.urls[from]} → ${origins.urls[i]} (${why})`);
  showOrigin(from);
  // The clock of the origin now in use (the same within milliseconds: both keep time).
  syncClock();
}

const hostOf = (url) => new URL(url).host;

/** Says which origin the page plays from (a polite live region: a switch is announced). */
function showOrigin(from = null) {
  if (!ui.origin) return;
  if (!failingOver()) {
    ui.origin.hidden = true;
    return;
  }
  const i = origins.active;
  const others = origins.urls.filter((_, k) => k !== i).map(hostOf);
  ui.origin.dataset.origin = String(i);
  ui.origin.dataset.url = origins.urls[i];
  ui.origin.textContent =
    from === null
      ? `Playing from ${hostOf(origins.urls[i])}; ${others.join(', ')} ` +
        `${others.length > 1 ? 'stand' : 'stands'} by.`
      : `${hostOf(origins.urls[from])} stopped answering: playing on from ` +
        `${hostOf(origins.urls[i])} since ${clockTime(Date.now(), true)}.`;
  ui.origin.hidden = false;
}

/**
 * A multivariant playlist's variants, if there are two or more and all are the same stream
 * (the same attributes but PATHWAY-ID, different URIs): `{ urls, text }`, `text` the playlist
 * with its first variant only. Else null.
 */
function redundantVariants(text, base) {
  if (typeof text !== 'string' || !text.startsWith('#EXTM3U')) return null;
  const lines = text.split(/\r?\n/);
  const variants = [];
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].startsWith('#EXT-X-STREAM-INF:')) continue;
    let j = i + 1;
    while (j < lines.length && (!lines[j].trim() || lines[j].startsWith('#'))) j++;
    if (j >= lines.length) break;
    const attrs = lines[i]
      .slice('#EXT-X-STREAM-INF:'.length)
      .replace(/PATHWAY-ID="[^"]*",?/, '')
      .replace(/,$/, '');
    variants.push({ attrs, url: new URL(lines[j].trim(), base).href, from: i, to: j });
    i = j;
  }
  if (variants.length < 2 || variants.some((v) => v.attrs !== variants[0].attrs)) return null;
  const urls = [...new Set(variants.map((v) => v.url))];
  if (urls.length < 2) return null;
  const drop = new Set();
  for (const v of variants.slice(1)) for (let k = v.from; k <= v.to; k++) drop.add(k);
  return { urls, text: lines.filter((_, k) => !drop.has(k)).join('\n') };
}

/** A load policy with the short timeouts of the failover, and no retries on one origin. */
function quickPolicy(policy, fragment) {
  return {
    ...policy,
    maxTimeToFirstByteMs: Math.min(policy.maxTimeToFirstByteMs, FAILOVER_FIRST_BYTE_MS),
    maxLoadTimeMs: Math.min(
      policy.maxLoadTimeMs,
      fragment ? FAILOVER_FRAGMENT_MS : FAILOVER_FIRST_BYTE_MS,
    ),
    timeoutRetry: null,
    errorRetry: null,
  };
}

/**
 * hls.js's loader (`config.loader`) over the origins: the default loader (XHR), made on the
 * origin in use and, if it fails, on each other origin in turn; hls.js hears of a failure only
 * when every origin failed (and then retries as usual). With one origin it is the default
 * loader as it is, but for a multivariant playlist of redundant streams, which it takes apart.
 */
class FailoverLoader {
  constructor(config) {
    this.hlsConfig = config;
    this.inner = new Hls.DefaultConfig.loader(config);
    // hls.js keeps this object as the load's statistics (frag.stats): every attempt fills it.
    this.stats = this.inner.stats;
    this.context = null;
    this.done = false;
  }

  load(context, config, callbacks) {
    this.context = context;
    this.config = config;
    this.callbacks = callbacks;
    const manifest = context.type === 'manifest';
    if (!failingOver() || (manifest && context.url === origins.manifest)) {
      this.inner.load(context, config, manifest ? this.manifestCallbacks(callbacks) : callbacks);
      return;
    }
    this.url = context.url;
    this.order = origins.urls.map((_, k) => (origins.active + k) % origins.urls.length);
    this.attempt(0);
  }

  /** A manifest's callbacks: a multivariant playlist of redundant streams sets the origins. */
  manifestCallbacks(callbacks) {
    return {
      ...callbacks,
      onSuccess: (response, stats, context, details) => {
        const found = redundantVariants(response.data, response.url || context.url);
        if (found) {
          setOrigins(found.urls, context.url);
          response = { ...response, data: found.text };
        }
        callbacks.onSuccess(response, stats, context, details);
      },
    };
  }

  attempt(n) {
    const i = this.order[n];
    let inner = this.inner;
    if (n > 0) {
      // A fresh loader for the next origin, filling the same statistics.
      const old = inner;
      old.stats = new this.stats.constructor();
      old.destroy();
      inner = this.inner = new Hls.DefaultConfig.loader(this.hlsConfig);
      const s = this.stats;
      s.loading.start = s.loading.first = s.loading.end = 0;
      s.loaded = s.total = s.chunkCount = s.bwEstimate = 0;
      s.aborted = false;
      inner.stats = s;
    }
    const cb = this.callbacks;
    const ctx = this.context;
    const fragment = !ctx.type;
    const context = { ...ctx, url: onOrigin(this.url, i) };
    const config = { ...this.config, loadPolicy: quickPolicy(this.config.loadPolicy, fragment) };
    const next = (why, giveUp) => {
      if (this.done || inner !== this.inner) return;
      originFailed(i, `${why}: ${context.url}`);
      if (n + 1 < this.order.length) {
        this.attempt(n + 1);
      } else {
        giveUp();
      }
    };
    inner.load(context, config, {
      onSuccess: (response, stats, _c, details) => {
        // Only an answer after a failure moves the page: a slow answer from the origin it
        // has just left does not take it back.
        if (n > 0) originAnswered(i);
        cb.onSuccess(response, stats, ctx, details);
      },
      onError: (error, _c, details, stats) =>
        next(error.code ? `HTTP ${error.code}` : 'no answer', () =>
          cb.onError(error, ctx, details, stats),
        ),
      onTimeout: (stats, _c, details) => next('timeout', () => cb.onTimeout(stats, ctx, details)),
      onAbort: cb.onAbort && ((stats, _c, details) => cb.onAbort(stats, ctx, details)),
      onProgress:
        cb.onProgress && ((stats, _c, data, details) => cb.onProgress(stats, ctx, data, details)),
    });
  }

  abort() {
    this.inner?.abort();
  }

  destroy() {
    this.done = true;
    this.inner?.destroy();
    this.inner = null;
    this.callbacks = null;
  }

  getCacheAge() {
    return this.inner?.getCacheAge?.() ?? null;
  }

  getResponseHeader(name) {
    return this.inner?.getResponseHeader?.(name) ?? null;
  }
}

if (SOURCES.length > 1) setOrigins(SOURCES);

// ---- The player -------------------------------------------------------------------------------

let hls = null;
let retryMs = 1000;
let recovering = false;

/** The program-date-time (ms since the epoch) of the frame on screen, or null. */
function playingDate() {
  if (hls) {
    const d = hls.playingDate;
    return d ? d.getTime() : null;
  }
  const start = video.getStartDate?.();
  if (start && !Number.isNaN(start.getTime()) && video.currentTime > 0) {
    return start.getTime() + video.currentTime * 1000;
  }
  return null;
}

function startHls() {
  hls = new Hls({
    // Start near the target delay; the control loop below does the rest.
    liveSyncDuration: Math.max(1, DELAY_MS / 1000 - 1),
    liveMaxLatencyDuration: DELAY_MS / 1000 + 8,
    maxLiveSyncPlaybackRate: 1,
    lowLatencyMode: false,
    backBufferLength: 10,
    enableWorker: true,
    // The default loader, over two origins when there are (see "Two origins").
    loader: FailoverLoader,
  });
  hls.on(Hls.Events.MANIFEST_PARSED, () => {
    retryMs = 1000;
    play();
  });
  hls.on(Hls.Events.FRAG_BUFFERED, () => {
    retryMs = 1000;
    recovering = false;
  });
  hls.on(Hls.Events.ERROR, (_e, data) => {
    note(data.fatal ? 'fatal error' : 'error', `${data.type}: ${data.details}`);
    if (!data.fatal) return;
    // A fatal error is a server that went away or a broken stream: say so and start again,
    // without losing the page. The viewer sees "Reconnecting…", never an error.
    recovering = true;
    if (data.type === Hls.ErrorTypes.MEDIA_ERROR && !data.recovered) {
      data.recovered = true;
      hls.recoverMediaError();
      return;
    }
    hls.destroy();
    hls = null;
    setTimeout(startHls, retryMs);
    retryMs = Math.min(retryMs * 2, 8000);
  });
  hls.loadSource(SRC);
  hls.attachMedia(video);
}

function play() {
  const p = video.play();
  if (p) {
    p.then(showMute, () => {
      // Autoplay refused even muted: the button starts it.
      ui.unmute.textContent = 'Play';
    });
  }
}

function showMute() {
  ui.unmute.textContent = video.muted ? 'Unmute' : 'Mute';
  ui.unmute.setAttribute('aria-pressed', String(!video.muted));
}

ui.unmute.addEventListener('click', () => {
  if (video.paused) {
    video.muted = false;
    play();
  } else {
    video.muted = !video.muted;
  }
  showMute();
});
video.addEventListener('volumechange', showMute);

// ---- Holding the delay ---------------------------------------------------------------------

const state = {
  live: false,
  lastLive: 0,
  lastReset: 0,
  lastRound: 0,
  locked: false,
  stalled: false,
  lastTime: -1,
  lastAdvance: 0,
  lastJump: 0,
  error: null,
};

function hold() {
  const now = performance.now();
  if (video.currentTime !== state.lastTime) {
    state.lastTime = video.currentTime;
    state.lastAdvance = now;
  }
  const wanted = !video.paused || recovering;
  state.stalled = wanted && now - state.lastAdvance > STALL_MS;
  ui.reconnecting.hidden = !(state.stalled || recovering);

  const pd = playingDate();
  state.error = null;
  if (pd !== null && clock.known && !video.paused && !state.stalled) {
    // > 0: the picture is behind where it should be.
    const err = serverNow() - pd - DELAY_MS;
    state.error = err;
    if (Math.abs(err) < LOCK_MS) state.locked = true;
    if (Math.abs(err) > (state.locked ? JUMP_MS : LOCK_MS)) {
      jump(err, now);
    } else {
      const rate = Math.abs(err) < 30 ? 1 : 1 + clamp(err / RATE_GAIN_MS, -1, 1) * MAX_RATE_STEP;
      if (Math.abs(video.playbackRate - rate) > 0.004) video.playbackRate = rate;
    }
  } else if (video.playbackRate !== 1) {
    video.playbackRate = 1;
  }
  state.live = state.error !== null && Math.abs(state.error) < LIVE_MS;
  ui.live.hidden = !state.live;
  watchdog(now, wanted);
  showProgramme(pd ?? (clock.known ? serverNow() - DELAY_MS : null));
}

/**
 * Whatever wedged the player (a buffer hls.js cannot get out of after the browser was
 * starved), a page meant to be playing that has run for `RESET_MS` without being live
 * starts over from the live edge, as after a reconnect.
 */
function watchdog(now, wanted) {
  // A page that did not run for a while (the browser stopped) has not been failing: its
  // clock starts again, and the jumps above get their chance first.
  const ran = now - state.lastRound < 1000;
  state.lastRound = now;
  if (state.live || !wanted || !hls || !ran) {
    state.lastLive = now;
    return;
  }
  if (now - state.lastLive > RESET_MS && now - state.lastReset > RESET_MS) {
    state.lastReset = now;
    state.locked = false;
    note('restart', `not live for ${Math.round(now - state.lastLive)} ms (error ${state.error} ms)`);
    hls.destroy();
    hls = null;
    startHls();
  }
}

function jump(err, now) {
  if (now - state.lastJump < (state.locked ? 2000 : 500) || video.seeking) return;
  const s = video.seekable;
  if (!s.length) return;
  const target = clamp(video.currentTime + err / 1000, s.start(0), s.end(s.length - 1) - 0.5);
  if (Math.abs(target - video.currentTime) > 0.05) {
    state.lastJump = now;
    note('jump', `${Math.round(err)} ms off: ${video.currentTime.toFixed(2)} → ${target.toFixed(2)}`);
    video.currentTime = target;
  }
}

// ---- What is on screen, and what comes next -------------------------------------------------

/**
 * The programmes around the instant on screen, from `/api/v1/now?at=`. An answer is good for
 * every instant before the server time it was given at (`validUntil`): the channel makes its
 * stream ahead of the clock, so no change made later (an edit, a skip) can reach an earlier
 * moment. The page shows moments a few seconds old, so it asks again every few seconds, and
 * what it shows is always what the channel played.
 */
let lineup = { validUntil: 0, items: [], pending: false };

async function fetchLineup(at) {
  lineup.pending = true;
  try {
    const j = await getJson(`${api()}/now?at=${encodeURIComponent(new Date(at).toISOString())}`);
    const c = j.current;
    const start = Date.parse(c.started_at);
    const items = [{ title: c.title, kind: c.kind, start, end: start + c.duration_seconds * 1000 }];
    for (const n of j.next) {
      const s = Date.parse(n.start);
      items.push({ title: n.title, kind: n.kind, start: s, end: s + n.duration_seconds * 1000 });
    }
    lineup = { validUntil: j.server_time_ms, items, pending: false };
    if (j.channel) showChannel(j.channel);
  } catch {
    lineup.pending = false;
  }
}

function showProgramme(at) {
  if (at === null) return;
  const i = lineup.items.findIndex((p) => p.start <= at && at < p.end);
  const stale = at >= lineup.validUntil;
  if ((i < 0 || i + 1 >= lineup.items.length || stale) && !lineup.pending) fetchLineup(at);
  if (i < 0) return;
  const cur = lineup.items[i];
  const next = lineup.items[i + 1];
  setText(ui.title, cur.title);
  ui.title.dataset.start = new Date(cur.start).toISOString();
  setText(ui.next, next ? `${next.title} · ${clockTime(next.start, true)}` : '…');
  markGuide(at);
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

const short = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const long = new Intl.DateTimeFormat(undefined, {
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});
const clockTime = (ms, seconds = false) => (seconds ? long : short).format(new Date(ms));

// ---- The programme guide (next 24 h) ---------------------------------------------------------

const GUIDE_ROWS = 200;
let guide = [];

async function loadGuide() {
  try {
    // From the moment on screen, a little before the server's now.
    const from = new Date(serverNow() - DELAY_MS - 1000).toISOString();
    const ps = await getJson(`${api()}/schedule?from=${encodeURIComponent(from)}`);
    guide = ps.map((p) => ({ ...p, startMs: Date.parse(p.start), stopMs: Date.parse(p.stop) }));
    const frag = document.createDocumentFragment();
    for (const p of guide.slice(0, GUIDE_ROWS)) {
      const li = document.createElement('li');
      const t = document.createElement('time');
      t.dateTime = p.start;
      t.textContent = clockTime(p.startMs);
      const title = document.createElement('span');
      title.textContent = p.title;
      li.append(t, title);
      if (p.kind !== 'item') {
        const k = document.createElement('span');
        k.className = 'kind';
        k.textContent = p.kind;
        li.append(k);
      }
      frag.append(li);
    }
    ui.guide.replaceChildren(frag);
    const rest = guide.length - GUIDE_ROWS;
    ui.more.hidden = rest <= 0;
    ui.more.textContent = rest > 0 ? `and ${rest} more in the next 24 hours` : '';
    marked = -1;
  } catch {
    // Kept as it was; tried again on the next round.
  }
}

let marked = -1;
function markGuide(at) {
  let i = guide.findIndex((p) => p.startMs <= at && at < p.stopMs);
  if (i > 0) {
    // What has ended leaves the guide; the programme on screen is its first row.
    for (const row of [...ui.guide.children].slice(0, i)) row.remove();
    guide = guide.slice(i);
    marked -= i;
    i = 0;
  }
  if (i === marked) return;
  ui.guide.children[marked]?.removeAttribute('aria-current');
  ui.guide.children[i]?.setAttribute('aria-current', 'true');
  marked = i;
}

// ---- Start ------------------------------------------------------------------------------------

function start() {
  if (Hls.isSupported()) {
    startHls();
  } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
    video.src = SRC;
    video.addEventListener('loadedmetadata', play, { once: true });
  } else {
    ui.error.textContent = 'This browser cannot play the stream (it has neither MSE nor HLS).';
    ui.error.hidden = false;
    return;
  }
  syncClock();
  setInterval(syncClock, 60000);
  loadGuide();
  setInterval(loadGuide, 60000);
  setInterval(hold, 200);
}

window.playout = {
  get hls() {
    return hls;
  },
  video,
  delayMs: DELAY_MS,
  playingDate,
  serverNow,
  /** What the page decided on its last round: live, stalled, and the error from the target. */
  status: () => ({
    live: state.live,
    locked: state.locked,
    stalled: state.stalled,
    error: state.error,
    recovering,
  }),
  /** The player's last errors, jumps, restarts and failovers. */
  events,
  /** With two origins: the one in use (`index` into `sources`), and how often it changed. */
  get origin() {
    if (!failingOver()) return null;
    return {
      index: origins.active,
      url: origins.urls[origins.active],
      sources: [...origins.urls],
      switches: origins.switches,
      failures: [...origins.failures],
    };
  },
};

start();

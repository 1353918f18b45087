// The watch page: plays the channel's HLS output so that it looks live. No seek bar; the page
// holds the playhead a fixed delay behind the server's clock (by program-date-time, with a
// gentle playback-rate correction, and a jump when far off), so that every viewer sees the
// same moment. The title and what comes next are those of the instant on screen.
//
// Query parameters: `delay=SECONDS` (default 5), `src=URL` (default /hls/index.m3u8).
// Test hooks: data-testid="live|title|next|guide|unmute|reconnecting|error", and
// `window.playout` (see the end of this file).
// The light build: no subtitles, alternate audio or DRM, none of which the channel has.
import Hls from 'hls.js/light';

const query = new URLSearchParams(location.search);
const DELAY_MS = Math.round(clamp(Number(query.get('delay') ?? 5) || 5, 1, 30) * 1000);
const SRC = query.get('src') || '/hls/index.m3u8';
const API = '/api/v1';

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
      const j = await getJson(`${API}/now`);
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
    const j = await getJson(`${API}/now?at=${encodeURIComponent(new Date(at).toISOString())}`);
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
    const ps = await getJson(`${API}/schedule?from=${encodeURIComponent(from)}`);
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
  /** The player's last errors, jumps and restarts. */
  events,
};

start();

// Where the channel's pages are served from. A channel run by itself (`playout run
// FILE.channel.yaml`) serves them at the root: its watch page at /, its console at /console,
// its API at /api/v1 and its HLS at /hls. A host (`playout run DIR`) serves each of its
// channels under /c/ID: the watch page at /c/ID/, the console at /c/ID/console, the API at
// /c/ID/api/v1 and the HLS at /c/ID/hls. Every link the pages make to their channel starts
// with `BASE`: '' at the root (exactly the paths of a single channel), '/c/ID' under a host.
// The static files (/watch.js, /console.css, ...) stay at the root either way.

/** The `/c/ID` a path starts with ('' if none); ID as the host spells channel ids. */
export function basePath(pathname) {
  const m = /^\/c\/[a-z0-9][a-z0-9-]{0,62}(?=\/)/.exec(pathname);
  return m ? m[0] : '';
}

/** This page's base: '' for a single channel, '/c/ID' for a channel of a host. */
export const BASE = basePath(location.pathname);

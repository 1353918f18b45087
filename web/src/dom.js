// Building the pages' elements, shared by the console and the channel list.

/**
 * An element `tag` with `props` (`class`, `dataset`, `aria-*` and `role` as attributes, the
 * rest as properties) and the children that are not null, undefined or false.
 */
export function node(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k === 'class') e.className = v;
    else if (k.startsWith('aria-') || k === 'role') e.setAttribute(k, v);
    else e[k] = v;
  }
  e.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return e;
}

// Routing by the History API: every view's state is in its URL (path and query), so any
// view can be shared as a link and the back button walks through views.
import { useEffect, useState } from 'preact/hooks';

const listeners = new Set();

function current() {
  return { path: location.pathname, params: new URLSearchParams(location.search) };
}

function notify() {
  const route = current();
  listeners.forEach((listener) => listener(route));
}

window.addEventListener('popstate', notify);

export function navigate(url, { replace = false } = {}) {
  if (url === location.pathname + location.search) return;
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  notify();
}

// The current route; re-renders the caller when it changes.
export function useRoute() {
  const [route, setRoute] = useState(current);
  useEffect(() => {
    listeners.add(setRoute);
    return () => listeners.delete(setRoute);
  }, []);
  return route;
}

// Changes query parameters of the current path (null or '' removes one); replaces the
// history entry, so typing in a filter does not fill the back button.
export function setParams(changes, { replace = true } = {}) {
  const params = new URLSearchParams(location.search);
  for (const [key, value] of Object.entries(changes)) {
    if (value === null || value === undefined || value === '') params.delete(key);
    else params.set(key, value);
  }
  const search = params.toString();
  navigate(location.pathname + (search ? `?${search}` : ''), { replace });
}

// A click on an in-app link: navigates without a page load (modified clicks open tabs).
export function onLinkClick(event) {
  if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey ||
      event.shiftKey || event.altKey) {
    return;
  }
  const link = event.target.closest('a[href]');
  if (!link || link.target || link.origin !== location.origin || link.hasAttribute('download')) return;
  // Only the hash differs ("Skip to content"): the browser moves there and its focus.
  if (link.hash && link.pathname === location.pathname && link.search === location.search) return;
  event.preventDefault();
  navigate(link.pathname + link.search + link.hash);
}

// The UI's own paths of a run (a sweep has a page of its own) and of a sweep.
export const sweepHref = (id) => `/sweeps/${encodeURIComponent(id)}`;
export function runHref(run, tab) {
  const id = typeof run === 'string' ? run : run.id;
  if (typeof run !== 'string' && run.kind === 'sweep' && !tab) return sweepHref(id);
  return `/runs/${encodeURIComponent(id)}${tab ? `?tab=${tab}` : ''}`;
}

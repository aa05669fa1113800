// Polling that pauses while the tab is hidden (and polls at once when it shows again).
import { useEffect, useRef, useState } from 'preact/hooks';

// Calls load() now and every intervalMs while the page is visible; returns
// {data, error, reload, set}. A load in flight is never overlapped by the next one. `deps`
// restart it (a changed filter loads at once). set(data) shows data the caller already has
// (what an edit returned) until the next load.
export function usePoll(load, intervalMs, deps) {
  const [state, setState] = useState({ data: undefined, error: null });
  const loadRef = useRef(load);
  loadRef.current = load;
  const tick = useRef(() => {});
  useEffect(() => {
    let stopped = false;
    let timer = null;
    let running = false;
    let again = false; // a reload asked for while a load was in flight
    const run = async () => {
      if (stopped) return;
      if (running) {
        again = true;
        return;
      }
      running = true;
      clearTimeout(timer);
      try {
        const data = await loadRef.current();
        if (!stopped) setState({ data, error: null });
      } catch (error) {
        if (!stopped) setState((old) => ({ data: old.data, error }));
      } finally {
        running = false;
        if (again && !stopped) {
          again = false;
          run();
        } else if (!stopped && !document.hidden && intervalMs > 0) {
          timer = setTimeout(run, intervalMs);
        }
      }
    };
    const visibility = () => {
      if (document.hidden) clearTimeout(timer);
      else run();
    };
    tick.current = run;
    setState((old) => ({ data: old.data, error: null }));
    run();
    document.addEventListener('visibilitychange', visibility);
    return () => {
      stopped = true;
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', visibility);
    };
  }, deps);
  return { ...state, reload: () => tick.current(), set: (data) => setState({ data, error: null }) };
}

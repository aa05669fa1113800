// Every run of the server, kept current: read once page by page (GET /v1/runs with keyset
// paging), then refreshed by polling only what can change, the newest page and the runs
// that have not ended. Polling pauses while the tab is hidden. Archived runs are left out,
// as the API leaves them out, unless asked for.
import { useEffect, useRef, useState } from 'preact/hooks';
import { getJson, query, runPath } from './api.js';
import { kTerminal } from './format.js';

// The first page is small, so the table shows at once; the rest come in larger ones.
const kFirstPage = 200;
const kPage = 2000;
const kRefreshMs = 5000;
const kEndedPerRefresh = 50;

async function readAll(archived, onPage, signal) {
  let after = null;
  for (;;) {
    const limit = after ? kPage : kFirstPage;
    const body = await getJson(`/v1/runs${query({ limit, metrics: 'true', after, archived })}`, { signal });
    onPage(body.runs);
    if (!body.next_cursor) return;
    after = body.next_cursor;
  }
}

// {runs: [...] newest first, loading, error}. withArchived: archived runs too
// (?archived=any); a change reads every run again.
export function useAllRuns({ withArchived = false } = {}) {
  const byId = useRef(new Map());
  const [state, setState] = useState({ runs: [], loading: true, error: null });

  useEffect(() => {
    const controller = new AbortController();
    const archived = withArchived ? 'any' : undefined;
    let timer = null;
    let stopped = false;
    byId.current = new Map();
    setState({ runs: [], loading: true, error: null });
    // A run read by its id (one that ended since the last refresh) may be archived.
    const shown = (run) => withArchived || !run.archived_at;
    const publish = (loading) => {
      const runs = [...byId.current.values()].filter(shown).sort((a, b) =>
        a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : a.id < b.id ? 1 : -1);
      setState({ runs, loading, error: null });
    };
    const merge = (runs) => runs.forEach((run) => {
      const old = byId.current.get(run.id);
      byId.current.set(run.id, { ...run, metrics: run.metrics ?? (old && old.metrics) ?? {} });
    });
    let activeIds = new Set();
    // Runs seen active that the last refresh did not read again: read at the next.
    let endedLeft = [];
    // One refresh at a time; none until every page is read.
    let busy = true;
    const refresh = async () => {
      if (stopped || document.hidden || busy) return;
      busy = true;
      clearTimeout(timer);
      try {
        const [newest, active] = await Promise.all([
          getJson(`/v1/runs${query({ limit: 200, metrics: 'true', archived })}`, { signal: controller.signal }),
          getJson(`/v1/runs${query({ active: 'true', metrics: 'true' })}`, { signal: controller.signal }),
        ]);
        merge(newest.runs);
        merge(active.runs);
        // Runs that were active and have ended since: read each once more, to show how
        // (a few dozen a refresh; the rest at the next ones).
        const seen = new Set([...newest.runs, ...active.runs].map((run) => run.id));
        const ended = [...new Set([...endedLeft, ...activeIds])].filter((id) => !seen.has(id));
        const now = ended.slice(0, kEndedPerRefresh);
        endedLeft = ended.slice(kEndedPerRefresh);
        merge(await Promise.all(now.map((id) => getJson(runPath(id), { signal: controller.signal }))));
        activeIds = new Set(active.runs.map((run) => run.id));
        publish(false);
      } catch (error) {
        if (error.name !== 'AbortError') setState((old) => ({ ...old, error }));
      } finally {
        busy = false;
      }
      if (!stopped && !document.hidden) timer = setTimeout(refresh, kRefreshMs);
    };
    const visibility = () => {
      clearTimeout(timer);
      if (!document.hidden) refresh();
    };
    readAll(archived, (runs) => {
      merge(runs);
      runs.forEach((run) => {
        if (!kTerminal.has(run.status)) activeIds.add(run.id);
      });
      publish(true);
    }, controller.signal)
      .then(() => {
        publish(false);
        busy = false;
        timer = setTimeout(refresh, kRefreshMs);
      })
      .catch((error) => {
        if (error.name === 'AbortError') return;
        setState((old) => ({ ...old, loading: false, error }));
        busy = false;
        timer = setTimeout(refresh, kRefreshMs);
      });
    document.addEventListener('visibilitychange', visibility);
    return () => {
      stopped = true;
      controller.abort();
      clearTimeout(timer);
      document.removeEventListener('visibilitychange', visibility);
    };
  }, [withArchived]);
  return state;
}

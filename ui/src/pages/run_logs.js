// A run's logs, every rank merged in time order, live: one stream per page (GET
// /v1/runs/{id}/logs?follow=true), closed while the tab is hidden and taken up again
// from its cursor. Rank colours and filter (?rank=0,1), text search (?find=), jump to the
// first error, follow and pause; virtualized, so a million lines scroll like a hundred.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { html } from '../html.js';
import { query, readEvents, runPath } from '../api.js';
import { setParams } from '../router.js';
import { rankCount } from '../format.js';
import { VirtualList } from '../components/virtual_list.js';
import { LogBuffer, LogView, findAll, firstError } from '../log_buffer.js';

const kRowHeight = 20;
const kResearchLines = 50_000;

function clock(us) {
  const d = new Date(us / 1000);
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

// The stream: lines into `buffer`, tick() after each batch. Resolves to the run's final
// status when the log has ended.
function useLogStream(runId, buffer, tick) {
  const [state, setState] = useState({ ended: null, error: null });
  useEffect(() => {
    let controller = null;
    let cursor = null;
    let ended = false;
    let frame = 0;
    const schedule = () => {
      if (!frame) frame = requestAnimationFrame(() => { frame = 0; tick(); });
    };
    const connect = () => {
      if (ended || controller) return;
      controller = new AbortController();
      const mine = controller;
      // Lines after the last cursor come again: forget those held.
      const length = buffer.discardOpen();
      if (buffer.onTruncate) buffer.onTruncate(length);
      readEvents(runPath(runId, `/logs${query({ follow: 'true', cursor })}`), (name, data, id) => {
        if (name === 'line') {
          const dropped = buffer.push(data, id);
          if (dropped && buffer.onDrop) buffer.onDrop(dropped);
          if (id) cursor = id;
          schedule();
        } else if (name === 'end') {
          ended = data.status !== null;
          if (ended) setState({ ended: data.status, error: null });
        }
      }, mine.signal)
        .catch((error) => {
          if (error.name !== 'AbortError') setState((old) => ({ ...old, error: error.message }));
        })
        .finally(() => {
          if (controller === mine) controller = null;
          // The server stopped (end with no status) or the connection broke: try again.
          if (!ended && !mine.signal.aborted && !document.hidden) setTimeout(connect, 2000);
        });
    };
    const visibility = () => {
      if (document.hidden) {
        if (controller) controller.abort();
        controller = null;
      } else {
        connect();
      }
    };
    connect();
    document.addEventListener('visibilitychange', visibility);
    return () => {
      ended = true;
      if (controller) controller.abort();
      cancelAnimationFrame(frame);
      document.removeEventListener('visibilitychange', visibility);
    };
  }, [runId]);
  return state;
}

export function RunLogs({ run, params }) {
  const ranks = rankCount(run);
  const shownParam = params.get('rank');
  const shown = shownParam === null || shownParam === '' ? null : new Set(shownParam.split(',').map(Number));
  const find = params.get('find') || '';
  const buffer = useMemo(() => new LogBuffer(run.id), [run.id]);
  const view = useRef(null);
  const [, setVersion] = useState(0);
  const [follow, setFollow] = useState(!params.get('find'));
  const [hit, setHit] = useState(-1);
  const [goto, setGoto] = useState(null);
  const [search, setSearch] = useState(find);
  const [note, setNote] = useState('');
  const tick = () => {
    view.current.catchUp();
    setVersion((v) => v + 1);
  };
  buffer.onDrop = (n) => view.current && view.current.shift(n);
  buffer.onTruncate = (length) => view.current && view.current.truncate(length);
  buffer.onChange = () => setVersion((v) => v + 1);
  const stream = useLogStream(run.id, buffer, tick);

  // A new filter: a new view over the same lines.
  const key = shownParam || '';
  if (!view.current || view.current.key !== key || view.current.buffer !== buffer) {
    view.current = new LogView(buffer, shown);
    view.current.key = key;
  }
  const lines = view.current;
  lines.catchUp();

  // Searched again when the text or the filter changes, every kResearchLines new lines while
  // the log grows, and when it ends: never on every batch.
  const grown = Math.floor(lines.length / kResearchLines);
  const { hits, unsearched } = useMemo(() => findAll(lines, find), [find, key, grown, stream.ended]);
  // From the failure cause (or a new search) the view keeps to the last match, where the
  // failing rank's last lines are, until the user moves to another.
  const chosen = useRef(false);
  useEffect(() => {
    if (!find || !hits.length) return;
    const at = chosen.current ? Math.min(hit, hits.length - 1) : hits.length - 1;
    setHit(at);
    setGoto(hits[at]);
    setFollow(false);
  }, [find, hits]);

  const toggleRank = (rank) => {
    const next = new Set(shown || Array.from({ length: ranks }, (_, i) => i));
    if (next.has(rank)) next.delete(rank);
    else next.add(rank);
    setParams({ rank: next.size === ranks ? null : [...next].sort((a, b) => a - b).join(',') || 'none' });
  };
  const step = (delta) => {
    if (!hits.length) return;
    chosen.current = true;
    const at = (hit + delta + hits.length) % hits.length;
    setHit(at);
    setGoto(hits[at]);
    setFollow(false);
  };

  const renderRow = (j, box) => {
    const i = lines.line(j);
    const rank = buffer.ranks[i];
    const text = buffer.text(i);
    const isHit = goto !== null && goto === j;
    return html`
      <div key=${j} class=${`vrow${buffer.isStderr(i) ? ' stderr' : ''}${isHit ? ' current' : ''}`} role="listitem"
           style=${{ top: `${box.top}px`, height: `${box.height}px` }}>
        <span class="time">${clock(buffer.times[i])}</span>
        <span class=${rank < 0 ? 'rank rank-env' : `rank rank-${rank % 8}`}>${rank < 0 ? 'env' : `r${rank}`}</span>
        <span class="text">${text === null ? '…' : text}</span>
      </div>`;
  };

  return html`
    <section aria-label="Logs">
      <div class="chart-controls">
        <fieldset class="row" aria-label="Ranks shown">
          ${Array.from({ length: Math.min(ranks, 64) }, (_, rank) => html`
            <label class="rank-label">
              <input type="checkbox" checked=${!shown || shown.has(rank)} onChange=${() => toggleRank(rank)} /> rank ${rank}
            </label>`)}
        </fieldset>
        <input type="search" data-search placeholder="Find in the log (press /)" aria-label="Find in the log"
               value=${search} onInput=${(e) => setSearch(e.target.value)}
               onKeyDown=${(e) => {
                 if (e.key !== 'Enter') return;
                 chosen.current = true;
                 setHit(0);
                 setParams({ find: search });
               }} />
        <button onClick=${() => step(-1)} disabled=${!hits.length} aria-label="previous match">↑</button>
        <button onClick=${() => step(1)} disabled=${!hits.length} aria-label="next match">↓</button>
        <span class="muted" aria-live="polite">${find ? `${hits.length ? hit + 1 : 0} of ${hits.length}` : ''}${
          find && unsearched ? ` (${unsearched.toLocaleString()} older lines not held: scroll to them to search them)` : ''}</span>
        <button onClick=${() => {
          const at = firstError(lines);
          setNote(at >= 0 ? '' : 'no line looks like an error');
          if (at >= 0) {
            setFollow(false);
            setGoto(at);
          }
        }}>First error</button>
        ${note && html`<span class="muted" role="status">${note}</span>`}
        <button aria-pressed=${follow} onClick=${() => setFollow(!follow)}>${follow ? 'Following' : 'Follow'}</button>
        <span class="muted" aria-live="off">
          ${lines.length.toLocaleString()} lines${buffer.dropped ? ` (the oldest ${buffer.dropped.toLocaleString()} dropped)` : ''}
          ${stream.ended ? ` · run ${stream.ended}` : ' · live'}
        </span>
      </div>
      ${stream.error && html`<p class="error" role="alert">${stream.error}</p>`}
      <${VirtualList} class="logs" count=${lines.length} rowHeight=${kRowHeight} renderRow=${renderRow}
                      follow=${follow} onFollowChange=${(bottom) => { if (!bottom) setFollow(false); }}
                      scrollTo=${goto} label="Log lines" />
    </section>`;
}

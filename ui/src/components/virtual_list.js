// A list that renders only the rows in view (and a few beyond), so 10,000 runs or 1,000,000
// log lines cost what one screenful costs. Rows have one fixed height.
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { html } from '../html.js';

const kOverscan = 8;

// count rows of rowHeight px; renderRow(index) gives each row's element (positioned by the
// list). `follow`: stay at the bottom as rows are added, until the user scrolls up
// (onFollowChange(false)). `scrollTo`: an index to bring into view when it changes.
export function VirtualList({ count, rowHeight, renderRow, class: className, follow = false,
                              onFollowChange, scrollTo, label, role = 'list', header }) {
  const box = useRef(null);
  const [view, setView] = useState({ top: 0, height: 600 });
  const atBottom = useRef(true);

  useLayoutEffect(() => {
    const element = box.current;
    const measure = () => setView({ top: element.scrollTop, height: element.clientHeight });
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(element);
    return () => observer.disconnect();
  }, []);

  useLayoutEffect(() => {
    const element = box.current;
    if (follow && element) {
      // Past the end is clamped to it; reading scrollHeight here would force a layout.
      element.scrollTop = count * rowHeight;
      atBottom.current = true;
    }
  }, [count, follow]);

  useEffect(() => {
    const element = box.current;
    if (scrollTo === null || scrollTo === undefined || !element) return;
    const y = scrollTo * rowHeight;
    if (y < element.scrollTop || y + rowHeight > element.scrollTop + element.clientHeight) {
      element.scrollTop = Math.max(0, y - element.clientHeight / 3);
    }
  }, [scrollTo]);

  const onScroll = () => {
    const element = box.current;
    setView({ top: element.scrollTop, height: element.clientHeight });
    const bottom = element.scrollTop + element.clientHeight >= count * rowHeight - rowHeight;
    if (bottom !== atBottom.current) {
      atBottom.current = bottom;
      if (onFollowChange) onFollowChange(bottom);
    }
  };

  const first = Math.max(0, Math.floor(view.top / rowHeight) - kOverscan);
  const last = Math.min(count, Math.ceil((view.top + view.height) / rowHeight) + kOverscan);
  const rows = [];
  for (let i = first; i < last; i++) rows.push(renderRow(i, { top: i * rowHeight, height: rowHeight }));
  return html`
    <div class=${`vlist ${className || ''}`} ref=${box} onScroll=${onScroll} role=${role}
         aria-label=${label} aria-rowcount=${role === 'table' || role === 'grid' ? count + 1 : undefined}
         tabindex="0">
      ${header}
      <div class="vlist-space" style=${{ height: `${count * rowHeight}px` }} role="presentation">
        ${rows}
      </div>
    </div>`;
}

import { html } from '../html.js';

// A run's status as a badge: colour and text (never colour alone).
export function StatusBadge({ status }) {
  return html`<span class=${`badge status-${(status || '').toLowerCase()}`}>${status}</span>`;
}

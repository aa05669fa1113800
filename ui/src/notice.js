// A short line that one page leaves for the next to show once: what was just done there (a
// run deleted) when the page that did it is gone. Held in memory, not in the URL, so a
// reload, the back button or a shared link never shows it again.

let pending = '';

export function leaveNotice(text) {
  pending = text;
}

// The line left for the page, or ''; taking it clears it.
export function takeNotice() {
  const text = pending;
  pending = '';
  return text;
}

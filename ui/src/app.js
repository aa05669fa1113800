// The frame of every page: who is signed in, the navigation, the page for the URL, and the
// keys that work everywhere.
import { useEffect, useState } from 'preact/hooks';
import { getJson, setToken, token, whenSignedOut } from './api.js';
import { html } from './html.js';
import { navigate, onLinkClick, useRoute } from './router.js';
import { LoginPage } from './pages/login.js';
import { RunsPage } from './pages/runs.js';
import { RunPage } from './pages/run.js';
import { SweepPage } from './pages/sweep.js';
import { ComparePage } from './pages/compare.js';
import { ModelsPage } from './pages/models.js';
import { ComputePage } from './pages/compute.js';

// The page for a path, and its arguments.
function pageFor(path) {
  let m;
  if (path === '/' || path === '/runs' || path === '/runs/') return [RunsPage, {}];
  if ((m = path.match(/^\/runs\/([^/]+)\/?$/))) return [RunPage, { id: decodeURIComponent(m[1]) }];
  if ((m = path.match(/^\/sweeps\/([^/]+)\/?$/))) return [SweepPage, { id: decodeURIComponent(m[1]) }];
  if (path === '/compare') return [ComparePage, {}];
  if ((m = path.match(/^\/models(?:\/([^/]+))?\/?$/))) {
    return [ModelsPage, { name: m[1] ? decodeURIComponent(m[1]) : null }];
  }
  if (path === '/compute') return [ComputePage, {}];
  return [NotFound, { path }];
}

function NotFound({ path }) {
  return html`<main id="main" class="page"><h1>Not found</h1>
    <p>Kiln Studio has no page at <code>${path}</code>. <a href="/runs">Go to the runs</a>.</p></main>`;
}

const kNav = [['/runs', 'Runs'], ['/models', 'Models'], ['/compute', 'Compute']];

export function App() {
  const route = useRoute();
  const [me, setMe] = useState(null);
  const [signedOut, setSignedOut] = useState(token() ? null : '');

  useEffect(() => {
    whenSignedOut((reason) => {
      setMe(null);
      setSignedOut(reason);
    });
  }, []);

  useEffect(() => {
    if (!token()) return;
    getJson('/v1/token').then(setMe).catch(() => {});
  }, [signedOut]);

  useEffect(() => {
    const onKey = (event) => {
      if (event.key !== '/' || event.ctrlKey || event.metaKey || event.altKey) return;
      const target = event.target;
      if (target.closest('input, textarea, select, [contenteditable]')) return;
      const search = document.querySelector('[data-search]');
      if (search) {
        event.preventDefault();
        search.focus();
      }
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);

  if (signedOut !== null || !token()) {
    return html`<${LoginPage} reason=${signedOut} onSignedIn=${(who) => {
      setMe(who);
      setSignedOut(null);
      if (route.path === '/login') navigate('/runs', { replace: true });
    }} />`;
  }

  const [Page, args] = pageFor(route.path === '/login' ? '/runs' : route.path);
  const section = kNav.find(([href]) => route.path.startsWith(href));
  return html`
    <div class="frame" onClick=${onLinkClick}>
      <a class="skip" href="#main">Skip to content</a>
      <header class="top">
        <a class="brand" href="/runs">Kiln Studio</a>
        <nav aria-label="Sections">
          ${kNav.map(([href, label]) => html`
            <a href=${href} aria-current=${section && section[0] === href ? 'page' : undefined}>${label}</a>`)}
        </nav>
        <div class="who">
          ${me && html`<span title="the token you signed in with">${me.name} (${me.role})</span>`}
          <button class="link" onClick=${() => {
            setToken(null);
            setMe(null);
            setSignedOut('');
          }}>Sign out</button>
        </div>
      </header>
      <${Page} key=${route.path} ...${args} params=${route.params} me=${me} />
    </div>`;
}

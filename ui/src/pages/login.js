// Sign in with an API token (kiln server token create, or the one kiln ui prints). The
// token is checked with GET /v1/token and kept in sessionStorage for this tab only.
import { useState } from 'preact/hooks';
import { getJson, setToken } from '../api.js';
import { html } from '../html.js';

export function LoginPage({ reason, onSignedIn }) {
  const [secret, setSecret] = useState('');
  const [error, setError] = useState(reason || '');
  const [busy, setBusy] = useState(false);

  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError('');
    setToken(secret.trim());
    try {
      const who = await getJson('/v1/token');
      onSignedIn(who);
    } catch (e) {
      setToken(null);
      setError(e.message);
    } finally {
      setBusy(false);
    }
  };

  return html`
    <main id="main" class="login">
      <h1>Kiln Studio</h1>
      <form onSubmit=${submit} class="card">
        <label for="token">API token</label>
        <input id="token" type="password" autocomplete="off" spellcheck="false" required
               value=${secret} onInput=${(e) => setSecret(e.target.value)} autofocus />
        <p class="hint">A token from <code>kiln server token create</code>, or the one
          <code>kiln ui</code> printed. It is kept in this tab only, and sent to this server alone.</p>
        ${error && html`<p class="error" role="alert">${error}</p>`}
        <button type="submit" disabled=${busy}>Sign in</button>
      </form>
    </main>`;
}

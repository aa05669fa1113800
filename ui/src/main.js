// Kiln Studio: the web UI of a Kiln server (docs/ui.md).
import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { render } from 'preact';
import { html } from './html.js';
import { App } from './app.js';

render(html`<${App} />`, document.getElementById('app'));

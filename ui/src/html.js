// Preact with htm's tagged templates: components read as HTML without a JSX step.
import { h } from 'preact';
import htm from 'htm';

export const html = htm.bind(h);

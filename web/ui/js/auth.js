// The forms of a hub that asks who you are: logging in, and creating the
// first user with the one-time code from the hub's log. Loaded only when
// needed, so that the home page stays light.

import {h} from './dom.js';
import {api} from './api.js';

// form builds a labelled form; fields are [id, label, type, autocomplete].
function form(main, title, intro, fields, submitText, send) {
  const heading = h('h1', {tabindex: -1}, title);
  const status = h('p', {class: 'form-status', role: 'alert'});
  const inputs = {};
  const rows = fields.map(([id, label, type, autocomplete]) => {
    inputs[id] = h('input', {id: `auth-${id}`, name: id, type, autocomplete, required: true, autocapitalize: 'none', spellcheck: 'false'});
    return [h('label', {for: `auth-${id}`}, label), inputs[id]];
  });
  const button = h('button', {type: 'submit', class: 'button'}, submitText);
  const f = h('form', {class: 'meta-form'}, rows.flat(), h('div', {class: 'form-actions'}, button, status));
  f.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    button.disabled = true;
    status.textContent = '';
    const values = Object.fromEntries(Object.entries(inputs).map(([k, el]) => [k, el.value]));
    try {
      await send(values);
    } catch (e) {
      status.textContent = e.status === 429 ? 'Too many attempts: wait a minute and try again.' : e.message;
      button.disabled = false;
      inputs.password.value = '';
      inputs.password.focus();
    }
  });
  main.replaceChildren(h('section', {class: 'card auth'}, heading, h('p', {}, intro), f));
  document.title = `${title} · Hearth`;
  const first = Object.values(inputs)[0];
  first.focus();
  return heading;
}

/** login shows the login form; done runs once logged in. */
export function login(main, done) {
  form(main, 'Log in', 'This hub asks who you are.', [
    ['name', 'Name', 'text', 'username'],
    ['password', 'Password', 'password', 'current-password'],
  ], 'Log in', async (v) => {
    await api('/api/login', {method: 'POST', body: {name: v.name, password: v.password}});
    done();
  });
}

/** setup shows the form that creates the first user with the code from the log. */
export function setup(main) {
  form(main, 'Set up Hearth', 'Enter the code printed in the hub’s log, and choose your name and password (at least 8 characters).', [
    ['code', 'Code from the log', 'text', 'one-time-code'],
    ['name', 'Your name', 'text', 'username'],
    ['password', 'Password', 'password', 'new-password'],
  ], 'Create and log in', async (v) => {
    await api('/api/setup', {method: 'POST', body: {code: v.code, name: v.name, password: v.password}});
    location.replace('/#/');
  });
}

/** refused says why this machine may not use the hub yet. */
export function refused(main, message) {
  const heading = h('h1', {tabindex: -1}, 'Not from here, yet');
  main.replaceChildren(h('section', {class: 'card auth'}, heading, h('p', {}, message)));
  heading.focus();
}

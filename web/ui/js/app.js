// The page: a router over the hash (#/, #/device/<id>, #/events,
// #/automations), the live connection and its status.

import {h, clear} from './dom.js';
import {Live} from './live.js';
import * as home from './home.js';
import * as device from './device.js';
import * as events from './events.js';
import * as automations from './automations.js';

const live = new Live();
const main = document.getElementById('main');
const conn = document.getElementById('conn');
let view = null;
let first = true;

function route() {
  const hash = location.hash.replace(/^#\/?/, '');
  const [name, ...rest] = hash.split('/');
  const arg = decodeURIComponent(rest.join('/'));
  if (view) view.unmount();
  clear(main);
  let nav = name || 'home';
  switch (name) {
    case '':
      view = home.mount(main, live);
      document.title = 'Hearth';
      break;
    case 'device':
      view = device.mount(main, live, arg);
      nav = 'home';
      break;
    case 'events':
      view = events.mount(main, live);
      document.title = 'Events · Hearth';
      break;
    case 'automations':
      view = automations.mount(main, live);
      document.title = 'Automations · Hearth';
      break;
    default:
      view = {title: h('h1', {tabindex: -1}, 'Not found'), unmount() {}};
      main.append(view.title, h('p', {}, h('a', {href: '#/'}, 'Back to the house')));
      nav = '';
  }
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  // After a navigation (not the first load), move focus to the new page's
  // heading so that a screen reader announces where the user is.
  if (!first && view.title) view.title.focus({preventScroll: true});
  window.scrollTo(0, 0);
  first = false;
}

live.addEventListener('status', (ev) => {
  const {state} = ev.detail;
  conn.dataset.state = state;
  conn.querySelector('.conn-text').textContent = state === 'live' ? 'Live' : state === 'offline' ? 'Offline' : 'Connecting…';
});

window.addEventListener('hashchange', route);
live.start().then(() => {
  if (!view) route();
});
// Draw the shell at once; views fill in when the devices arrive.
main.replaceChildren(h('p', {class: 'loading'}, 'Loading the house…'));

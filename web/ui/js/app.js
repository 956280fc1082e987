// The page: a router over the hash (#/, #/device/<id>, #/events,
// #/event/<seq>, #/automations, #/automations/<id>), the live connection
// and its status, and the notifications. The home page and the events come
// with the page; the other views are loaded when first opened (with their
// own stylesheet when they have one), so that the home page stays light.

import {h, clear, loadStyle} from './dom.js';
import {api} from './api.js';
import {Live} from './live.js';
import * as home from './home.js';
import * as events from './events.js';
import {mountNotifications} from './notify.js';

const live = new Live();
const main = document.getElementById('main');
const conn = document.getElementById('conn');
let view = null;
let first = true;
let current = 0; // counts navigations, so that a late module mounts only if still wanted

// Views loaded on demand: [their module, their stylesheet].
const LAZY = {
  device: () => [import('./device.js'), loadStyle('/views.css')],
  automations: () => [import('./automations.js'), loadStyle('/views.css')],
  automation: () => [import('./automation.js'), loadStyle('/views.css')],
  event: () => [import('./event.js'), loadStyle('/views.css')],
};

function route() {
  const hash = location.hash.replace(/^#\/?/, '');
  const [name, ...rest] = hash.split('/');
  const arg = decodeURIComponent(rest.join('/'));
  const nav = ++current;
  if (view) view.unmount();
  view = null;
  clear(main);
  switch (name) {
    case '':
      show(home.mount(main, live), 'home', 'Hearth');
      break;
    case 'device':
      lazy(nav, 'device', 'home', arg);
      break;
    case 'events':
      show(events.mount(main, live), 'events', 'Events · Hearth');
      break;
    case 'event':
      lazy(nav, 'event', 'events', arg, `Event ${arg} · Hearth`);
      break;
    case 'automations':
      if (arg) lazy(nav, 'automation', 'automations', arg, 'Automation · Hearth');
      else lazy(nav, 'automations', 'automations', '', 'Automations · Hearth');
      break;
    default: {
      const title = h('h1', {tabindex: -1}, 'Not found');
      main.append(title, h('p', {}, h('a', {href: '#/'}, 'Back to the house')));
      show({title, unmount() {}}, '');
    }
  }
}

// show makes v the current view, marks its entry of the navigation and,
// after a navigation (not the first load), moves focus to its heading so
// that a screen reader announces where the user is.
function show(v, nav, title) {
  view = v;
  if (title) document.title = title;
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (!first && view.title) view.title.focus({preventScroll: true});
  window.scrollTo(0, 0);
  first = false;
}

// lazy loads a view's module (and stylesheet) and mounts it, unless the
// user has moved on meanwhile.
async function lazy(nav, name, navName, arg, title) {
  const loading = h('p', {class: 'loading', role: 'status'}, 'Loading…');
  main.replaceChildren(loading);
  view = {unmount() {}};
  try {
    const [mod] = await Promise.all(LAZY[name]());
    if (nav !== current) return;
    main.replaceChildren();
    show(mod.mount(main, live, arg), navName, title);
  } catch (e) {
    if (nav !== current) return;
    const heading = h('h1', {tabindex: -1}, 'This page could not be loaded');
    main.replaceChildren(heading, h('p', {}, `${e.message}. The hub may have been restarted or upgraded: reload the page.`));
    show({title: heading, unmount() {}}, navName);
  }
}

live.addEventListener('status', (ev) => {
  const {state} = ev.detail;
  conn.dataset.state = state;
  conn.querySelector('.conn-text').textContent = state === 'live' ? 'Live' : state === 'offline' ? 'Offline: the hub cannot be reached; trying again' : 'Connecting…';
});

// account shows who is logged in, with a button to log out.
function account(name) {
  const out = h('button', {type: 'button', class: 'button subtle logout', 'aria-label': `Log out ${name}`}, 'Log out');
  out.addEventListener('click', async () => {
    out.disabled = true;
    try {
      await api('/api/logout', {method: 'POST'});
    } finally {
      location.reload();
    }
  });
  conn.after(out);
}

// start asks the hub who this is: the login form when it wants a login,
// the setup form on /setup, the house otherwise.
async function start() {
  const auth = () => import('./auth.js');
  if (location.pathname === '/setup') {
    (await auth()).setup(main);
    return;
  }
  try {
    const me = await api('/api/me');
    if (me && me.name) account(me.name);
  } catch (e) {
    if (e.status === 401) {
      (await auth()).login(main, start);
      return;
    }
    if (e.status === 403) {
      (await auth()).refused(main, e.message);
      return;
    }
    // Unreachable or older hub: the live connection says so and retries.
  }
  window.addEventListener('hearth:login', () => location.reload(), {once: true});
  window.addEventListener('hashchange', route);
  mountNotifications(live, conn);
  live.start().then(() => {
    if (!view) route();
  });
}

// Draw the shell at once; views fill in when the devices arrive.
main.replaceChildren(h('p', {class: 'loading'}, 'Loading the house…'));
start();

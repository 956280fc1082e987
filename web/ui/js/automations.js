// Automations: a first view fed by /api/automations. The list, with each
// automation's state and last run, and the problems of the last load. The
// trace timeline and the YAML come with the automation engine's traces.

import {api} from './api.js';
import {h, timeEl} from './dom.js';

/** mount draws the automations page into main. */
export function mount(main) {
  const title = h('h1', {tabindex: -1}, 'Automations');
  const body = h('div', {class: 'automations', 'aria-busy': 'true'});
  main.replaceChildren(h('div', {class: 'page-head'}, title), body);
  const ctrl = new AbortController();

  api('/api/automations', {signal: ctrl.signal}).then((list) => {
    const problems = list.problems || [];
    const autos = list.automations || [];
    body.replaceChildren(
      problems.length ? h('section', {class: 'panel problems', 'aria-labelledby': 'sec-problems'},
        h('h2', {id: 'sec-problems'}, 'The last reload found mistakes'),
        h('p', {class: 'muted'}, 'The automations below are those of the last good load.'),
        h('ul', {}, problems.map((p) => h('li', {},
          h('code', {}, [p.file, p.line, p.column].filter(Boolean).join(':')), ' ',
          p.automation ? h('strong', {}, p.automation) : '', ' ', p.message)))) : '',
      autos.length ? h('ul', {class: 'cards auto-list'}, autos.map((a) => h('li', {class: `card auto ${a.enabled ? '' : 'disabled'}`},
        h('div', {class: 'card-head'}, h('h3', {}, a.id), h('span', {class: `chip ${a.enabled ? 'ok' : ''}`}, a.enabled ? 'Enabled' : 'Disabled')),
        a.description ? h('p', {}, a.description) : '',
        h('p', {class: 'updated'}, a.last_run ? ['Last run ', timeEl(a.last_run.started), ` · ${a.last_run.outcome}`] : 'Never ran')))) :
        h('div', {class: 'empty-state'}, h('p', {}, 'No automations are loaded.'),
          h('p', {class: 'muted'}, 'Start the hub with --automations FILE to load some.')),
      h('p', {class: 'muted note'}, 'Each run’s trace and each automation’s YAML will show here too.'));
  }).catch((e) => {
    if (e.name === 'AbortError') return;
    body.replaceChildren(h('div', {class: 'empty-state'},
      h('p', {}, e.status === 503 ? 'Automations are not connected to the page yet.' : `Automations could not be read: ${e.message}`),
      h('p', {class: 'muted'}, 'Runs still happen: their commands show on the Events page, with the automation that sent them.')));
  }).finally(() => body.removeAttribute('aria-busy'));

  return {title, unmount: () => ctrl.abort()};
}

// Admin: users and roles, the audit log, backend and model health, the response cache.

import { api } from './api.js';
import { attempt, clear, confirmAction, field, h, section, showText, table, when } from './dom.js';

const ROLES = ['viewer', 'member', 'admin', 'owner'];

async function users(panel, app) {
  const email = h('input', { type: 'email', required: true, autocomplete: 'off' });
  const password = h('input', { type: 'password', required: true, minlength: 8, autocomplete: 'new-password' });
  const role = h('select', {}, ROLES.map((r) => h('option', { value: r, selected: r === 'member' }, r)));
  const form = h('form', { class: 'row wrap', 'aria-label': 'Create a user' }, field('Email', email), field('Password', password), field('Role', role),
    h('button', { type: 'submit', class: 'primary' }, 'Create user'));
  const body = h('div');
  const update = (user, change, done) => attempt(() => api(`/users/${user.id}`, { method: 'PATCH', body: change }), done).then(refresh);
  async function refresh() {
    const found = (await api('/users')).data;
    clear(body, table(['Email', 'Role', 'Status', 'Created', ''], found.map((user) => {
      const pick = h('select', { 'aria-label': `Role of ${user.email}`, disabled: user.id === app.me.id },
        ROLES.map((r) => h('option', { value: r, selected: r === user.role }, r)));
      pick.addEventListener('change', () => update(user, { role: pick.value }, 'Role changed'));
      return h('tr', {}, h('td', {}, user.email), h('td', {}, pick), h('td', {}, user.suspended ? 'suspended' : 'active'),
        h('td', {}, when(user.created_at)),
        h('td', {}, user.id === app.me.id ? 'you' : h('span', { class: 'row' },
          h('button', { type: 'button', class: 'small', onclick: () => update(user, { suspended: !user.suspended }, user.suspended ? 'Reinstated' : 'Suspended') },
            user.suspended ? 'Reinstate' : 'Suspend'),
          h('button', { type: 'button', class: 'small danger', onclick: async () => {
            if (!(await confirmAction(`Delete the user ${user.email}?`))) return;
            await attempt(() => api(`/users/${user.id}`, { method: 'DELETE' }), 'User deleted');
            await refresh();
          } }, 'Delete'))));
    })));
  }
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { email: email.value.trim(), password: password.value, role: role.value };
    if (await attempt(() => api('/users', { method: 'POST', body }), 'User created')) form.reset();
    await refresh();
  });
  panel.append(section('New user', form), section('Users', body));
  await refresh();
}

async function audit(panel) {
  const action = h('input', { type: 'search', placeholder: 'login.failure', 'aria-label': 'Filter by action' });
  const rows = h('tbody');
  const more = h('button', { type: 'button', hidden: true }, 'Older events');
  let oldest = null;
  async function load(reset) {
    if (reset) { rows.replaceChildren(); oldest = null; }
    const page = await api('/audit', { query: { action: action.value.trim(), before: oldest, limit: 50 } });
    for (const event of page.data) {
      rows.append(h('tr', {}, h('td', {}, when(event.created_at)), h('td', {}, h('code', {}, event.action)),
        h('td', {}, event.actor_id || '—'), h('td', {}, [event.target_type, event.target_id].filter(Boolean).join(' ') || '—'),
        h('td', {}, event.address || '—'), h('td', {}, event.detail || '')));
      oldest = event.created_at;
    }
    more.hidden = !page.has_more;
  }
  action.addEventListener('change', () => attempt(() => load(true)));
  more.addEventListener('click', () => attempt(() => load(false)));
  panel.append(section('Audit log', action, h('div', { class: 'table-wrap' }, h('table', {},
    h('thead', {}, h('tr', {}, ['When', 'Action', 'Actor', 'Target', 'Address', 'Detail'].map((n) => h('th', { scope: 'col' }, n)))), rows)), more));
  await load(true);
}

async function health(panel) {
  const response = await fetch('/ready');
  const ready = await response.json();
  const models = await api('/v1/models');
  panel.append(
    section(`Readiness: ${ready.status}`, table(['Dependency', 'State'], Object.entries(ready.checks).map(([name, state]) =>
      h('tr', {}, h('td', {}, name), h('td', {}, h('span', { class: `badge ${state === 'ok' ? 'ok' : 'bad'}` }, state)))))),
    section('Models and circuit breakers', table(['Model', 'Tier', 'Backend', 'Target', 'Breaker', 'Healthy'],
      models.data.flatMap((model) => (model.uait?.deployments?.length ? model.uait.deployments : [{}]).map((d) => h('tr', {},
        h('td', {}, model.id), h('td', {}, model.uait?.tier || '—'), h('td', {}, d.backend || '—'), h('td', {}, d.target || '—'),
        h('td', {}, d.state ? h('span', { class: `badge ${d.state === 'closed' ? 'ok' : 'bad'}` }, d.state) : '—'),
        h('td', {}, d.healthy === undefined ? '—' : d.healthy ? 'yes' : 'no')))))));
}

async function cache(panel) {
  const stats = h('div');
  const model = h('input', { type: 'search', placeholder: 'all models', 'aria-label': 'Filter by model' });
  const body = h('div');
  async function refresh() {
    const [counts, entries] = await Promise.all([api('/cache/stats'), api('/cache/entries', { query: { model: model.value.trim(), limit: 100 } })]);
    clear(stats, h('dl', { class: 'facts' }, Object.entries(counts).flatMap(([k, v]) => [h('dt', {}, k.replace(/_/g, ' ')), h('dd', {}, String(v))])));
    clear(body, table(['Model', 'Prompt', 'Hits', 'Created', ''], entries.data.map((entry) => h('tr', {},
      h('td', {}, entry.model), h('td', { class: 'clip' }, entry.prompt), h('td', {}, String(entry.hits)), h('td', {}, when(entry.created_at)),
      h('td', {}, h('span', { class: 'row' },
        h('button', { type: 'button', class: 'small', onclick: () => showText(`Cache entry ${entry.id}`, JSON.stringify(entry, null, 2)) }, 'Inspect'),
        h('button', { type: 'button', class: 'small danger', onclick: async () => {
          await attempt(() => api(`/cache/entries/${entry.id}`, { method: 'DELETE' }), 'Entry deleted');
          await refresh();
        } }, 'Delete')))))));
  }
  const flush = h('button', { type: 'button', class: 'danger', onclick: async () => {
    const which = model.value.trim();
    if (!(await confirmAction(`Flush ${which ? `the entries of ${which}` : 'every cached answer'}?`, 'Flush'))) return;
    const done = await attempt(() => api('/cache/entries', { method: 'DELETE', query: { model: which } }));
    if (done) await attempt(refresh, `Flushed ${done.deleted} entries`);
  } }, 'Flush');
  model.addEventListener('change', () => attempt(refresh));
  panel.append(section('Cache statistics', stats), section('Cached answers', h('div', { class: 'row' }, model,
    h('button', { type: 'button', onclick: () => attempt(refresh) }, 'Refresh'), flush), body));
  await refresh();
}

const TABS = { users: ['Users and roles', users], audit: ['Audit log', audit], health: ['Health', health], cache: ['Cache', cache] };

export async function mount(main, [tab = 'users'], app) {
  const [, show] = TABS[tab] || TABS.users;
  const panel = h('div');
  main.append(h('div', { class: 'page' }, h('h1', {}, 'Administration'),
    h('nav', { class: 'tabs', 'aria-label': 'Administration' }, Object.entries(TABS).map(([name, [label]]) =>
      h('a', { href: `#/admin/${name}`, 'aria-current': name === tab ? 'page' : null }, label))), panel));
  await show(panel, app);
}

// Settings: profile, API keys (shown once), devices, password.

import { api } from './api.js';
import { ask, attempt, clear, confirmAction, copyText, field, h, section, table, when } from './dom.js';

function profile(me) {
  return section('Profile', h('dl', { class: 'facts' },
    h('dt', {}, 'Email'), h('dd', {}, me.email),
    h('dt', {}, 'Role'), h('dd', {}, me.role),
    h('dt', {}, 'User id'), h('dd', {}, h('code', {}, me.id), ' ',
      h('button', { type: 'button', class: 'small', onclick: () => copyText(me.id) }, 'Copy')),
    h('dt', {}, 'Organization'), h('dd', {}, h('code', {}, me.org_id))));
}

function apiKeys() {
  const body = h('div');
  const name = h('input', { name: 'name', required: true, maxlength: 200 });
  const models = h('input', { name: 'models', placeholder: 'all models' });
  const rpm = h('input', { name: 'rpm', type: 'number', min: 1, placeholder: 'no limit' });
  const daily = h('input', { name: 'daily_tokens', type: 'number', min: 1, placeholder: 'no limit' });
  const shown = h('div', { class: 'secret', role: 'status' });
  const form = h('form', { class: 'row wrap', 'aria-label': 'Create an API key' },
    field('Key name', name), field('Models (comma-separated)', models), field('Requests per minute', rpm), field('Tokens per day', daily),
    h('button', { type: 'submit', class: 'primary' }, 'Create key'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const request = { name: name.value.trim() };
    const listed = models.value.split(',').map((m) => m.trim()).filter(Boolean);
    if (listed.length) request.models = listed;
    if (rpm.value) request.rpm = Number(rpm.value);
    if (daily.value) request.daily_tokens = Number(daily.value);
    const created = await attempt(() => api('/api-keys', { method: 'POST', body: request }));
    if (!created) return;
    form.reset();
    clear(shown, h('p', {}, 'Your new key (shown only now; store it safely):'),
      h('code', { class: 'key', tabindex: 0 }, created.key), ' ',
      h('button', { type: 'button', class: 'small', onclick: () => copyText(created.key) }, 'Copy'),
      h('button', { type: 'button', class: 'small', onclick: () => clear(shown) }, 'Done'));
    await refresh();
  });
  async function refresh() {
    const keys = (await api('/api-keys')).data;
    clear(body, table(['Name', 'Prefix', 'Models', 'Limits', 'Created', 'Last used', ''], keys.map((key) => h('tr', { 'data-key': key.name },
      h('td', {}, key.name), h('td', {}, h('code', {}, key.prefix)), h('td', {}, key.models ? key.models.join(', ') : 'all'),
      h('td', {}, [key.rpm && `${key.rpm}/min`, key.daily_tokens && `${key.daily_tokens} tokens/day`].filter(Boolean).join(', ') || '—'),
      h('td', {}, when(key.created_at)), h('td', {}, when(key.last_used_at)),
      h('td', {}, key.revoked_at ? h('span', { class: 'badge' }, 'revoked')
        : h('button', { type: 'button', class: 'danger small', 'aria-label': `Revoke key ${key.name}`, onclick: async () => {
          if (!(await confirmAction(`Revoke the key “${key.name}”? Programs using it stop working at once.`, 'Revoke'))) return;
          await attempt(() => api(`/api-keys/${key.id}`, { method: 'DELETE' }), 'Key revoked');
          await refresh();
        } }, 'Revoke'))))));
  }
  return { node: section('API keys', form, shown, body), refresh };
}

function devices() {
  const body = h('div');
  async function refresh() {
    const found = (await api('/devices')).data;
    clear(body, h('p', { class: 'muted' }, 'Devices register an Ed25519 key through the API and log in by signing a challenge.'),
      table(['Name', 'Kind', 'Registered', 'Last seen', ''], found.map((device) => h('tr', {},
        h('td', {}, device.name), h('td', {}, device.kind), h('td', {}, when(device.created_at)), h('td', {}, when(device.last_seen_at)),
        h('td', {}, device.revoked_at ? h('span', { class: 'badge' }, 'revoked') : h('span', { class: 'row' },
          h('button', { type: 'button', class: 'small', onclick: async () => {
            const values = await ask('Rename device', [{ name: 'name', label: 'Name', value: device.name, required: true }]);
            if (values) await attempt(() => api(`/devices/${device.id}`, { method: 'PATCH', body: values }), 'Renamed');
            await refresh();
          } }, 'Rename'),
          h('button', { type: 'button', class: 'small danger', onclick: async () => {
            if (!(await confirmAction(`Revoke the device “${device.name}”? Its tokens stop working at once.`, 'Revoke'))) return;
            await attempt(() => api(`/devices/${device.id}`, { method: 'DELETE' }), 'Device revoked');
            await refresh();
          } }, 'Revoke')))))));
  }
  return { node: section('Devices', body), refresh };
}

function password() {
  const current = h('input', { type: 'password', autocomplete: 'current-password', required: true });
  const next = h('input', { type: 'password', autocomplete: 'new-password', required: true, minlength: 8 });
  const form = h('form', { class: 'row wrap', 'aria-label': 'Change password' }, field('Current password', current), field('New password', next),
    h('button', { type: 'submit', class: 'primary' }, 'Change password'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { current_password: current.value, new_password: next.value };
    if ((await attempt(() => api('/auth/password', { method: 'POST', body }), 'Password changed')) !== undefined) form.reset();
  });
  return section('Password', form);
}

export async function mount(main, _rest, app) {
  const keys = apiKeys();
  const owned = devices();
  main.append(h('div', { class: 'page' }, h('h1', {}, 'Settings'), profile(app.me), keys.node, owned.node, password()));
  await Promise.all([keys.refresh(), owned.refresh()]);
}

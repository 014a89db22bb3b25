// Agents: list, create, edit, delete, and start a chat with one.

import { api } from './api.js';
import { attempt, clear, confirmAction, field, h, section } from './dom.js';
import { modelNames } from './models.js';

function agentForm(names, agent, onSaved) {
  const name = h('input', { name: 'name', required: true, pattern: '[A-Za-z0-9_-]+', value: agent?.name || '' });
  const description = h('input', { name: 'description', value: agent?.description || '' });
  const prompt = h('textarea', { name: 'system_prompt', rows: 4 });
  prompt.value = agent?.system_prompt || '';
  const model = h('select', { name: 'model' }, names.map((n) => h('option', { value: n }, n)));
  model.value = agent?.model || names[0];
  const temperature = h('input', { name: 'temperature', type: 'number', min: 0, max: 2, step: 0.1, value: agent?.temperature ?? '' });
  const maxTokens = h('input', { name: 'max_tokens', type: 'number', min: 1, placeholder: 'model default', value: agent?.max_tokens ?? '' });
  const memory = h('input', { name: 'memory', type: 'checkbox', checked: Boolean(agent?.memory) });
  const form = h('form', { class: 'stack', 'aria-label': agent ? `Edit ${agent.name}` : 'New agent' },
    field('Name (used as @name)', name), field('Description', description), field('System prompt', prompt),
    h('div', { class: 'row' }, field('Model', model), field('Temperature', temperature), field('Max tokens', maxTokens)),
    h('label', { class: 'check' }, memory, ' Use long-term memory'),
    h('div', { class: 'row end' }, h('button', { type: 'submit', class: 'primary' }, agent ? 'Save agent' : 'Create agent')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = {
      name: name.value.trim(), description: description.value, system_prompt: prompt.value, model: model.value,
      temperature: temperature.value === '' ? null : Number(temperature.value),
      max_tokens: maxTokens.value === '' ? null : Number(maxTokens.value), memory: memory.checked,
    };
    const saved = await attempt(() => api(agent ? `/agents/${agent.id}` : '/agents', { method: agent ? 'PATCH' : 'POST', body }), agent ? 'Agent saved' : 'Agent created');
    if (saved) onSaved(saved);
  });
  return form;
}

export async function mount(main) {
  const names = await modelNames();
  const list = h('ul', { class: 'cards', 'aria-label': 'Agents' });
  const create = h('details', { class: 'card' }, h('summary', {}, 'New agent'));

  async function refresh() {
    const agents = (await api('/agents')).data;
    clear(list, agents.length ? agents.map(card) : h('li', { class: 'muted' }, 'No agents yet.'));
  }

  function card(agent) {
    const item = h('li', { class: 'card agent', 'data-agent': agent.name });
    const show = () => clear(item,
      h('h2', {}, `@${agent.name}`),
      h('p', { class: 'description' }, agent.description || 'No description.'),
      h('p', { class: 'muted' }, `model ${agent.model}`, agent.memory ? ' · memory on' : ''),
      h('div', { class: 'row' },
        h('a', { class: 'button primary', href: `#/chat/new/${agent.id}` }, 'Chat'),
        h('button', { type: 'button', onclick: edit }, 'Edit'),
        h('button', { type: 'button', class: 'danger', onclick: remove }, 'Delete')));
    const edit = () => clear(item, h('h2', {}, `Edit @${agent.name}`),
      agentForm(names, agent, (saved) => { agent = saved; show(); }),
      h('button', { type: 'button', onclick: show }, 'Cancel'));
    const remove = async () => {
      if (!(await confirmAction(`Delete the agent @${agent.name}?`))) return;
      if ((await attempt(() => api(`/agents/${agent.id}`, { method: 'DELETE' }), 'Agent deleted')) !== undefined) item.remove();
    };
    show();
    return item;
  }

  create.append(agentForm(names, null, () => { create.open = false; refresh(); }));
  main.append(h('div', { class: 'page' }, h('h1', {}, 'Agents'), create, section('Your organization’s agents', list)));
  await refresh();
}

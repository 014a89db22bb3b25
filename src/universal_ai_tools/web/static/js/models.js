// Model and agent choices, shared by the chat and agent pages.

import { api } from './api.js';
import { h } from './dom.js';

export async function modelNames() {
  const models = await api('/v1/models');
  const names = models.data.map((model) => model.id);
  return names.includes('auto') ? names : [...names, 'auto'];
}

export const agentList = async () => (await api('/agents')).data;

// A <select> of models, then agents (value `agent:<id>`).
export function modelPicker(names, agents, selected) {
  const select = h('select', { name: 'model', 'aria-label': 'Model' },
    h('optgroup', { label: 'Models' }, names.map((name) => h('option', { value: name }, name === 'auto' ? 'auto (by complexity)' : name))),
    agents.length ? h('optgroup', { label: 'Agents' }, agents.map((agent) => h('option', { value: `agent:${agent.id}` }, `@${agent.name}`))) : null);
  if (selected && [...select.options].some((option) => option.value === selected)) select.value = selected;
  return select;
}

// Memory: the user's long-term memories; list, search, add, edit, delete.

import { api } from './api.js';
import { attempt, clear, confirmAction, debounce, field, h, section, when } from './dom.js';

export async function mount(main) {
  const search = h('input', { type: 'search', placeholder: 'Search by meaning', 'aria-label': 'Search memories' });
  const list = h('ul', { class: 'list memories', 'aria-label': 'Memories' });
  const content = h('input', { name: 'content', required: true, maxlength: 2000, placeholder: 'I prefer metric units' });
  const add = h('form', { class: 'row', 'aria-label': 'Add a memory' }, field('Remember', content),
    h('button', { type: 'submit', class: 'primary' }, 'Add'));

  let asked = 0;
  async function refresh() {
    const turn = ++asked;
    const found = await api('/memories', { query: { q: search.value.trim(), limit: 200 } });
    if (turn !== asked) return; // a later search has been sent
    clear(list, found.data.length ? found.data.map(item) : h('li', { class: 'muted' }, 'No memories.'));
  }

  function item(memory) {
    const row = h('li', { class: 'memory' });
    const show = () => clear(row,
      h('span', { class: 'content' }, memory.content),
      h('span', { class: 'muted' }, memory.score != null ? `score ${memory.score.toFixed(2)} · ` : '', when(memory.updated_at)),
      h('span', { class: 'row' },
        h('button', { type: 'button', onclick: edit, 'aria-label': `Edit memory: ${memory.content}` }, 'Edit'),
        h('button', { type: 'button', class: 'danger', onclick: remove, 'aria-label': `Delete memory: ${memory.content}` }, 'Delete')));
    const edit = () => {
      const text = h('input', { value: memory.content, 'aria-label': 'Memory', required: true });
      const form = h('form', { class: 'row grow' }, text, h('button', { type: 'submit', class: 'primary' }, 'Save'),
        h('button', { type: 'button', onclick: show }, 'Cancel'));
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        const saved = await attempt(() => api(`/memories/${memory.id}`, { method: 'PATCH', body: { content: text.value } }), 'Memory saved');
        if (saved) memory = saved;
        show();
        await attempt(refresh);
      });
      clear(row, form);
      text.focus();
    };
    const remove = async () => {
      if (!(await confirmAction('Forget this memory for good?', 'Forget'))) return;
      await attempt(() => api(`/memories/${memory.id}`, { method: 'DELETE' }), 'Forgotten');
      await attempt(refresh);
    };
    show();
    return row;
  }

  add.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (await attempt(() => api('/memories', { method: 'POST', body: { content: content.value } }), 'Remembered')) {
      content.value = '';
      await refresh();
    }
  });
  search.addEventListener('input', debounce(() => attempt(refresh), 300));
  main.append(h('div', { class: 'page' }, h('h1', {}, 'Memory'),
    h('p', { class: 'muted' }, 'Facts the assistant remembers about you and adds to conversations with memory on.'),
    section('Add', add), section('Memories', search, list)));
  await refresh();
}

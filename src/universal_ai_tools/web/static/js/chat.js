// Chat: the conversations sidebar, streaming answers, feedback and the prompt inspector.

import { api, download, stream } from './api.js';
import { ask, attempt, clear, confirmAction, copyText, debounce, h, showText, toast } from './dom.js';
import { renderInto } from './markdown.js';
import { agentList, modelNames, modelPicker } from './models.js';

export async function mount(main, [conversationId, agentId]) {
  const [names, agents] = await Promise.all([modelNames(), agentList()]);
  const state = { conversation: null, busy: null, lastUser: null };
  const search = h('input', { type: 'search', placeholder: 'Search conversations', 'aria-label': 'Search conversations' });
  const archived = h('input', { type: 'checkbox', id: 'show-archived' });
  const list = h('ul', { class: 'list', 'aria-label': 'Conversations' });
  const picker = modelPicker(names, agents, agentId ? `agent:${agentId}` : localStorage.getItem('uait.model') || names[0]);
  picker.addEventListener('change', () => {
    const choice = picker.value;
    const conversation = state.conversation;
    if (!choice.startsWith('agent:')) localStorage.setItem('uait.model', choice);
    // an agent's chat is its own conversation: switching to or from an agent starts a new one
    const agentOf = conversation?.agent_id ? `agent:${conversation.agent_id}` : null;
    if (conversation && (choice.startsWith('agent:') || agentOf) && choice !== agentOf) {
      location.hash = choice.startsWith('agent:') ? `#/chat/new/${choice.slice(6)}` : '#/chat';
    }
  });
  const title = h('h1', { class: 'title' }, 'New chat');
  const log = h('div', { class: 'messages', role: 'log', 'aria-label': 'Messages', 'aria-live': 'polite' });
  const input = h('textarea', { rows: 2, placeholder: 'Message… (Enter sends, Shift+Enter for a new line)', 'aria-label': 'Message' });
  const send = h('button', { type: 'submit', class: 'primary' }, 'Send');
  const stop = h('button', { type: 'button', class: 'danger', hidden: true, onclick: () => state.busy?.abort() }, 'Stop');
  const composer = h('form', { class: 'composer', 'aria-label': 'Send a message' }, input, send, stop);
  const sidebar = h('aside', { class: 'sidebar', 'aria-label': 'Conversations' },
    h('button', { type: 'button', class: 'primary wide', onclick: () => { location.hash = '#/chat'; } }, '+ New chat'),
    search, h('label', { class: 'check' }, archived, ' Show archived'), list);
  const toggle = h('button', { type: 'button', class: 'only-phone', 'aria-label': 'Show conversations', onclick: () => sidebar.classList.toggle('open') }, '☰');
  main.append(h('div', { class: 'split' }, sidebar,
    h('section', { class: 'chat', 'aria-label': 'Chat' },
      h('div', { class: 'chat-head' }, toggle, title, h('label', { class: 'picker' }, 'Model ', picker)), log, composer)));

  let asked = 0;
  async function refreshList(before) {
    const turn = before ? asked : ++asked;
    const query = { q: search.value.trim(), archived: archived.checked, before };
    const found = await api('/conversations', { query });
    if (turn !== asked) return; // a later search has been sent
    if (!before) clear(list);
    list.querySelector('.more')?.remove();
    list.append(...found.data.map((c) => conversationItem(c)));
    const last = found.data[found.data.length - 1];
    if (found.has_more) {
      list.append(h('li', { class: 'more' }, h('button', { type: 'button', class: 'wide', onclick: () => attempt(() => refreshList(last.updated_at)) }, 'Older conversations')));
    }
  }

  function conversationItem(c) {
    const link = h('a', { href: `#/chat/${c.id}` }, c.title || 'Untitled');
    const actions = h('details', { class: 'menu' }, h('summary', { 'aria-label': `Actions for ${c.title || 'Untitled'}` }, '⋯'),
      h('div', { class: 'menu-body' },
        h('button', { type: 'button', onclick: () => rename(c, link) }, 'Rename'),
        h('button', { type: 'button', onclick: () => archive(c) }, c.archived ? 'Unarchive' : 'Archive'),
        h('button', { type: 'button', onclick: () => download(`/conversations/${c.id}/export?format=markdown`, `conversation-${c.id}.md`) }, 'Export Markdown'),
        h('button', { type: 'button', onclick: () => download(`/conversations/${c.id}/export?format=json`, `conversation-${c.id}.json`) }, 'Export JSON'),
        h('button', { type: 'button', class: 'danger', onclick: () => remove(c) }, 'Delete')));
    actions.addEventListener('click', (event) => { if (event.target.closest('.menu-body button')) actions.open = false; });
    actions.addEventListener('keydown', (event) => { if (event.key === 'Escape') actions.open = false; });
    return h('li', { class: c.id === state.conversation?.id ? 'active' : null }, link, actions);
  }

  // Renamed in place: the list is not redrawn under the user.
  async function rename(c, link) {
    const values = await ask('Rename conversation', [{ name: 'title', label: 'Title', value: c.title, required: true }]);
    if (!values) return;
    const saved = await attempt(() => api(`/conversations/${c.id}`, { method: 'PATCH', body: { title: values.title } }), 'Renamed');
    if (!saved) return;
    c.title = saved.title;
    link.textContent = saved.title || 'Untitled';
    if (c.id === state.conversation?.id) title.textContent = link.textContent;
  }

  async function archive(c) {
    await attempt(() => api(`/conversations/${c.id}`, { method: 'PATCH', body: { archived: !c.archived } }), c.archived ? 'Unarchived' : 'Archived');
    await refreshList();
  }

  async function remove(c) {
    if (!(await confirmAction(`Delete “${c.title || 'Untitled'}”?`))) return;
    await attempt(() => api(`/conversations/${c.id}`, { method: 'DELETE' }), 'Deleted');
    if (c.id === state.conversation?.id) location.hash = '#/chat';
    else await refreshList();
  }

  function bubble(role, content) {
    const body = h('div', { class: 'body' });
    renderInto(body, content);
    const meta = h('div', { class: 'meta' });
    const tools = h('div', { class: 'tools' });
    const node = h('article', { class: `msg ${role}`, 'aria-label': role === 'user' ? 'You' : 'Assistant' }, body, meta, tools);
    log.append(node);
    node.scrollIntoView({ block: 'end' });
    return { node, body, meta, tools, text: content };
  }

  function describe(message, extra = {}) {
    const parts = [message.model || message.agent_id && 'agent'];
    if (message.prompt_tokens != null) parts.push(`${message.prompt_tokens} + ${message.completion_tokens ?? 0} tokens`);
    if (message.latency_ms != null) parts.push(`${message.latency_ms} ms`);
    if (extra.firstToken != null) parts.push(`first token ${extra.firstToken} ms`);
    if (extra.cache) parts.push(`cache: ${extra.cache}`);
    if (extra.route) parts.push(`route: ${extra.route}`);
    if (message.finish_reason && message.finish_reason !== 'stop') parts.push(message.finish_reason);
    return parts.filter(Boolean).join(' · ');
  }

  function assistantTools(view, message) {
    const rating = h('select', { 'aria-label': 'Rate this answer' }, h('option', { value: '' }, 'Rate'),
      [1, 2, 3, 4, 5].map((n) => h('option', { value: n }, '★'.repeat(n))));
    const feedback = (body, label) => attempt(() => api('/feedback', { method: 'POST', body: { message_id: message.id, ...body } }), label);
    const thumb = (kind, label) => h('button', { type: 'button', class: 'icon', 'aria-label': label, 'aria-pressed': 'false',
      onclick: async (event) => {
        if (await feedback({ thumb: kind }, 'Thanks for the feedback')) event.target.setAttribute('aria-pressed', 'true');
      } }, kind === 'up' ? '▲' : '▼');
    rating.addEventListener('change', () => rating.value && feedback({ rating: Number(rating.value) }, 'Rated'));
    clear(view.tools,
      h('button', { type: 'button', class: 'icon', 'aria-label': 'Copy answer', onclick: () => copyText(view.text) }, 'Copy'),
      h('button', { type: 'button', class: 'icon regen', 'aria-label': 'Regenerate answer', onclick: regenerate }, '↻ Again'),
      thumb('up', 'Good answer'), thumb('down', 'Bad answer'), rating,
      h('button', { type: 'button', class: 'small', onclick: () => inspect(message) }, 'Prompt'));
  }

  async function inspect(message) {
    const prompt = await attempt(() => api(`/conversations/${message.conversation_id}/messages/${message.id}/prompt`));
    if (prompt) showText(`Prompt sent to ${prompt.model} (${prompt.backend}: ${prompt.target})`, JSON.stringify(prompt.messages, null, 2));
  }

  async function open(id) {
    const [conversation, messages] = await Promise.all([api(`/conversations/${id}`), api(`/conversations/${id}/messages`)]);
    state.conversation = conversation;
    title.textContent = conversation.title || 'Untitled';
    if (conversation.agent_id) picker.value = `agent:${conversation.agent_id}`;
    else if (conversation.model && [...picker.options].some((o) => o.value === conversation.model)) picker.value = conversation.model;
    clear(log);
    for (const message of messages.data) {
      const view = bubble(message.role, message.content);
      if (message.role === 'user') state.lastUser = message.content;
      if (message.role === 'assistant') {
        view.meta.textContent = describe(message);
        assistantTools(view, message);
      }
    }
  }

  async function ensureConversation() {
    if (state.conversation) return state.conversation;
    const choice = picker.value;
    const body = choice.startsWith('agent:') ? { agent_id: choice.slice(6) } : { model: choice };
    state.conversation = await api('/conversations', { method: 'POST', body });
    history.replaceState(null, '', `#/chat/${state.conversation.id}`);
    return state.conversation;
  }

  async function turn(content, { regenerating = false } = {}) {
    if (state.busy) return;
    const conversation = await attempt(ensureConversation);
    if (!conversation) {
      if (!regenerating && !input.value) input.value = content; // nothing typed is lost
      return;
    }
    state.lastUser = content;
    if (!regenerating) bubble('user', content);
    const view = bubble('assistant', '');
    view.node.setAttribute('aria-busy', 'true');
    view.body.append(h('span', { class: 'cursor', 'aria-label': 'Generating' }));
    const controller = new AbortController();
    state.busy = controller;
    stop.hidden = false;
    send.disabled = true;
    const started = performance.now();
    const extra = {};
    let text = '';
    let scheduled = false;
    let stored = null;
    const paint = () => {
      scheduled = false;
      renderInto(view.body, text);
      view.text = text;
      view.body.append(h('span', { class: 'cursor' }));
      view.node.scrollIntoView({ block: 'end' });
    };
    const body = { content, stream: true };
    if (!conversation.agent_id && !picker.value.startsWith('agent:')) body.model = picker.value;
    try {
      await stream(`/conversations/${conversation.id}/chat`, body, {
        signal: controller.signal,
        headers: regenerating ? { 'cache-control': 'no-cache' } : {},
        onHeaders: (headers) => {
          extra.cache = headers.get('x-uait-cache');
          extra.route = headers.get('x-uait-route');
        },
        onEvent: (event) => {
          if (event.type === 'delta') {
            if (extra.firstToken == null) extra.firstToken = Math.round(performance.now() - started);
            text += event.content;
            if (!scheduled) { scheduled = true; requestAnimationFrame(paint); }
          } else if (event.type === 'done') {
            stored = event.message;
          } else if (event.type === 'error') {
            throw new Error(event.error?.message || 'the model failed');
          }
        },
      });
    } catch (error) {
      if (error.name === 'AbortError') extra.stopped = true;
      else view.node.append(h('p', { class: 'error', role: 'alert' }, error.message));
    } finally {
      state.busy = null;
      stop.hidden = true;
      send.disabled = false;
    }
    renderInto(view.body, text || (extra.stopped ? '' : '…'));
    view.text = text;
    view.node.removeAttribute('aria-busy');
    if (stored) {
      view.node.dataset.messageId = stored.id;
      view.meta.textContent = describe(stored, extra);
      assistantTools(view, stored);
    } else if (extra.stopped) {
      view.meta.textContent = 'stopped';
    }
    if (!conversation.title || conversation.title === 'Untitled') {
      state.conversation = await api(`/conversations/${conversation.id}`).catch(() => conversation);
      title.textContent = state.conversation.title || 'Untitled';
    }
    await refreshList();
    input.focus();
  }

  function regenerate() {
    if (!state.lastUser || state.busy) return;
    toast('Asking again, past the cache');
    attempt(() => turn(state.lastUser, { regenerating: true }));
  }

  composer.addEventListener('submit', (event) => {
    event.preventDefault();
    const content = input.value.trim();
    if (!content || state.busy) return;
    input.value = '';
    attempt(() => turn(content));
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    } else if (event.key === 'Escape' && state.busy) {
      state.busy.abort();
    }
  });
  search.addEventListener('input', debounce(() => attempt(() => refreshList()), 250));
  archived.addEventListener('change', () => attempt(() => refreshList()));

  if (conversationId && conversationId !== 'new') await open(conversationId);
  await refreshList();
  input.focus();
  return { leave: () => state.busy?.abort() };
}

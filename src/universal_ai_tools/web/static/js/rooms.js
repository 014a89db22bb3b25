// Rooms: real-time messages, presence, typing, shared `@agent` sessions with live tokens,
// file sharing with upload progress; the connection state shows "reconnecting…".

import { api, download, upload } from './api.js';
import { attempt, clear, field, h, toast } from './dom.js';
import { renderInto } from './markdown.js';
import { agentList } from './models.js';

const isAdmin = (me) => ['admin', 'owner'].includes(me.role);

function people(app, agents) {
  const users = new Map([[app.me.id, 'you']]);
  const byAgent = new Map(agents.map((agent) => [agent.id, `@${agent.name}`]));
  return {
    users,
    user: (id) => users.get(id) || `user ${String(id).slice(0, 6)}`,
    agent: (id) => byAgent.get(id) || '@agent',
  };
}

function userPicker(app, users, label) {
  if (!users) return h('input', { placeholder: 'user id', 'aria-label': label });
  return h('select', { 'aria-label': label }, users.filter((u) => u.id !== app.me.id).map((u) => h('option', { value: u.id }, u.email)));
}

function createForm(app, users, agents, onCreated) {
  const name = h('input', { required: true, maxlength: 200 });
  const members = users
    ? users.filter((u) => u.id !== app.me.id).map((u) => h('label', { class: 'check' }, h('input', { type: 'checkbox', value: u.id, name: 'member' }), ` ${u.email}`))
    : [field('Member ids (comma-separated)', h('input', { name: 'member-ids' }))];
  const bots = agents.map((a) => h('label', { class: 'check' }, h('input', { type: 'checkbox', value: a.id, name: 'agent' }), ` @${a.name}`));
  const form = h('form', { class: 'stack', 'aria-label': 'New room' }, field('Room name', name),
    h('fieldset', {}, h('legend', {}, 'Members'), members), bots.length ? h('fieldset', {}, h('legend', {}, 'Agents'), bots) : null,
    h('button', { type: 'submit', class: 'primary' }, 'Create room'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const checked = (kind) => [...form.querySelectorAll(`input[name=${kind}]:checked`)].map((box) => box.value);
    const typed = form.querySelector('input[name=member-ids]')?.value.split(',').map((s) => s.trim()).filter(Boolean) || [];
    const body = { name: name.value.trim(), members: [...checked('member'), ...typed], agents: checked('agent') };
    const room = await attempt(() => api('/rooms', { method: 'POST', body }), 'Room created');
    if (room) onCreated(room);
  });
  return form;
}

export async function mount(main, [roomId], app) {
  const [agents, users] = await Promise.all([agentList(), isAdmin(app.me) ? api('/users').then((r) => r.data) : null]);
  const who = people(app, agents);
  users?.forEach((u) => u.id !== app.me.id && who.users.set(u.id, u.email));
  const list = h('ul', { class: 'list', 'aria-label': 'Rooms' });
  const create = h('details', { class: 'create' }, h('summary', {}, '+ New room'),
    createForm(app, users, agents, (room) => { location.hash = `#/rooms/${room.id}`; }));
  // on a phone the list shows alone until a room is open, then behind the ☰ button
  const sidebar = h('aside', { class: roomId ? 'sidebar' : 'sidebar always', 'aria-label': 'Rooms' }, create, list);
  const view = h('section', { class: 'chat room', 'aria-label': 'Room' });
  main.append(h('div', { class: 'split' }, sidebar, view));
  const rooms = (await api('/rooms')).data;
  clear(list, rooms.length ? rooms.map((room) => h('li', { class: room.id === roomId ? 'active' : null },
    h('a', { href: `#/rooms/${room.id}` }, room.name))) : h('li', { class: 'muted' }, 'No rooms yet.'));
  if (!roomId) {
    view.append(h('p', { class: 'muted empty' }, 'Choose a room, or create one.'));
    return { leave() {} };
  }
  const toggle = h('button', { type: 'button', class: 'only-phone', 'aria-label': 'Show rooms', onclick: () => sidebar.classList.toggle('open') }, '☰');
  return openRoom(view, roomId, app, { who, users, agents, toggle });
}

async function openRoom(view, roomId, app, { who, users, agents, toggle }) {
  const realtime = app.realtime;
  const [room, history] = await Promise.all([api(`/rooms/${roomId}`), api(`/rooms/${roomId}/messages`, { query: { limit: 100 } })]);
  const presence = new Map(Object.entries(room.presence || {}));
  const typing = new Map();
  const shown = new Map(); // message id -> node
  const pending = new Map(); // client_id -> node
  const streams = new Map(); // generation_id -> {node, body, text, agent}
  const presenceList = h('ul', { class: 'presence', 'aria-label': 'Members' });
  const log = h('div', { class: 'messages', role: 'log', 'aria-label': 'Room messages', 'aria-live': 'polite' });
  const typingLine = h('p', { class: 'typing muted', 'aria-live': 'polite' });
  const input = h('textarea', { rows: 2, placeholder: 'Message… (@agent to ask an agent)', 'aria-label': 'Room message' });
  const fileInput = h('input', { type: 'file', 'aria-label': 'Share a file', class: 'file' });
  const progress = h('progress', { max: 1, value: 0, hidden: true, 'aria-label': 'Upload progress' });
  const composer = h('form', { class: 'composer', 'aria-label': 'Send to the room' }, input,
    h('button', { type: 'submit', class: 'primary' }, 'Send'),
    h('label', { class: 'button attach' }, 'Attach', fileInput), progress);
  const conn = h('span', { class: 'badge conn-state', role: 'status' });
  const memberIds = new Set(room.members.map((m) => m.user_id));
  const roomAgents = room.agents.map((a) => a.agent_id);

  function renderPresence() {
    clear(presenceList, [...memberIds].map((id) => {
      const status = presence.get(id) || 'offline';
      return h('li', { class: `status-${status}`, title: status }, h('span', { class: 'dot', 'aria-hidden': 'true' }), `${who.user(id)} (${status})`);
    }), roomAgents.map((id) => h('li', { class: 'agent' }, `${who.agent(id)} (agent)`)));
  }

  function renderTyping() {
    const names = [...typing.keys()].map((id) => who.user(id));
    typingLine.textContent = names.length ? `${names.join(', ')} ${names.length > 1 ? 'are' : 'is'} typing…` : '';
  }

  function messageNode(message) {
    const author = message.agent_id ? who.agent(message.agent_id) : who.user(message.user_id);
    const body = h('div', { class: 'body' });
    if (message.file_id) {
      body.append(h('span', { class: 'file-chip' }, 'File: ', h('span', { class: 'file-name' }, message.content), ' ',
        h('button', { type: 'button', class: 'small', onclick: () => attempt(() => download(`/files/${message.file_id}`, message.content)) }, 'Download')));
    } else {
      renderInto(body, message.content);
    }
    return h('article', { class: `msg ${message.agent_id ? 'assistant' : message.user_id === app.me.id ? 'mine' : 'other'}`, 'data-seq': message.seq },
      h('div', { class: 'meta' }, h('strong', {}, author), ' ', new Date(message.created_at).toLocaleTimeString()), body);
  }

  function place(node) {
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
    log.append(node);
    if (atBottom) node.scrollIntoView({ block: 'end' });
  }

  function show(message) {
    if (shown.has(message.id)) return;
    const node = messageNode(message);
    shown.set(message.id, node);
    const waiting = message.client_id && pending.get(message.client_id);
    const generation = message.agent_id && [...streams.values()].find((s) => s.agent === message.agent_id);
    if (waiting) {
      waiting.replaceWith(node);
      pending.delete(message.client_id);
    } else if (generation) {
      generation.node.replaceWith(node);
      streams.delete(generation.id);
    } else {
      place(node);
    }
  }

  function aiEvent(frame) {
    let live = streams.get(frame.generation_id);
    if (frame.type === 'ai.start') {
      const body = h('div', { class: 'body' }, h('span', { class: 'cursor' }));
      const node = h('article', { class: 'msg assistant streaming', 'aria-busy': 'true' },
        h('div', { class: 'meta' }, h('strong', {}, who.agent(frame.agent_id)), ' ',
          h('button', { type: 'button', class: 'small', onclick: () => realtime.send({ type: 'cancel', room: roomId, generation_id: frame.generation_id }) }, 'Stop')), body);
      streams.set(frame.generation_id, { id: frame.generation_id, node, body, text: '', agent: frame.agent_id });
      place(node);
    } else if (frame.type === 'ai.delta' && live) {
      live.text += frame.delta;
      if (!live.scheduled) {
        live.scheduled = true;
        requestAnimationFrame(() => {
          live.scheduled = false;
          renderInto(live.body, live.text).append(h('span', { class: 'cursor' }));
        });
      }
    } else if (frame.type === 'ai.done') {
      if (live) {
        streams.delete(frame.generation_id);
        const node = messageNode(frame.message);
        live.node.replaceWith(node);
        shown.set(frame.message.id, node);
      }
    } else if (frame.type === 'ai.error' && live) {
      live.node.removeAttribute('aria-busy');
      live.body.append(h('p', { class: 'error', role: 'alert' }, frame.message));
      streams.delete(frame.generation_id);
    }
  }

  const handlers = {
    message: show,
    'ai.start': aiEvent, 'ai.delta': aiEvent, 'ai.done': aiEvent, 'ai.error': aiEvent,
    'presence.snapshot': (frame) => { presence.clear(); Object.entries(frame.users || {}).forEach(([id, s]) => presence.set(id, s)); renderPresence(); },
    presence: (frame) => { presence.set(frame.user_id, frame.status); memberIds.add(frame.user_id); renderPresence(); },
    typing: (frame) => {
      clearTimeout(typing.get(frame.user_id));
      if (frame.state && frame.user_id !== app.me.id) typing.set(frame.user_id, setTimeout(() => { typing.delete(frame.user_id); renderTyping(); }, 5000));
      else typing.delete(frame.user_id);
      renderTyping();
    },
    'agent.status': (frame) => {
      const doing = { thinking: 'is thinking…', generating: 'is answering…' }[frame.status];
      if (doing) typingLine.textContent = `${who.agent(frame.agent_id)} ${doing}`;
      else renderTyping();
    },
    'file.shared': (frame) => { if (frame.user_id !== app.me.id) toast(`${who.user(frame.user_id)} shared ${frame.file.name}`); },
    reset: () => attempt(reload),
    removed: () => { toast('You were removed from this room', 'error'); location.hash = '#/rooms'; },
    error: (frame) => toast(frame.message, 'error'),
  };
  const off = realtime.on((frame) => {
    if (frame.room && frame.room !== roomId) return;
    handlers[frame.type]?.(frame);
  });
  const offState = realtime.onState((state) => {
    conn.textContent = state === 'reconnecting' ? 'reconnecting…' : state;
    conn.dataset.state = state;
  });

  // Pages of earlier history, above what is shown.
  function olderButton(page) {
    log.querySelector('.older')?.remove();
    const first = page[0];
    if (!first || first.seq <= 1) return;
    log.prepend(h('button', { type: 'button', class: 'older small', onclick: () => attempt(async () => {
      const earlier = (await api(`/rooms/${roomId}/messages`, { query: { before: first.seq, limit: 100 } })).data;
      const anchor = log.querySelector('.older')?.nextSibling || null;
      for (const message of earlier) {
        if (shown.has(message.id)) continue;
        const node = messageNode(message);
        shown.set(message.id, node);
        log.insertBefore(node, anchor);
      }
      olderButton(earlier);
    }) }, 'Older messages'));
  }

  async function reload() {
    const latest = await api(`/rooms/${roomId}/messages`, { query: { limit: 100 } });
    clear(log);
    shown.clear();
    latest.data.forEach(show);
    olderButton(latest.data);
  }

  let lastTyping = 0;
  input.addEventListener('input', () => {
    if (Date.now() - lastTyping > 2500 && input.value) {
      lastTyping = Date.now();
      realtime.send({ type: 'typing', room: roomId, state: true });
    }
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });
  composer.addEventListener('submit', (event) => {
    event.preventDefault();
    const content = input.value.trim();
    if (!content) return;
    input.value = '';
    const clientId = crypto.randomUUID();
    const node = messageNode({ content, user_id: app.me.id, created_at: new Date().toISOString() });
    node.classList.add('pending');
    node.querySelector('.meta').append(h('span', { class: 'muted' }, ' sending…'));
    pending.set(clientId, node);
    place(node);
    realtime.send({ type: 'message', room: roomId, content, client_id: clientId });
    realtime.send({ type: 'typing', room: roomId, state: false });
    lastTyping = 0;
  });
  fileInput.addEventListener('change', async () => {
    const file = fileInput.files[0];
    if (!file) return;
    progress.hidden = false;
    progress.value = 0;
    const stored = await attempt(() => upload('/files', file, (done) => { progress.value = done; }));
    if (stored) await attempt(() => api(`/rooms/${roomId}/files`, { method: 'POST', body: { file_id: stored.id } }), `Shared ${stored.name}`);
    progress.hidden = true;
    fileInput.value = '';
  });

  const invite = h('details', { class: 'menu invite' }, h('summary', {}, 'Invite'), h('div', { class: 'menu-body stack' }, inviteForms()));
  function inviteForms() {
    const user = userPicker(app, users, 'User to invite');
    const role = h('select', { 'aria-label': 'Room role' }, ['member', 'read-only', 'owner'].map((r) => h('option', { value: r }, r)));
    const addPeople = h('form', { class: 'row' }, user, role, h('button', { type: 'submit' }, 'Add member'));
    addPeople.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (await attempt(() => api(`/rooms/${roomId}/members`, { method: 'POST', body: { user_id: user.value.trim(), role: role.value } }), 'Member added')) {
        memberIds.add(user.value.trim());
        renderPresence();
      }
    });
    const agent = h('select', { 'aria-label': 'Agent to add' }, agents.map((a) => h('option', { value: a.id }, `@${a.name}`)));
    const auto = h('input', { type: 'checkbox' });
    const bots = h('form', { class: 'row' }, agent, h('label', { class: 'check' }, auto, ' answers every message'), h('button', { type: 'submit' }, 'Add agent'));
    bots.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (await attempt(() => api(`/rooms/${roomId}/agents`, { method: 'POST', body: { agent_id: agent.value, auto_reply: auto.checked } }), 'Agent added')) {
        if (!roomAgents.includes(agent.value)) roomAgents.push(agent.value);
        renderPresence();
      }
    });
    return [addPeople, agents.length ? bots : null];
  }

  clear(view, h('div', { class: 'chat-head' }, toggle, h('h1', { class: 'title' }, room.name), conn, room.role !== 'read-only' ? invite : null),
    presenceList, log, typingLine, room.role === 'read-only' ? h('p', { class: 'muted' }, 'You may read this room.') : composer);
  history.data.forEach(show);
  olderButton(history.data);
  renderPresence();
  const lastSeq = history.data.length ? history.data[history.data.length - 1].seq : room.last_seq;
  realtime.join(roomId, lastSeq);
  input.focus();
  return {
    leave() {
      off();
      offState();
      realtime.leave(roomId);
    },
  };
}

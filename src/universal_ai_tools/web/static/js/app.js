// The shell: login, navigation between pages (hash routes), theme, session.

import { api, hasSession, login, logout, onExpired, refresh } from './api.js';
import { attempt, clear, field, h, toast } from './dom.js';
import { RealtimeClient } from './realtime.js';

const PAGES = {
  chat: { title: 'Chat', load: () => import('./chat.js') },
  agents: { title: 'Agents', load: () => import('./agents.js') },
  rooms: { title: 'Rooms', load: () => import('./rooms.js') },
  memory: { title: 'Memory', load: () => import('./memory.js') },
  settings: { title: 'Settings', load: () => import('./settings.js') },
  admin: { title: 'Admin', load: () => import('./admin.js'), admin: true },
};
const root = document.getElementById('app');
export const app = { me: null, realtime: null };

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  localStorage.setItem('uait.theme', theme);
}

function toggleTheme() {
  applyTheme(document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark');
}

applyTheme(localStorage.getItem('uait.theme') || (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'));

function loginPage(message) {
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true, autofocus: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const error = h('p', { class: 'error', role: 'alert' }, message || '');
  const form = h('form', { class: 'card login', 'aria-label': 'Log in' },
    h('h1', {}, 'Universal AI Tools'),
    field('Email', email), field('Password', password), error,
    h('button', { type: 'submit', class: 'primary' }, 'Log in'),
    h('details', { class: 'hint', open: true }, h('summary', {}, 'First start?'),
      h('p', {}, 'The server creates the first owner from ', h('code', {}, 'UAIT_ADMIN_EMAIL'), ' and ',
        h('code', {}, 'UAIT_ADMIN_PASSWORD'), '. When those are unset, log in as ', h('code', {}, 'admin@localhost'),
        ' with the password the server printed once on its terminal, then change it under Settings.')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    error.textContent = '';
    try {
      await login(email.value.trim(), password.value);
      await start();
    } catch (failure) {
      error.textContent = failure.message;
    }
  });
  clear(root, h('main', { id: 'main', class: 'center' }, form));
  email.focus();
}

function shell() {
  const links = Object.entries(PAGES)
    .filter(([, page]) => !page.admin || ['admin', 'owner'].includes(app.me.role))
    .map(([name, page]) => h('a', { href: `#/${name}`, 'data-page': name }, page.title));
  const status = h('span', { class: 'conn', id: 'conn', role: 'status' });
  const nav = h('nav', { 'aria-label': 'Main' }, links);
  const header = h('header', { class: 'top' },
    h('a', { class: 'brand', href: '#/chat' }, 'UAIT'),
    nav, status,
    h('span', { class: 'who', title: app.me.email }, app.me.email),
    h('button', { type: 'button', class: 'icon', 'aria-label': 'Toggle dark theme', title: 'Toggle theme', onclick: toggleTheme }, '◐'),
    h('button', { type: 'button', onclick: signOut }, 'Log out'));
  clear(root, header, h('main', { id: 'main', tabindex: -1 }));
  app.realtime.onState((state) => {
    status.textContent = state === 'connected' ? '' : state === 'reconnecting' ? 'reconnecting…' : state;
    status.dataset.state = state;
  });
}

let current = null;
let navigation = 0;

// Each page mounts into a fresh view; a navigation that a newer one overtook is dropped.
async function route() {
  if (!app.me) return;
  const turn = ++navigation;
  const [asked = 'chat', ...rest] = location.hash.replace(/^#\/?/, '').split('/');
  const name = PAGES[asked] ? asked : 'chat';
  const page = PAGES[name];
  const main = document.getElementById('main');
  for (const link of document.querySelectorAll('nav a')) {
    if (link.dataset.page === name) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  current?.leave?.();
  current = null;
  const module = await page.load();
  if (turn !== navigation) return;
  document.title = `${page.title} · Universal AI Tools`;
  const view = h('div', { class: 'view', 'data-route': name });
  clear(main, view);
  const mounted = (await attempt(() => module.mount(view, rest.map(decodeURIComponent), app))) || null;
  if (turn === navigation) current = mounted;
  else mounted?.leave?.();
}

async function start() {
  app.me = await api('/auth/me');
  app.realtime = new RealtimeClient();
  shell();
  app.realtime.connect();
  await route();
}

async function signOut() {
  app.realtime?.close();
  app.me = null;
  await logout();
  history.replaceState(null, '', '#/chat');
  loginPage();
}

onExpired(() => {
  if (!app.me) return;
  app.realtime?.close();
  app.me = null;
  loginPage('Your session ended; log in again.');
});

window.addEventListener('hashchange', route);
// The skip link moves focus without touching the hash (the hash is the page's route).
document.querySelector('.skip').addEventListener('click', (event) => {
  event.preventDefault();
  document.getElementById('main')?.focus();
});
window.addEventListener('keydown', (event) => {
  if (event.altKey && /^[1-6]$/.test(event.key)) {
    const link = document.querySelectorAll('nav a')[Number(event.key) - 1];
    if (link) location.hash = link.getAttribute('href');
  }
});

(async () => {
  if (hasSession() && (await refresh().catch(() => false))) {
    await start().catch((error) => { toast(error.message, 'error'); loginPage(); });
  } else {
    loginPage();
  }
  document.documentElement.dataset.ready = 'true';
  performance.mark('uait-interactive');
})();

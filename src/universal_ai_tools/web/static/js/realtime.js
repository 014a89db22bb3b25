// The /ws client: authenticates with its first frame, joins rooms, and after a drop
// reconnects with backoff and rejoins with `since` = the last seq it saw, so nothing is
// missed or shown twice. Messages sent while disconnected wait in an outbox and are
// resent with the same client_id (the server stores them once).

import { freshToken } from './api.js';

export class RealtimeClient {
  constructor() {
    this.rooms = new Map(); // room id -> last seq seen
    this.listeners = new Set();
    this.stateListeners = new Set();
    this.outbox = [];
    this.state = 'connecting';
    this.attempt = 0;
    this.closed = false;
    this.ws = null;
    this.timer = null;
    this.onOffline = () => this.drop();
    this.onOnline = () => { if (this.state !== 'connected') this.reconnectNow(); };
    window.addEventListener('offline', this.onOffline);
    window.addEventListener('online', this.onOnline);
  }

  on(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onState(listener) {
    this.stateListeners.add(listener);
    listener(this.state);
    return () => this.stateListeners.delete(listener);
  }

  setState(state) {
    this.state = state;
    this.stateListeners.forEach((listener) => listener(state));
  }

  async connect() {
    if (this.closed) return;
    const token = await freshToken().catch(() => null);
    if (this.closed) return;
    if (!token) return this.retry();
    const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
    this.ws = ws;
    ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', token }));
    ws.onmessage = (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch { return; }
      this.receive(frame);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (!this.closed) this.retry();
    };
  }

  receive(frame) {
    if (frame.type === 'ready') {
      this.attempt = 0;
      this.setState('connected');
      for (const [room, seq] of this.rooms) this.send({ type: 'join', room, since: seq ?? undefined });
      const waiting = this.outbox.splice(0);
      waiting.forEach((item) => this.send(item));
    }
    if (frame.type === 'message' && this.rooms.has(frame.room)) {
      const last = this.rooms.get(frame.room);
      if (last !== null && frame.seq <= last) return; // already shown
      this.rooms.set(frame.room, frame.seq);
    }
    if (frame.type === 'joined' && this.rooms.get(frame.room) === null) this.rooms.set(frame.room, frame.last_seq);
    if (frame.type === 'reset') this.rooms.set(frame.room, frame.last_seq);
    this.listeners.forEach((listener) => listener(frame));
  }

  retry() {
    this.setState('reconnecting');
    clearTimeout(this.timer);
    const delay = Math.min(10000, 500 * 2 ** this.attempt) * (0.75 + Math.random() / 2);
    this.attempt += 1;
    this.timer = setTimeout(() => this.connect(), delay);
  }

  reconnectNow() {
    clearTimeout(this.timer);
    if (!this.ws) this.connect();
  }

  // A network drop the browser knows of: close now and show "reconnecting…".
  drop() {
    const ws = this.ws;
    this.ws = null;
    ws?.close();
    if (!this.closed) this.retry();
  }

  send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN && this.state === 'connected') {
      this.ws.send(JSON.stringify(frame));
      return true;
    }
    if (frame.type === 'message') this.outbox.push(frame);
    return false;
  }

  // Join a room whose history up to `seq` the page already shows (null: live only).
  join(room, seq) {
    this.rooms.set(room, seq);
    this.send({ type: 'join', room, since: seq ?? undefined });
  }

  leave(room) {
    this.rooms.delete(room);
    this.send({ type: 'leave', room });
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    window.removeEventListener('offline', this.onOffline);
    window.removeEventListener('online', this.onOnline);
    this.ws?.close();
    this.ws = null;
    this.setState('closed');
  }
}

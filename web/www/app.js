// The browser chat client: ackwire (WebAssembly, ../src/lib.rs) over a
// WebSocket, messages and outbox in IndexedDB.
//
// URL: ?id=CLIENT&token=HEX&conv=CONVERSATION&server=ws://HOST:PORT/
// (the token is `chat_server --print-token CLIENT`).
//
// The rules the native clients follow (examples/chat/app.rs), here too:
// - a delivered message is committed (so acknowledged) only after the
//   IndexedDB transaction that stores it completed;
// - a send is in the outbox in IndexedDB before it goes out; every send
//   without a receipt goes out again, same identity, on each connection;
// - each connection resumes the conversation from the newest version in
//   IndexedDB, so a reload or a dropped socket loses and repeats nothing.
import init, { WebConfig, WebConnection } from './pkg/ackwire_web.js';

const OUTBOX = 0n; // the client's own stream (wire.rs: OUTBOX)
const KEEPALIVE = (1n << 64n) - 1n; // at-most-once keep-alives (wire.rs)

const params = new URLSearchParams(location.search);
const client = BigInt(params.get('id') ?? '0');
const token = unhex(params.get('token') ?? '');
const conv = Number(params.get('conv') ?? '1');
const server = params.get('server') ?? `ws://${location.hostname}:7711/`;

const $ = (id) => document.getElementById(id);
const now = () => performance.now();

// ---- IndexedDB -----------------------------------------------------------

function request(r) {
  return new Promise((ok, fail) => {
    r.onsuccess = () => ok(r.result);
    r.onerror = () => fail(r.error);
  });
}

function completion(tx) {
  return new Promise((ok, fail) => {
    tx.oncomplete = () => ok();
    tx.onerror = () => fail(tx.error);
    tx.onabort = () => fail(tx.error ?? new Error('transaction aborted'));
  });
}

async function openDb() {
  const open = indexedDB.open(`ackwire-chat-${client}`, 1);
  open.onupgradeneeded = () => {
    const db = open.result;
    // A committed message, once per (conversation, version).
    db.createObjectStore('messages', { keyPath: ['conv', 'version'] });
    // A send: { v, conv, text, receipt (Uint8Array once acked, else null) }.
    db.createObjectStore('outbox', { keyPath: 'v' });
  };
  return request(open);
}

// ---- state ---------------------------------------------------------------

let db;
const heads = new Map(); // conversation -> newest version stored
const outbox = new Map(); // outbox version -> entry, as in IndexedDB
let conn = null; // the WebConnection of the current socket
let ws = null;
let generation = 0; // bumped on every new or lost socket
let keepaliveMs = 15000;
let lastSent = 0;
let lastHeard = 0;
let timer = null;
let backoff = 100;
let writes = Promise.resolve(); // the current connection's IndexedDB writes, in order
let connections = 0; // sockets accepted by a server, for the console and tests

function setStatus(state, text) {
  const s = $('status');
  s.dataset.state = state;
  s.textContent = text ?? state;
}

function head(c) {
  return heads.get(c) ?? 0;
}

// ---- wire formats (examples/chat/wire.rs) --------------------------------

function unhex(s) {
  const b = new Uint8Array(s.length / 2);
  for (let i = 0; i < b.length; i++) b[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return b;
}

function hello() {
  // "ACKW" | 1 | client u64 | token [32] | acked outbox u64 | count u16
  //        | count x (conversation u64, head u64), big-endian.
  const b = new Uint8Array(4 + 1 + 8 + 32 + 8 + 2 + 16);
  const d = new DataView(b.buffer);
  b.set([0x41, 0x43, 0x4b, 0x57, 1]);
  d.setBigUint64(5, client);
  b.set(token.subarray(0, 32), 13);
  d.setBigUint64(45, BigInt(ackedOutbox()));
  d.setUint16(53, 1);
  d.setBigUint64(55, BigInt(conv));
  d.setBigUint64(63, BigInt(head(conv)));
  return b;
}

// Every send up to this outbox version has its receipt.
function ackedOutbox() {
  let v = 0;
  for (const o of sortedOutbox()) {
    if (o.v !== v + 1 || !o.receipt) break;
    v = o.v;
  }
  return v;
}

function outboxPayload(c, text) {
  const t = new TextEncoder().encode(text);
  const b = new Uint8Array(8 + t.length);
  new DataView(b.buffer).setBigUint64(0, BigInt(c));
  b.set(t, 8);
  return b;
}

function parseConversationPayload(p) {
  const d = new DataView(p.buffer, p.byteOffset, p.byteLength);
  return {
    sender: d.getBigUint64(0).toString(),
    outbox: d.getBigUint64(8).toString(),
    text: new TextDecoder().decode(p.subarray(16)),
  };
}

function sortedOutbox() {
  return [...outbox.values()].sort((a, b) => a.v - b.v);
}

// ---- the page ------------------------------------------------------------

function show(m) {
  const p = parseConversationPayload(m.payload);
  const li = document.createElement('li');
  li.dataset.conv = m.conv;
  li.dataset.version = m.version;
  li.dataset.prev = m.prev;
  li.dataset.sender = p.sender;
  li.dataset.outbox = p.outbox;
  li.value = m.version;
  const from = document.createElement('span');
  from.className = 'from';
  from.textContent = `${p.sender}: `;
  li.append(from, p.text);
  $('messages').append(li);
}

function showOutbox() {
  const waiting = sortedOutbox().filter((o) => !o.receipt).length;
  $('outbox').textContent = waiting ? `${waiting} waiting to be stored` : '';
  $('outbox').dataset.waiting = waiting;
}

// ---- the connection --------------------------------------------------------

let config; // built once the WebAssembly is loaded

// Both ends' settings (wire.rs: config()).
function chatConfig() {
  const c = new WebConfig();
  c.maxPacketSize = 8 * 1024;
  c.maxRetransmits = 30;
  c.maxRtoMs = 2000;
  c.peerDeadAfterMs = 20000;
  return c;
}

function connect() {
  const gen = ++generation;
  setStatus('connecting', `connecting to ${server}…`);
  const socket = new WebSocket(server);
  socket.binaryType = 'arraybuffer';
  ws = socket;
  let accepted = false;
  socket.onopen = () => socket.send(hello());
  socket.onmessage = (ev) => {
    if (gen !== generation) return;
    const data = new Uint8Array(ev.data);
    if (!accepted) {
      // The 5-byte reply: status u8 (0 ok) | keep-alive ms u32.
      if (data.length !== 5 || data[0] !== 0) {
        setStatus('refused', `refused (status ${data[0]})`);
        socket.close();
        return;
      }
      accepted = true;
      backoff = 100;
      keepaliveMs = Math.max(100, new DataView(data.buffer).getUint32(1));
      opened();
      return;
    }
    lastHeard = now();
    try {
      conn.handleInput(now(), data);
    } catch (e) {
      console.warn('packet rejected', e);
    }
    pump();
  };
  socket.onclose = () => {
    if (gen === generation) lost();
  };
}

// A new socket gets a new connection, resumed from IndexedDB, and every
// send without a receipt again.
function opened() {
  const c = new WebConnection(config, 0n);
  c.resume(BigInt(conv), BigInt(head(conv)));
  const t = now();
  for (const o of sortedOutbox()) {
    if (!o.receipt) sendOn(c, t, o);
  }
  conn = c;
  writes = Promise.resolve();
  connections++;
  lastSent = lastHeard = t;
  setStatus('connected', `connected to ${server}`);
  pump();
}

function sendOn(c, t, o) {
  try {
    c.send(t, OUTBOX, BigInt(o.v - 1), BigInt(o.v), outboxPayload(o.conv, o.text), true);
  } catch (e) {
    // Backpressure: it goes out on the next connection.
    console.warn('send refused', e);
  }
}

function lost() {
  generation++;
  clearTimeout(timer);
  if (conn) conn.free();
  conn = null;
  if (ws) ws.close();
  ws = null;
  setStatus('disconnected', 'disconnected: reconnecting…');
  setTimeout(connect, backoff);
  backoff = Math.min(backoff * 2, 2000);
}

// The run loop: packets out, events, then sleep until the next deadline.
function pump() {
  const c = conn;
  if (!c) return;
  let dead = false;
  for (;;) {
    const t = now();
    let p;
    while ((p = c.pollTransmit(t)) !== undefined) {
      ws.send(p);
      lastSent = t;
    }
    const batch = [];
    let e;
    let more = false;
    while ((e = c.pollEvent()) !== undefined) {
      switch (e.kind) {
        case 'deliver':
          if (e.stream !== OUTBOX) {
            batch.push({ conv: Number(e.stream), prev: Number(e.prev), version: Number(e.version), payload: e.payload });
          }
          break;
        case 'acked':
          if (e.stream === OUTBOX) recordReceipt(Number(e.version), e.receipt ?? new Uint8Array());
          break;
        case 'escalated':
          // "Failed, tap to retry", tapped at once: the same identity.
          try {
            c.send(t, e.stream, e.prev, e.version, e.payload, true);
          } catch (err) {
            console.warn(err);
          }
          more = true;
          break;
        case 'sync_requested':
          answerSync(c, t, e);
          more = true;
          break;
        case 'peer_dead':
        case 'closed':
          dead = true;
          break;
        default:
          break;
      }
      e.free();
    }
    if (batch.length) store(c, batch);
    if (!more) break;
  }
  if (dead) {
    lost();
    return;
  }
  schedule();
}

// Stores a batch of delivered messages in one transaction; commits them
// only once it completed. One connection's writes go one at a time, in
// delivery order, and stop at the first that fails: a failed write (quota,
// an aborted transaction) ends the connection, and the next one resumes
// after what IndexedDB holds, so nothing after a lost batch is stored past
// a hole. A socket lost meanwhile commits (and writes) nothing more.
function store(c, batch) {
  writes = writes.then(() => {
    if (conn !== c) return undefined;
    const tx = db.transaction('messages', 'readwrite');
    const s = tx.objectStore('messages');
    for (const m of batch) s.put(m);
    return completion(tx).then(
      () => {
        for (const m of batch) {
          // Delivered again after a reconnect raced an earlier write.
          if (m.version > head(m.conv)) {
            heads.set(m.conv, m.version);
            show(m);
          }
        }
        if (conn !== c) return;
        for (const m of batch) {
          try {
            c.commit(now(), BigInt(m.conv), BigInt(m.version));
          } catch (e) {
            console.warn('commit', e);
          }
        }
        pump();
      },
      (err) => {
        console.warn('IndexedDB write failed: reconnecting, the messages come again', err);
        if (conn === c) lost();
      },
    );
  });
}

// The server's resume asks what follows its stored head of the outbox.
function answerSync(c, t, e) {
  const after = e.version;
  const rest = sortedOutbox().filter((o) => BigInt(o.v) > after);
  const page = rest.slice(0, e.limit);
  for (const o of page) {
    c.syncPagePush(OUTBOX, BigInt(o.v - 1), BigInt(o.v), outboxPayload(o.conv, o.text), true);
  }
  try {
    c.answerSync(t, e.request, rest.length > page.length);
  } catch (err) {
    console.warn('answer sync', err);
  }
}

function recordReceipt(v, receipt) {
  const o = outbox.get(v);
  if (!o || o.receipt) return;
  const done = { ...o, receipt };
  const tx = db.transaction('outbox', 'readwrite');
  tx.objectStore('outbox').put(done);
  completion(tx).then(() => {
    outbox.set(v, done);
    showOutbox();
  });
}

function schedule() {
  clearTimeout(timer);
  const c = conn;
  if (!c) return;
  const t = now();
  let due = Math.min(t + 1000, lastSent + keepaliveMs);
  const deadline = c.pollTimeout();
  if (deadline !== undefined) due = Math.min(due, deadline);
  timer = setTimeout(tick, Math.max(0, due - t));
}

function tick() {
  const c = conn;
  if (!c) return;
  const t = now();
  // The server is gone without a close (a killed host): move on.
  if (t - lastHeard > 3 * keepaliveMs) {
    lost();
    return;
  }
  if (t - lastSent >= keepaliveMs) {
    try {
      c.sendDatagram(t, KEEPALIVE, new Uint8Array());
    } catch (e) {
      console.warn(e);
    }
  }
  c.handleTimeout(t);
  pump();
}

// ---- sending ---------------------------------------------------------------

let sending = Promise.resolve();

// Puts a send in the outbox (IndexedDB first), then on the connection.
// Resolves to its outbox version.
function send(text) {
  const next = sending.then(async () => {
    const v = (sortedOutbox().at(-1)?.v ?? 0) + 1;
    const o = { v, conv, text, receipt: null };
    const tx = db.transaction('outbox', 'readwrite');
    tx.objectStore('outbox').put(o);
    await completion(tx);
    outbox.set(v, o);
    showOutbox();
    if (conn) {
      sendOn(conn, now(), o);
      pump();
    }
    return v;
  });
  sending = next.catch(() => {});
  return next;
}

// ---- start -----------------------------------------------------------------

async function dump() {
  const tx = db.transaction(['messages', 'outbox'], 'readonly');
  const messages = await request(tx.objectStore('messages').getAll());
  const sends = await request(tx.objectStore('outbox').getAll());
  return {
    messages: messages.map((m) => ({ conv: m.conv, prev: m.prev, version: m.version, ...parseConversationPayload(m.payload) })),
    outbox: sends.map((o) => ({ v: o.v, conv: o.conv, text: o.text, acked: o.receipt !== null })),
  };
}

async function main() {
  $('who').textContent = `client ${client}, conversation ${conv}`;
  await init();
  config = chatConfig();
  db = await openDb();
  // Resume: what IndexedDB holds is shown, in order, before anything new.
  const tx = db.transaction(['messages', 'outbox'], 'readonly');
  const stored = await request(tx.objectStore('messages').getAll());
  for (const o of await request(tx.objectStore('outbox').getAll())) outbox.set(o.v, o);
  for (const m of stored) {
    if (m.conv !== conv) continue;
    heads.set(m.conv, m.version);
    show(m);
  }
  showOutbox();
  $('compose').onsubmit = (ev) => {
    ev.preventDefault();
    const text = $('text').value;
    $('text').value = '';
    if (text) send(text);
  };
  // For tests and the console.
  window.chat = {
    send,
    dump,
    dropSocket: () => ws && ws.close(),
    connected: () => conn !== null,
    connections: () => connections,
  };
  connect();
}

main().catch((e) => {
  setStatus('failed', `failed: ${e}`);
  console.error(e);
});

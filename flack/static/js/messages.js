// The open channel's messages: in id order, each message once, whatever order events arrive in.
import { GENERAL } from './channels.js';
import { hueClass } from './users.js';

const PAGE_SIZE = 50;

// general's messages are the original API's /api/messages.
export const messagesPath = (channelId) =>
  channelId === GENERAL ? '/api/messages' : `/api/channels/${channelId}/messages`;

export class MessageList {
  constructor(element, { users, request, me }) {
    this.element = element;
    this.users = users;
    this.request = request;
    this.me = me;
    this.messages = new Map();
    this.items = new Map();
    this.channelId = GENERAL;
    this.loadingOlder = false;
    this.reachedStart = false;
    element.addEventListener('scroll', () => {
      if (element.scrollTop < 40) this.loadOlder();
    });
    // A nickname can change or arrive after the message: redraw that author's lines.
    users.onChange((user) => {
      for (const message of this.messages.values()) {
        if (message.user_id === user.id) this.draw(message);
      }
    });
  }

  path() {
    return messagesPath(this.channelId);
  }

  // Another channel's messages in place of these.
  async show(channelId) {
    this.clear();
    this.channelId = channelId;
    await this.loadLatest();
  }

  // The newest page, then older ones as the reader scrolls up.
  async loadLatest() {
    const channelId = this.channelId;
    const { messages } = await this.request('GET', `${this.path()}?limit=${PAGE_SIZE}`);
    if (channelId !== this.channelId) return; // another channel was opened meanwhile
    this.reachedStart = messages.length < PAGE_SIZE;
    this.addAll(messages);
    this.scrollToBottom();
  }

  async loadOlder() {
    if (this.loadingOlder || this.reachedStart || this.messages.size === 0) return;
    this.loadingOlder = true;
    const channelId = this.channelId;
    try {
      const before = this.oldestId();
      const { messages } = await this.request('GET', `${this.path()}?limit=${PAGE_SIZE}&before=${before}`);
      if (channelId !== this.channelId) return;
      this.reachedStart = messages.length < PAGE_SIZE;
      const fromBottom = this.element.scrollHeight - this.element.scrollTop;
      this.addAll(messages);
      this.element.scrollTop = this.element.scrollHeight - fromBottom; // keep the reader's place
    } finally {
      this.loadingOlder = false;
    }
  }

  addAll(messages) {
    for (const message of messages) this.update(message);
  }

  // An event's or a catch-up's message: shown if it is among or after the
  // messages shown. One from before them (an old message edited or deleted)
  // is left out, so that scrolling back reads every message in between; it
  // is read, as it is then, when the reader gets there.
  merge(message) {
    const before = this.messages.size > 0 && !this.messages.has(message.id) && message.id < this.oldestId();
    if (!before || this.reachedStart) this.update(message);
  }

  mergeAll(messages) {
    for (const message of messages) this.merge(message);
  }

  oldestId() {
    return Math.min(...this.messages.keys());
  }

  // The newest message shown, which marks the channel read up to it.
  newestId() {
    let newest = 0;
    for (const [id, message] of this.messages) if (!message.deleted) newest = Math.max(newest, id);
    return newest;
  }

  latestChange() {
    let latest = 0;
    for (const message of this.messages.values()) latest = Math.max(latest, message.updated_at);
    return latest;
  }

  // The answer to this client's own post or edit. The event its commit sent
  // carries the same change or a later one (link previews, added within
  // the same second, have the same updated_at), so the answer only shows
  // what no event has brought yet.
  updateFromAnswer(message) {
    const known = this.messages.get(message.id);
    if (!known || known.updated_at < message.updated_at) this.update(message);
    else this.draw(known); // an edit's form gives way to what the event brought
  }

  update(message) {
    const known = this.messages.get(message.id);
    if (known && known.updated_at > message.updated_at) return; // an older event arriving late
    if (known && known.deleted) return; // nothing comes back from a deletion
    const atBottom = this.isAtBottom();
    // A deleted message's tombstone is kept, unshown, to refuse late events about it.
    this.messages.set(message.id, message);
    if (message.deleted) {
      this.items.get(message.id)?.remove();
      this.items.delete(message.id);
      return;
    }
    this.draw(message);
    if (!known && atBottom) this.scrollToBottom();
  }

  draw(message) {
    let item = this.items.get(message.id);
    if (!item) {
      item = document.createElement('li');
      item.className = 'message';
      item.dataset.messageId = message.id;
      this.items.set(message.id, item);
      this.insertInOrder(item, message.id);
    }
    if (item.dataset.editing === 'true') return;
    const author = this.users.get(message.user_id);
    const name = document.createElement('span');
    name.className = `author ${hueClass(message.user_id)}`;
    name.textContent = author ? author.nickname : `user ${message.user_id}`;
    const time = document.createElement('time');
    time.className = 'time';
    time.dateTime = new Date(message.created_at * 1000).toISOString();
    time.textContent = new Date(message.created_at * 1000).toLocaleTimeString();
    const meta = document.createElement('div');
    meta.className = 'meta';
    meta.append(name, time);
    if (message.updated_at > message.created_at) {
      const edited = document.createElement('span');
      edited.className = 'time';
      edited.textContent = '(edited)';
      meta.append(edited);
    }
    const mine = message.user_id === this.me().userId;
    if (mine) {
      const edit = document.createElement('button');
      edit.type = 'button';
      edit.className = 'edit';
      edit.textContent = 'edit';
      edit.addEventListener('click', () => this.startEditing(message.id));
      meta.append(edit);
    }
    // Administrators delete any message (the server checks it too).
    if (mine || this.users.get(this.me().userId)?.admin) {
      const remove = document.createElement('button');
      remove.type = 'button';
      remove.className = 'delete';
      remove.textContent = 'delete';
      remove.addEventListener('click', () => this.remove(message.id, meta));
      meta.append(remove);
    }
    const body = document.createElement('div');
    body.className = 'body';
    // The one place HTML is inserted: the server renders and sanitizes it.
    body.innerHTML = message.html;
    item.replaceChildren(meta, body);
  }

  async remove(id, meta) {
    try {
      await this.request('DELETE', `/api/messages/${id}`);
      // The tombstone's event removes it, here and for everyone.
    } catch (failure) {
      const error = document.createElement('span');
      error.className = 'error';
      error.textContent = failure.message;
      meta.append(error);
    }
  }

  insertInOrder(item, id) {
    const later = [...this.items.entries()]
      .filter(([otherId, other]) => otherId > id && other.isConnected)
      .sort(([a], [b]) => a - b)[0];
    this.element.insertBefore(item, later ? later[1] : null);
  }

  startEditing(id) {
    const item = this.items.get(id);
    const message = this.messages.get(id);
    item.dataset.editing = 'true';
    const field = document.createElement('textarea');
    field.value = message.source;
    field.rows = 3;
    const save = document.createElement('button');
    save.type = 'button';
    save.textContent = 'Save';
    const cancel = document.createElement('button');
    cancel.type = 'button';
    cancel.textContent = 'Cancel';
    const error = document.createElement('p');
    error.className = 'error';
    const stop = () => {
      delete item.dataset.editing;
      this.draw(this.messages.get(id));
    };
    save.addEventListener('click', async () => {
      try {
        await this.request('PUT', `/api/messages/${id}`, { body: { source: field.value } });
        const edited = await this.request('GET', `/api/messages/${id}`);
        delete item.dataset.editing;
        this.updateFromAnswer(edited);
      } catch (failure) {
        error.textContent = failure.message;
      }
    });
    cancel.addEventListener('click', stop);
    item.replaceChildren(field, save, cancel, error);
    field.focus();
  }

  isAtBottom() {
    return this.element.scrollHeight - this.element.scrollTop - this.element.clientHeight < 40;
  }

  scrollToBottom() {
    this.element.scrollTop = this.element.scrollHeight;
  }

  clear() {
    this.messages.clear();
    this.items.clear();
    this.element.replaceChildren();
    this.reachedStart = false;
  }
}

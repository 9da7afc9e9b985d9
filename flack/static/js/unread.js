// Unread counts per channel and conversation, and their sum in the page title.
//
// The server's counts (GET /api/unread) are taken at start and after every
// connect; between them, the events of messages this page is not showing
// add to them. A message is counted once, whatever number of events it
// brings (its previews, its edits), and taken off if it is deleted. The
// server says which message its count went up to (newest_id): an event
// about one after it adds to the count, one about it or before is in it
// already, however the event and the answer crossed.

const TITLE = 'Flack';

export class UnreadCounts {
  constructor({ me, onChange }) {
    this.me = me;
    this.onChange = onChange;
    this.channels = new Map(); // channel id -> the state below
  }

  state(channelId) {
    if (!this.channels.has(channelId)) {
      this.channels.set(channelId, {
        lastRead: 0, // the last message id read
        counted: 0, // the server's count
        newest: 0, // the newest message id the server's count saw
        heard: new Set(), // ids after newest, counted here
        takenOff: new Set(), // ids up to newest, in the server's count, deleted since
      });
    }
    return this.channels.get(channelId);
  }

  lastRead(channelId) {
    return this.channels.get(channelId)?.lastRead ?? 0;
  }

  reset(entries) {
    const before = this.channels;
    this.channels = new Map();
    for (const { channel_id: id, last_read_id: lastRead, unread, newest_id: newest } of entries) {
      const state = this.state(id);
      Object.assign(state, { lastRead: lastRead ?? 0, counted: unread, newest: newest ?? 0 });
      // What was heard here of messages the server's count had not seen yet.
      for (const messageId of before.get(id)?.heard ?? []) {
        if (messageId > state.newest && messageId > state.lastRead) state.heard.add(messageId);
      }
    }
    this.changed();
  }

  count(channelId) {
    const state = this.channels.get(channelId);
    return state ? Math.max(0, state.counted + state.heard.size - state.takenOff.size) : 0;
  }

  total() {
    let sum = 0;
    for (const id of this.channels.keys()) sum += this.count(id);
    return sum;
  }

  // A message's event, for a channel whose messages are not in view.
  add(channelId, message) {
    const state = this.state(channelId);
    if (message.user_id === this.me().userId || message.id <= state.lastRead) return;
    const { id } = message;
    if (id > state.newest) {
      if (message.deleted ? !state.heard.delete(id) : state.heard.has(id)) return;
      if (!message.deleted) state.heard.add(id);
    } else {
      if (!message.deleted || state.takenOff.has(id)) return;
      state.takenOff.add(id);
    }
    this.changed();
  }

  // Everything up to ``messageId`` is read in this channel. What the server
  // counted after it is not, and is counted again when its event comes.
  read(channelId, messageId) {
    const state = this.state(channelId);
    state.lastRead = Math.max(messageId, state.lastRead);
    state.newest = state.lastRead;
    state.counted = 0;
    state.heard.clear();
    state.takenOff.clear();
    this.changed();
  }

  forget(channelId) {
    this.channels.delete(channelId);
    this.changed();
  }

  changed() {
    const total = this.total();
    document.title = total ? `(${total}) ${TITLE}` : TITLE;
    this.onChange();
  }
}

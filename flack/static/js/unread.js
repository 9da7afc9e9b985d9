// Unread counts per channel and conversation, and their sum in the page title.
//
// The server's counts (GET /api/unread) are taken at start and after a
// reconnect; between them, the events of messages this page is not showing
// add to them. A message is counted once, whatever number of events it
// brings (its previews, its edits), and taken off if it is deleted.

const TITLE = 'Flack';

export class UnreadCounts {
  constructor({ me, onChange }) {
    this.me = me;
    this.onChange = onChange;
    this.lastRead = new Map(); // channel id -> the last message id read
    this.counts = new Map(); // channel id -> unread messages
    this.counted = new Map(); // channel id -> the ids this page counted
  }

  reset(entries) {
    this.lastRead.clear();
    this.counts.clear();
    this.counted.clear();
    for (const { channel_id: id, last_read_id: lastRead, unread } of entries) {
      this.lastRead.set(id, lastRead ?? 0);
      this.counts.set(id, unread);
    }
    this.changed();
  }

  count(channelId) {
    return this.counts.get(channelId) ?? 0;
  }

  total() {
    let sum = 0;
    for (const count of this.counts.values()) sum += count;
    return sum;
  }

  // A message's event, for a channel whose messages are not in view.
  add(channelId, message) {
    const counted = this.counted.get(channelId) ?? new Set();
    this.counted.set(channelId, counted);
    if (message.deleted) {
      if (counted.delete(message.id)) this.counts.set(channelId, Math.max(0, this.count(channelId) - 1));
    } else if (
      message.user_id !== this.me().userId &&
      message.id > (this.lastRead.get(channelId) ?? 0) &&
      !counted.has(message.id)
    ) {
      counted.add(message.id);
      this.counts.set(channelId, this.count(channelId) + 1);
    } else {
      return;
    }
    this.changed();
  }

  // Everything up to ``messageId`` is read in this channel.
  read(channelId, messageId) {
    this.lastRead.set(channelId, Math.max(messageId, this.lastRead.get(channelId) ?? 0));
    this.counts.set(channelId, 0);
    this.counted.delete(channelId);
    this.changed();
  }

  forget(channelId) {
    this.lastRead.delete(channelId);
    this.counts.delete(channelId);
    this.counted.delete(channelId);
    this.changed();
  }

  changed() {
    const total = this.total();
    document.title = total ? `(${total}) ${TITLE}` : TITLE;
    this.onChange();
  }
}

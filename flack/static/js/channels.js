// The sidebar's channels and direct conversations: which exist, which are
// yours, which one is open, and how many of their messages are unread.
import { hueClass } from './users.js';

export const GENERAL = 1;

// A message in general names no channel (the original API's shape).
export const channelOf = (message) => message.channel_id ?? GENERAL;

export class ChannelNav {
  constructor(elements, { users, unread, request, me, act, onSelect }) {
    this.elements = elements;
    this.users = users;
    this.unread = unread;
    this.request = request;
    this.me = me;
    this.act = act; // runs a user's action, and says if it fails
    this.onSelect = onSelect;
    this.channels = new Map(); // public channels, id -> channel
    this.mine = new Set([GENERAL]); // the public channels you are a member of
    this.conversations = new Map(); // your direct conversations, id -> channel
    this.current = GENERAL;
    this.learning = new Map(); // channel id -> the promise of learn()
    // A conversation is named after the other person, who may be renamed.
    users.onChange(() => this.render());
  }

  async load() {
    const [all, mine, direct, unread] = await Promise.all([
      this.request('GET', '/api/channels'),
      this.request('GET', '/api/channels?member=1'),
      this.request('GET', '/api/conversations'),
      this.request('GET', '/api/unread'),
    ]);
    this.channels = new Map(all.channels.map((channel) => [channel.id, channel]));
    this.mine = new Set(mine.channels.map((channel) => channel.id));
    this.conversations = new Map(direct.channels.map((channel) => [channel.id, channel]));
    if (!this.isOpen(this.current)) this.current = GENERAL; // left, or gone, while away
    this.unread.reset(unread.channels);
  }

  clear() {
    this.channels.clear();
    this.mine = new Set([GENERAL]);
    this.conversations.clear();
    this.current = GENERAL;
  }

  // A channel whose messages this page reads: one of yours.
  isOpen(id) {
    return this.mine.has(id) || this.conversations.has(id);
  }

  get(id) {
    return this.channels.get(id) ?? this.conversations.get(id);
  }

  title(channel) {
    if (!channel.direct) return `# ${channel.name}`;
    const other = this.users.get(channel.user_ids.find((id) => id !== this.me().userId));
    return other ? other.nickname : 'someone';
  }

  // A channel (or conversation) from an event or an answer.
  update(channel) {
    if (channel.direct) {
      this.conversations.set(channel.id, channel);
    } else {
      // Its creator is its first member, whichever of their pages made it.
      if (!this.channels.has(channel.id) && channel.creator_id === this.me()?.userId) this.mine.add(channel.id);
      this.channels.set(channel.id, channel);
    }
    this.render();
  }

  joined(channel) {
    this.mine.add(channel.id);
    this.update(channel);
  }

  async left(id) {
    this.mine.delete(id);
    this.unread.forget(id);
    if (this.current === id) await this.select(GENERAL);
    else this.render();
  }

  // A message arrived for a channel this page does not count as yours: a
  // conversation someone opened with you, its own event still on its way;
  // a channel you joined on another page (your connections hear it from
  // then on); or one just left here, its last events still on their way.
  // True if it is yours.
  learn(id) {
    // One question a channel, however many of its messages come meanwhile.
    if (!this.learning.has(id)) this.learning.set(id, this.findOut(id).finally(() => this.learning.delete(id)));
    return this.learning.get(id);
  }

  async findOut(id) {
    if (this.isOpen(id)) return true;
    if (!this.channels.has(id)) {
      const channel = await this.request('GET', `/api/channels/${id}`);
      if (channel.direct) this.update(channel);
      return Boolean(channel.direct);
    }
    const { channels: mine } = await this.request('GET', '/api/channels?member=1');
    if (!mine.some((channel) => channel.id === id)) return false;
    this.joined(this.channels.get(id));
    return true;
  }

  select(id) {
    this.current = id;
    this.render();
    return this.onSelect(this.get(id));
  }

  render() {
    const { channelList, otherList, conversationList } = this.elements;
    const byName = (a, b) => this.title(a).localeCompare(this.title(b));
    const mine = [...this.mine].map((id) => this.channels.get(id)).filter(Boolean);
    // general first: everyone's channel.
    mine.sort((a, b) => (b.id === GENERAL) - (a.id === GENERAL) || byName(a, b));
    channelList.replaceChildren(...mine.map((channel) => this.entry(channel)));
    conversationList.replaceChildren(
      ...[...this.conversations.values()].sort(byName).map((channel) => this.entry(channel)),
    );
    const others = [...this.channels.values()].filter((channel) => !this.mine.has(channel.id)).sort(byName);
    otherList.replaceChildren(...others.map((channel) => this.joinable(channel)));
    this.elements.noOthers.hidden = others.length > 0;
  }

  entry(channel) {
    const item = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'channel';
    button.dataset.channelId = channel.id;
    if (channel.id === this.current) button.setAttribute('aria-current', 'true');
    const name = document.createElement('span');
    name.className = 'name';
    if (channel.direct) {
      const other = channel.user_ids.find((id) => id !== this.me().userId);
      name.classList.add(hueClass(other));
    }
    name.textContent = this.title(channel);
    button.append(name);
    const count = this.unread.count(channel.id);
    if (count && channel.id !== this.current) {
      const badge = document.createElement('span');
      badge.className = 'unread';
      badge.textContent = count;
      badge.setAttribute('aria-label', `${count} unread`);
      button.append(badge);
    }
    button.addEventListener('click', () => this.select(channel.id));
    item.append(button);
    return item;
  }

  joinable(channel) {
    const item = document.createElement('li');
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = this.title(channel);
    if (channel.topic) name.title = channel.topic;
    const join = document.createElement('button');
    join.type = 'button';
    join.className = 'join';
    join.textContent = 'join';
    join.addEventListener('click', () =>
      this.act(async () => {
        await this.request('PUT', `/api/channels/${channel.id}/members/${this.me().userId}`);
        this.joined(channel);
        await this.select(channel.id);
      }),
    );
    item.append(name, join);
    return item;
  }
}

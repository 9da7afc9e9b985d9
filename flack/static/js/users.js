// The participants, with their online state and a colour per user.

const HUES = 24;

export function hueClass(userId) {
  // Spread neighbouring ids around the colour wheel.
  return `hue-${(userId * 7) % HUES}`;
}

export class UserList {
  constructor(element) {
    this.element = element;
    this.users = new Map();
    this.listeners = [];
  }

  onChange(listener) {
    this.listeners.push(listener);
  }

  get(id) {
    return this.users.get(id);
  }

  update(user) {
    const known = this.users.get(user.id);
    if (known && known.updated_at > user.updated_at) return; // an older event arriving late
    this.users.set(user.id, user);
    this.render();
    for (const listener of this.listeners) listener(user);
  }

  render() {
    const people = [...this.users.values()].sort(
      (a, b) => Number(b.online) - Number(a.online) || a.nickname.localeCompare(b.nickname),
    );
    this.element.replaceChildren(
      ...people.map((user) => {
        const item = document.createElement('li');
        item.dataset.userId = user.id;
        item.dataset.online = String(user.online);
        const dot = document.createElement('span');
        dot.className = 'dot';
        const name = document.createElement('span');
        name.className = `name ${hueClass(user.id)}`;
        name.textContent = user.nickname;
        const state = document.createElement('span');
        state.className = 'state';
        state.textContent = user.online ? 'online' : 'offline';
        item.append(dot, name, state);
        return item;
      }),
    );
  }
}

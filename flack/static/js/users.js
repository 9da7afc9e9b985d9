// The participants, with their online state and a colour per user; a
// button to write to each, and for administrators one to suspend them.

const HUES = 24;

export function hueClass(userId) {
  // Spread neighbouring ids around the colour wheel.
  return `hue-${(userId * 7) % HUES}`;
}

function actionButton(action, onClick) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = action;
  button.textContent = action;
  button.addEventListener('click', onClick);
  return button;
}

export class UserList {
  constructor(element, { me, actions }) {
    this.element = element;
    this.me = me; // the session: null while signed out
    this.actions = actions; // talk(user), suspend(user), reinstate(user)
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

  latestChange() {
    let latest = 0;
    for (const user of this.users.values()) latest = Math.max(latest, user.updated_at);
    return latest;
  }

  clear() {
    this.users.clear();
    this.element.replaceChildren();
  }

  // A button named after its action: its label and its class.
  button(action, user) {
    return actionButton(action, () => this.actions[action](user));
  }

  render() {
    const myId = this.me()?.userId;
    const moderating = Boolean(this.users.get(myId)?.admin);
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
        state.textContent = user.suspended ? 'suspended' : user.online ? 'online' : 'offline';
        item.append(dot, name, state);
        if (user.id !== myId && !user.suspended) item.append(this.button('talk', user));
        // An administrator cannot be suspended (the server refuses it too).
        if (moderating && user.id !== myId && !user.admin) {
          const action = user.suspended ? 'reinstate' : 'suspend';
          item.append(this.button(action, user));
        }
        return item;
      }),
    );
  }
}

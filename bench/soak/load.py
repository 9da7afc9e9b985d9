"""The soak's Python clients: posters over REST and Socket.IO, readers, one flooder.

Every answer is recorded with its wall-clock time, so that the runner can
tell which fell inside a fault window. Each client picks one of the web
processes that are up at the time it sends, as the platform's router would.
"""

import random
import threading
import time

import requests
import socketio
import websocket

# A status for an answer that never came: refused, reset, timed out.
NO_ANSWER = 0


class Urls:
    """The web processes that are up, changed by the fault injector."""

    def __init__(self, urls):
        self._urls = list(urls)
        self._lock = threading.Lock()

    def set(self, urls):
        with self._lock:
            self._urls = list(urls)

    def get(self):
        with self._lock:
            return list(self._urls)

    def pick(self, rng):
        return rng.choice(self.get())


class Record:
    """Answers as (time, kind, status, source, id); thread-safe."""

    def __init__(self):
        self.answers = []
        self.flood_cut_offs = 0
        self.floods = 0
        self._lock = threading.Lock()

    def add(self, *answer):
        with self._lock:
            self.answers.append(answer)

    def of(self, *kinds):
        with self._lock:
            return [a for a in self.answers if a[1] in kinds]


class Load:
    """Posters, readers and a flooder in threads, until ``stop``."""

    def __init__(self, urls, tokens, run_id, page, seed, posters=2, readers=2, pace=1.0, flood_every=20):
        self.urls, self.tokens, self.run_id, self.page = urls, tokens, run_id, page
        self.pace, self.flood_every = pace, flood_every
        self.record = Record()
        self.links = {}  # source -> the page title its preview must show
        self._stopping = threading.Event()
        self._seed = seed
        targets = [(self._post_rest, n) for n in range(posters)]
        targets += [(self._post_socketio, posters)]
        targets += [(self._read, n) for n in range(readers)]
        targets += [(self._flood, 0)]
        self._threads = [threading.Thread(target=t, args=(n,), daemon=True) for t, n in targets]

    def start(self):
        for thread in self._threads:
            thread.start()
        return self

    def stop(self):
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _turns(self, rng, pace):
        """Turns about ``pace`` seconds apart, jittered so that clients do not march in step."""
        number = 0
        while not self._stopping.wait(pace * rng.uniform(0.5, 1.5)):
            number += 1
            yield number

    def _source(self, kind, n, number):
        """A message's text; one in five links to a local page, whose preview must arrive once."""
        source = f'soak {self.run_id} {kind}{n}.{number}'
        if number % 5 == 0:
            path = f'/page/{kind}{n}-{number}'
            title = f'Soak page {kind}{n}-{number}'
            self.page.routes[path] = _page(title)
            self.links[source + f' {self.page.url(path)}'] = title
            source += f' {self.page.url(path)}'
        return source

    def _post_rest(self, n):
        rng = random.Random(f'{self._seed}-rest-{n}')
        http = requests.Session()
        token = self.tokens[n % len(self.tokens)]
        for number in self._turns(rng, self.pace):
            source = self._source('r', n, number)
            started = time.time()
            try:
                response = http.post(
                    f'{self.urls.pick(rng)}/api/messages',
                    json={'source': source},
                    headers={'Authorization': f'Bearer {token}'},
                    timeout=15,
                )
                status, id = (
                    response.status_code,
                    (response.json() if response.status_code == 201 else {}).get('id'),
                )
            except (requests.RequestException, ValueError):
                status, id = NO_ANSWER, None
            self.record.add(started, 'post', status, source, id)

    def _post_socketio(self, n):
        """A chat user posting with the ``post_message`` event, coming back when cut off."""
        rng = random.Random(f'{self._seed}-socket-{n}')
        token = self.tokens[n % len(self.tokens)]
        client = None
        for number in self._turns(rng, self.pace):
            if client is None or not client.connected:
                client = _reconnect(client, self.urls.pick(rng), token)
                if client is None:
                    continue
            source = self._source('s', n, number)
            started = time.time()
            try:
                ack = client.call('post_message', ({'source': source}, token), timeout=15) or {}
                status = 201 if 'id' in ack else ack.get('status', ack.get('error', 'unknown'))
                id = ack.get('id')
            except (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError):
                status, id = NO_ANSWER, None
            self.record.add(started, 'socket post', _status(status), source, id)
        if client is not None:
            client.disconnect()

    def _read(self, n):
        rng = random.Random(f'{self._seed}-read-{n}')
        http = requests.Session()
        for _ in self._turns(rng, self.pace / 2):
            path = rng.choice(
                ['/api/messages?limit=20', f'/api/messages?updated_since={int(time.time()) - 5}']
            )
            started = time.time()
            try:
                status = http.get(f'{self.urls.pick(rng)}{path}', timeout=15).status_code
            except requests.RequestException:
                status = NO_ANSWER
            self.record.add(started, 'read', status, None, None)

    def _flood(self, n):
        """One client sending ``ping_user`` as fast as it can; cut off by the server, it comes back later."""
        rng = random.Random(f'{self._seed}-flood-{n}')
        for _ in self._turns(rng, self.flood_every):
            url = self.urls.pick(rng).replace('http', 'ws', 1)
            self.record.floods += 1
            if _flood_once(url):
                self.record.flood_cut_offs += 1


def _status(value):
    """An ack's error as the status a REST client would get."""
    return {'service unavailable': 503, 'too many requests': 429}.get(value, value)


def _reconnect(client, url, token):
    if client is not None:
        client.disconnect()
    client = socketio.Client(reconnection=False)
    try:
        client.connect(url, transports=['websocket'], auth={'token': token}, wait_timeout=10)
    except socketio.exceptions.ConnectionError:
        return None
    return client


def _flood_once(url, frames=5000, patience=5.0):
    """Whether the server closed the flooding connection within ``patience`` seconds."""
    try:
        ws = websocket.create_connection(f'{url}/socket.io/?EIO=4&transport=websocket', timeout=10)
        ws.recv()  # Engine.IO open
        ws.send('40')
        ws.recv()  # Socket.IO connect
    except (websocket.WebSocketException, OSError):
        return False
    try:
        for number in range(frames):
            ws.send(f'42{number}["ping_user"]')
    except (websocket.WebSocketException, OSError):
        pass  # cut off while sending
    deadline = time.monotonic() + patience
    try:
        while time.monotonic() < deadline:
            ws.settimeout(max(deadline - time.monotonic(), 0.01))
            if not ws.recv():
                return True  # the close frame
        return False
    except websocket.WebSocketTimeoutException:
        return False
    except (websocket.WebSocketException, OSError):
        return True  # closed
    finally:
        ws.close()


def _page(title):
    from tests.pages import html_page

    return html_page(f'<html><head><title>{title}</title></head><body>soak</body></html>')

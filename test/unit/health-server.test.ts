// The daemons' endpoints against a real socket on 127.0.0.1.
import { connect } from 'node:net';
import test from 'ava';
import { EVENTS_MAX_UNREAD, startHealthServer } from '../../common/health-server.js';
import { freePort } from '../../harness/ports.js';
import { waitFor } from '../../harness/wait.js';

for (const path of ['/events', '/ui/events']) {
  test(`an ${path} client that stops reading is cut off once EVENTS_MAX_UNREAD waits for it: the daemon does not buffer for it without end`, async (t) => {
    const senders = new Set<(e: unknown) => void>();
    const port = await freePort();
    const server = startHealthServer(port, () => ({ healthy: true, body: {} }), undefined, {
      page: new Map(),
      events: (send) => {
        senders.add(send);
        return () => senders.delete(send);
      },
    });
    t.teardown(() => server.close());
    await waitFor(() => server.listening, 'listening');
    const client = connect(port, '127.0.0.1');
    t.teardown(() => client.destroy());
    client.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await waitFor(() => senders.size === 1, 'subscribed');
    client.pause(); // reads nothing from here on
    const event = { pad: 'x'.repeat(100 * 1024) };
    let sent = 0;
    // Far more than the kernel's socket buffers take: the rest would wait in the daemon.
    await waitFor(() => {
      for (const send of senders) for (let i = 0; i < 20; i++, sent++) send(event);
      return senders.size === 0 || sent > 2000 ? true : undefined;
    }, 'cut off', 20000, 5);
    t.is(senders.size, 0, `still subscribed after ${sent} events of 100 KB`);
    t.true(sent * 100 * 1024 > EVENTS_MAX_UNREAD);
  });
}

// The firewall's input chain (issue 13 §6) costs each connection one decision: measured here
// beside what a plain accept of a TCP connection on loopback costs, so the ratio says what the
// firewall adds to a connection. The rule set is a realistic one: 20 rules that do not match
// (addresses, ports, a disabled rule, a jump to a chain that returns) before the one that
// decides, and an address list of 1,000 entries (a blocklist) that the deciding rule consults.

import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Appliance } from '../src/appliance.js';
import { FixedClock } from '../src/clock.js';
import { ADDRESS_LIST_PATH, FILTER_PATH } from '../src/menus/ip/firewall.js';
import { InputFirewall } from '../src/services/firewall.js';
import { nowMs, type Line } from './support.js';

export async function benchFirewall(line: Line): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rospki-bench-fw-'));
  const app = await Appliance.open(dir, { clock: new FixedClock(Date.now()) });
  try {
    const session = await app.session('admin', 'bench');
    const add = (p: string, args: Record<string, string>) => app.executor.run({ path: p, command: 'add', args: new Map(Object.entries(args)), session });
    for (let i = 0; i < 16; i++) await add(FILTER_PATH, { chain: 'input', 'src-address': `10.${i}.0.0/16`, action: 'drop' });
    await add(FILTER_PATH, { chain: 'input', protocol: 'tcp', 'dst-port': '1-1000', action: 'drop' });
    await add(FILTER_PATH, { chain: 'input', action: 'drop', disabled: 'yes' });
    await add(FILTER_PATH, { chain: 'input', action: 'jump', 'jump-target': 'checks' });
    await add(FILTER_PATH, { chain: 'checks', 'src-address': '192.0.2.0/24', action: 'drop' });
    await add(FILTER_PATH, { chain: 'input', 'src-address-list': 'blocked', action: 'drop' });
    await app.store.write((tx) => {
      for (let i = 0; i < 1000; i++) tx.insert(ADDRESS_LIST_PATH, { list: 'blocked', address: `172.16.${i >> 8}.${i & 255}`, 'creation-time': Date.now(), disabled: false });
    });
    const firewall = new InputFirewall(app.env, { flushMs: 100, internalError: (e) => { throw e; } });
    const datagram = { srcAddress: '198.51.100.7', srcPort: 40000, dstAddress: '127.0.0.1', dstPort: 8728, length: 100 };
    // Warm up (the rules are read once), then time many decisions.
    for (let i = 0; i < 1000; i++) if (!firewall.admitDatagram(datagram)) throw new Error('the bench rule set refused');
    const n = 100_000;
    let t0 = nowMs();
    for (let i = 0; i < n; i++) firewall.admitDatagram(datagram);
    const decisionUs = ((nowMs() - t0) * 1000) / n;
    await firewall.stop();

    // A plain accept: connect and accept on loopback, one connection after another.
    const server = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const connect = () => new Promise<void>((resolve, reject) => {
      const c = net.connect(port, '127.0.0.1');
      c.once('connect', () => { c.destroy(); resolve(); });
      c.once('error', reject);
    });
    for (let i = 0; i < 100; i++) await connect();
    const m = 2000;
    t0 = nowMs();
    for (let i = 0; i < m; i++) await connect();
    const acceptUs = ((nowMs() - t0) * 1000) / m;
    server.close();
    line('firewall decision (21 input rules, list of 1,000)', `${decisionUs.toFixed(2)} µs`, `accept ${acceptUs.toFixed(1)} µs`, decisionUs / acceptUs, '≤ 0.05×');
  } finally {
    app.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// /system resource — what automation reads first (clients.md #8): version, uptime, memory, disk.
// Values are this host's and this process's: uptime is rospki's own (the appliance clock's running
// time, so a test's FixedClock.advance makes a router that has been up a while), the memory and CPU are the
// host's, free-hdd-space and total-hdd-space are those of the file system holding the data
// directory (eworm's global-functions refuse to work below 8 MiB free). Print shows sizes as
// RouterOS does (`1783.3MiB`, `2495MHz`, `3%`); REST, the API and scripts get plain numbers.

import os from 'node:os';
import { durationType, intType, stringType } from '../../menu/proptypes.js';
import type { Environment, MenuDecl, PropType, TypeContext } from '../../menu/types.js';
import type { FileSystemSpace } from '../../store/files.js';
import { uptimeMs } from '../../clock.js';
import { ROSPKI_ROUTEROS_VERSION, ROUTEROS_BUILD_TIME } from '../../version.js';
import { formatSize } from '../file/menu.js';
import { ensureSingletonRow } from '../host/rows.js';

const text: PropType<string> = { ...stringType, quoted: false };
const count = intType(0, Number.MAX_SAFE_INTEGER);
/** A number shown with a unit in print, plain everywhere else. */
const withUnit = (show: (v: number) => string): PropType<number> => ({ ...count, display: show });
const bytes = withUnit(formatSize);
const megahertz = withUnit((v) => `${v}MHz`);
const percent = withUnit((v) => `${v}%`);

/** RouterOS's architecture names for Node's. */
const ARCHITECTURES: Readonly<Record<string, string>> = { x64: 'x86_64', ia32: 'x86', arm64: 'arm64', arm: 'arm', mips: 'mipsbe', ppc: 'powerpc' };

interface CpuSample { busy: number; total: number }

function cpuSample(): CpuSample {
  let busy = 0;
  let total = 0;
  for (const c of os.cpus()) {
    const t = c.times.user + c.times.nice + c.times.sys + c.times.irq + c.times.idle;
    total += t;
    busy += t - c.times.idle;
  }
  return { busy, total };
}

/** What prepare measured for this command: the data directory's file system and the CPU load. */
interface Measured { space?: FileSystemSpace; cpuLoad: number; last?: CpuSample }
const measured = (env: Environment): Map<'now', Measured> => env.cache.table('system.resource');
const now = (ctx: TypeContext): Measured | undefined => measured(ctx.env).get('now');

export const resourceMenu: MenuDecl = {
  path: '/system/resource',
  kind: 'singleton',
  help: 'System resources',
  verbs: ['print', 'get'],
  properties: [
    { name: 'uptime', type: durationType(), access: 'ro', compute: (_row, ctx) => Math.floor(uptimeMs(ctx.env.clock) / 1000) * 1e9 },
    { name: 'version', type: text, access: 'ro', compute: () => ROSPKI_ROUTEROS_VERSION },
    { name: 'build-time', type: text, access: 'ro', compute: () => ROUTEROS_BUILD_TIME },
    { name: 'factory-software', type: text, access: 'ro', compute: () => '7.1' },
    { name: 'free-memory', type: bytes, access: 'ro', compute: () => os.freemem() },
    { name: 'total-memory', type: bytes, access: 'ro', compute: () => os.totalmem() },
    { name: 'cpu', type: text, access: 'ro', compute: () => os.cpus()[0]?.model.trim() || 'unknown' },
    { name: 'cpu-count', type: count, access: 'ro', compute: () => Math.max(1, os.cpus().length) },
    { name: 'cpu-frequency', type: megahertz, access: 'ro', compute: () => os.cpus()[0]?.speed ?? 0 },
    { name: 'cpu-load', type: percent, access: 'ro', compute: (_row, ctx) => now(ctx)?.cpuLoad ?? 0 },
    { name: 'free-hdd-space', type: bytes, access: 'ro', compute: (_row, ctx) => now(ctx)?.space?.free },
    { name: 'total-hdd-space', type: bytes, access: 'ro', compute: (_row, ctx) => now(ctx)?.space?.size },
    { name: 'architecture-name', type: text, access: 'ro', compute: () => ARCHITECTURES[os.arch()] ?? os.arch() },
    { name: 'board-name', type: text, access: 'ro', compute: () => 'rospki' },
    { name: 'platform', type: text, access: 'ro', compute: () => 'MikroTik' },
  ],
  async prepare(env) {
    await ensureSingletonRow(env, resourceMenu);
    // cpu-load: the share of CPU time busy since the previous command (since boot the first time).
    const table = measured(env);
    const sample = cpuSample();
    const last = table.get('now')?.last ?? { busy: 0, total: 0 };
    const total = sample.total - last.total;
    const cpuLoad = total > 0 ? Math.min(100, Math.max(0, Math.round(((sample.busy - last.busy) / total) * 100))) : 0;
    table.set('now', { space: await env.files.space(), cpuLoad, last: sample });
  },
};

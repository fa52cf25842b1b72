// /system resource — what automation reads first (clients.md #8): version, uptime, memory.
import os from 'node:os';
import { durationType, intType, stringType } from '../../menu/proptypes.js';
import type { MenuDecl, PropType } from '../../menu/types.js';
import { ROSPKI_ROUTEROS_VERSION } from '../../version.js';

const startedAt = Date.now();
const text: PropType<string> = { ...stringType, quoted: false };
const bytes = intType(0, Number.MAX_SAFE_INTEGER);

export const resourceMenu: MenuDecl = {
  path: '/system/resource',
  kind: 'singleton',
  help: 'System resources',
  verbs: ['print', 'get'],
  properties: [
    { name: 'uptime', type: durationType(), access: 'ro', compute: () => Math.floor((Date.now() - startedAt) / 1000) * 1e9 },
    { name: 'version', type: text, access: 'ro', compute: () => ROSPKI_ROUTEROS_VERSION },
    { name: 'build-time', type: text, access: 'ro', compute: () => '2026-11-01 00:00:00' },
    { name: 'factory-software', type: text, access: 'ro', compute: () => '7.1' },
    { name: 'free-memory', type: bytes, access: 'ro', compute: () => os.freemem() },
    { name: 'total-memory', type: bytes, access: 'ro', compute: () => os.totalmem() },
    { name: 'cpu', type: text, access: 'ro', compute: () => os.cpus()[0]?.model.trim() ?? 'unknown' },
    { name: 'cpu-count', type: intType(1, 1024), access: 'ro', compute: () => os.cpus().length },
    { name: 'cpu-frequency', type: intType(0, 1e6), access: 'ro', compute: () => os.cpus()[0]?.speed ?? 0 },
    { name: 'cpu-load', type: intType(0, 100), access: 'ro', compute: () => Math.min(100, Math.round((os.loadavg()[0]! / Math.max(1, os.cpus().length)) * 100)) },
    { name: 'free-hdd-space', type: bytes, access: 'ro', compute: () => 1 << 30 },
    { name: 'total-hdd-space', type: bytes, access: 'ro', compute: () => 2 * 2 ** 30 },
    { name: 'architecture-name', type: text, access: 'ro', compute: () => (os.arch() === 'arm64' ? 'arm64' : 'x86_64') },
    { name: 'board-name', type: text, access: 'ro', compute: () => 'rospki' },
    { name: 'platform', type: text, access: 'ro', compute: () => 'MikroTik' },
  ],
};

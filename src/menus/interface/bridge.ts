// /interface bridge: bridges kept as configuration. Set-up scripts make one to hang a VPN's
// addresses on (IKEv2 auto-scripts: `/interface bridge add name=bridge-vpn`); rospki keeps it,
// exports it and lets /ip address refer to it, but makes no bridge on the host — rospki
// configures no network — so a bridge never runs (no R flag) and its status says why.

import fs from 'node:fs';
import os from 'node:os';
import { invalidValue } from '../../errors.js';
import { boolType, enumType, intType, stringType } from '../../menu/proptypes.js';
import type { MenuDecl, PropType } from '../../menu/types.js';
import { valueToString } from '../../menu/values.js';
import type { ReadTx } from '../../store/store.js';

export const BRIDGE_PATH = '/interface/bridge';

/** The host's interface names now (the kernel's list, else what Node sees). */
function hostInterfaceNames(): string[] {
  try {
    return fs.readdirSync('/sys/class/net');
  } catch {
    return Object.keys(os.networkInterfaces());
  }
}

/** Whether `name` is an interface: one of the host's, or a bridge kept here. */
function interfaceExists(tx: ReadTx, name: string): boolean {
  return hostInterfaceNames().includes(name) || tx.findBy(BRIDGE_PATH, 'name', name).length > 0;
}

/** An `interface=` value: the name of an interface that exists (`input does not match…` else). */
export const interfaceNameType: PropType<string> = {
  ...stringType,
  quoted: false,
  help: 'Interface name',
  readsStore: true,
  parse(v, ctx, name) {
    const text = valueToString(v).trim();
    if (text === '') throw invalidValue(name);
    if (!interfaceExists(ctx.tx, text)) throw invalidValue(name);
    return text;
  },
};

const mtuNumber = intType(68, 65535, { numeric: true });
/** `auto` (the smallest MTU of its ports) or a number. */
const mtuType: PropType<string | number> = {
  help: 'integer: 68..65535 | auto',
  parse: (v, ctx, name) => (valueToString(v).trim() === 'auto' ? 'auto' : mtuNumber.parse(v, ctx, name)),
  display: (v) => String(v),
  api: (v) => String(v),
  script: (v) => v,
  choices: () => ['auto'],
};

export const bridgeMenu: MenuDecl = {
  path: BRIDGE_PATH,
  kind: 'list',
  help: 'Bridges (kept as configuration; rospki makes none on the host)',
  key: 'name',
  verbs: ['print', 'get', 'set', 'unset', 'add', 'remove', 'find', 'enable', 'disable', 'comment', 'export'],
  columns: ['name', 'mtu', 'actual-mtu', 'l2mtu', 'mac-address'],
  properties: [
    { name: 'name', type: stringType, required: true, unique: true, default: 'bridge1' },
    { name: 'mtu', type: mtuType, default: 'auto' },
    { name: 'actual-mtu', type: intType(0, 65535, { numeric: true }), access: 'ro' },
    { name: 'l2mtu', type: intType(0, 65535, { numeric: true }), access: 'ro' },
    { name: 'mac-address', type: { ...stringType, quoted: false }, access: 'ro' },
    { name: 'arp', type: enumType(['disabled', 'enabled', 'local-proxy-arp', 'proxy-arp', 'reply-only']), default: 'enabled' },
    { name: 'protocol-mode', type: enumType(['mstp', 'none', 'rstp', 'stp']), default: 'rstp' },
    { name: 'vlan-filtering', type: boolType, default: false },
    { name: 'comment', type: stringType },
    { name: 'status', type: stringType, access: 'ro', compute: () => 'not running: rospki makes no bridge on this host' },
    { name: 'disabled', type: boolType, default: false, flag: { letter: 'X' }, detail: 'never' },
    { name: 'running', type: boolType, access: 'ro', compute: () => false, flag: { letter: 'R', sharesColumnWith: 'X' }, detail: 'never' },
  ],
};

// /system clock — shows and sets the one clock every expiry check reads (design.md rule 5).
// Setting time or date moves an offset kept in the store, so certificates, CRLs and
// `expires-after` follow it, and tests can move time through the console.

import { invalidValue } from '../../errors.js';
import { boolType, enumType, formatDate, stringType } from '../../menu/proptypes.js';
import type { ArgDecl, CommandDecl, MenuDecl, PropType } from '../../menu/types.js';
import { OffsetClock } from '../../clock.js';

const bare: PropType<string> = { ...stringType, quoted: false };
export const CLOCK_PATH = '/system/clock';

const timeArg: ArgDecl<string> = { name: 'time', type: bare, help: 'Time HH:MM:SS' };
const dateArg: ArgDecl<string> = { name: 'date', type: bare, help: 'Date YYYY-MM-DD' };
const autodetectArg: ArgDecl<boolean> = { name: 'time-zone-autodetect', type: boolType };

const setCommand: CommandDecl = {
  name: 'set',
  help: 'Change clock settings',
  policy: 'write',
  args: [timeArg, dateArg, { name: 'time-zone-name', type: enumType(['manual']) }, autodetectArg],
  async run(call) {
    const clock = call.env.clock;
    await call.env.store.write((tx) => {
      const now = clock.now();
      const [date, time] = formatDate(now).split(' ') as [string, string];
      const newDate = call.args.get(dateArg) ?? date;
      const newTime = call.args.get(timeArg) ?? time;
      if (!/^\d{4}-\d{2}-\d{2}$/.test(newDate)) throw invalidValue('date');
      if (!/^\d{1,2}:\d{2}(:\d{2})?$/.test(newTime)) throw invalidValue('time');
      const target = Date.parse(`${newDate}T${newTime.padStart(8, '0').length === 5 ? `${newTime}:00` : newTime.padStart(8, '0')}Z`);
      if (Number.isNaN(target)) throw invalidValue(call.args.has('date') ? 'date' : 'time');
      const row = tx.get(CLOCK_PATH, 1);
      const data = { ...(row?.data ?? {}) };
      if (call.args.has(autodetectArg)) data['time-zone-autodetect'] = call.args.get(autodetectArg);
      if (call.args.has('time-zone-name')) data['time-zone-name'] = 'manual';
      if (call.args.has('time') || call.args.has('date')) {
        // Keep the sub-second phase of the running clock: only whole seconds are set.
        const offset = (clock instanceof OffsetClock ? clock.offsetMs : 0) + (target - Math.floor(now / 1000) * 1000);
        data['offset-ms'] = offset;
        if (clock instanceof OffsetClock) clock.offsetMs = offset;
      }
      if (row) tx.update(CLOCK_PATH, 1, data); else tx.insert(CLOCK_PATH, data);
      call.env.log(tx, 'system,info', `system time changed by ${call.session.user}`);
    });
    return {};
  },
};

export const clockMenu: MenuDecl = {
  path: CLOCK_PATH,
  kind: 'singleton',
  help: 'System clock',
  verbs: ['print', 'get', 'export'],
  properties: [
    { name: 'time', type: bare, access: 'ro', compute: (_row, ctx) => formatDate(ctx.clock.now()).split(' ')[1] },
    { name: 'date', type: bare, access: 'ro', compute: (_row, ctx) => formatDate(ctx.clock.now()).split(' ')[0] },
    { name: 'time-zone-autodetect', type: boolType, default: true },
    { name: 'time-zone-name', type: enumType(['manual']), default: 'manual' },
    { name: 'gmt-offset', type: bare, access: 'ro', compute: () => '+00:00' },
    { name: 'dst-active', type: boolType, access: 'ro', compute: () => false },
  ],
  commands: [setCommand],
};

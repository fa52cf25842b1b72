// /system license — what scripts read to learn what the device may do (eworm's global-functions:
// `[/system license get]->"level" = "free"`). rospki answers like a CHR with the free licence:
// a system-id derived from this installation and `level: free`; it holds no paid licence, so the
// renewal fields (deadline-at, next-renewal-at, limited-upgrades) stay absent, as on a free CHR.

import { stringType } from '../../menu/proptypes.js';
import type { MenuDecl, PropType } from '../../menu/types.js';
import { ensureInstallationId, installationIdOf, licenseSystemId } from '../host/installation.js';
import { ensureSingletonRow } from '../host/rows.js';

const bare: PropType<string> = { ...stringType, quoted: false };

export const licenseMenu: MenuDecl = {
  path: '/system/license',
  kind: 'singleton',
  help: 'Software licence',
  verbs: ['print', 'get'],
  properties: [
    {
      name: 'system-id', type: bare, access: 'ro',
      compute: (_row, ctx) => {
        const id = installationIdOf(ctx.tx);
        return id && licenseSystemId(id);
      },
    },
    { name: 'level', type: bare, access: 'ro', compute: () => 'free' },
  ],
  async prepare(env) {
    await ensureSingletonRow(env, licenseMenu);
    await ensureInstallationId(env);
  },
};

// /certificate issued-revoke <numbers> (spec §1.9, §6.2 rule 5): a certificate issued by a local
// CA keeps its row (and name), gains R and revoked=<time>, and its CA signs a new CRL at once.

import { failure, noSuchItem, RosError } from '../../errors.js';
import { resolveItems } from '../../menu/generic.js';
import { formatDate } from '../../clock.js';
import { itemsType } from '../../menu/proptypes.js';
import type { ArgDecl, CommandDecl } from '../../menu/types.js';
import type { Value } from '../../menu/values.js';
import { encodeCrlEntry } from '../../pki/crl.js';
import { crlSignerProblem, regenerateCrl } from './crl-publish.js';
import { CERT_PATH, isTemplate } from './properties.js';

const numbersArg: ArgDecl<Value> = { name: 'numbers', type: itemsType, positional: 0, required: true, help: 'Certificates to revoke' };

export const issuedRevokeCommand: CommandDecl = {
  name: 'issued-revoke',
  help: 'Revoke certificates issued by a local CA',
  policy: 'write',
  args: [numbersArg],
  async run(call) {
    const { env, session } = call;
    await env.store.write((tx) => {
      // An empty list (`[find …]` that matched nothing) revokes nothing, silently, as remove
      // does (clients.md #5); a name that is not there is still `no such item`.
      const ids = resolveItems(call.menu, call.args.get(numbersArg), session, tx);
      const now = env.clock.now();
      const byCa = new Map<number, Buffer[]>();
      for (const id of ids) {
        const row = tx.get(CERT_PATH, id);
        if (!row) throw noSuchItem();
        const name = String(row.data.name);
        if (isTemplate(row.data)) throw failure(`${name} is a template, not a certificate`);
        const caId = row.data.ca;
        if (typeof caId !== 'number' || caId === 0) throw failure(`${name} was not issued by a local CA`);
        if (typeof row.data.revoked === 'number') throw failure(`${name} is already revoked`);
        const ca = tx.get(CERT_PATH, caId);
        const problem = crlSignerProblem(ca?.data);
        if (problem) throw failure(`${name} can not be revoked: ${problem}`);
        const serial = String(row.data['serial-number'] ?? '');
        if (!/^[0-9A-F]+$/i.test(serial)) throw failure(`${name} has no serial number`);
        tx.update(CERT_PATH, id, { ...row.data, revoked: now });
        const list = byCa.get(caId) ?? [];
        list.push(encodeCrlEntry(serial, now));
        byCa.set(caId, list);
        env.log(tx, 'certificate,info', `certificate ${name} revoked by ${session.user}`);
      }
      for (const [caId, entries] of byCa) {
        let state;
        try {
          state = regenerateCrl(env, tx, caId, entries);
        } catch (e) {
          // Known refusals say why; anything else is the executor's to report.
          if (e instanceof RosError) throw failure(`CRL could not be signed: ${e.message}`);
          throw e;
        }
        const caName = String(tx.get(CERT_PATH, caId)?.data.name);
        env.log(tx, 'certificate,info', `CRL #${state.number} of ${caName} signed (${state.count} revoked), next update ${formatDate(state.nextUpdate, env.zone(tx))}`);
      }
    });
    return {};
  },
};

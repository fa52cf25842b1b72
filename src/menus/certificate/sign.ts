// /certificate sign <template> [ca=] [name=] [ca-crl-host=] (spec §1.4): turns a template into
// a certificate, self-signed or issued by a local CA. The template row becomes the certificate
// (same *ID). Slow work (RSA key generation) happens between two short transactions, so the
// console and other clients never wait for it.

import { failure, noSuchItem } from '../../errors.js';
import { resolveItem } from '../../menu/generic.js';
import { boolType, itemsType, presenceType, refType, stringType } from '../../menu/proptypes.js';
import type { ArgDecl, CommandDecl, CommandCall } from '../../menu/types.js';
import { RosArray, type Value } from '../../menu/values.js';
import type { RowData } from '../../store/store.js';
import {
  importPkcs8Der, issueCertificate,
  type CertInfo, type IssuedCertificate, type KeyDer, type IssuerSpec,
} from '../../pki/index.js';
import { issuedFacts } from './facts.js';
import { generateKeyUnlessCancelled, openSigningCa, storeKey, DER_BLOB } from './keys.js';
import { CERT_PATH, isTemplate, templateOf } from './properties.js';

/** Where a local CA publishes its CRL: `http://<ca-crl-host>/crl/<CA id>.crl` (issue 3, §3). */
export function crlUrl(host: string, caId: number): string {
  return `http://${host}/crl/${caId}.crl`;
}

const HOST = /^([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?$/;

interface Plan {
  id: number;
  template: RowData;
  name: string;
  caId?: number;
  caInfo?: CertInfo;
  issuer?: IssuerSpec;
  cdpUrl?: string;
  crlHost?: string;
}

const templateArg: ArgDecl<Value> = { name: 'number', type: itemsType, positional: 0, required: true, help: 'Template to sign' };
const caArg: ArgDecl<number> = { name: 'ca', type: refType(CERT_PATH), help: 'Issuing CA; omitted → self-signed' };
const nameArg: ArgDecl<string> = { name: 'name', type: stringType, help: 'New name for the certificate' };
const crlHostArg: ArgDecl<string> = { name: 'ca-crl-host', type: { ...stringType, quoted: false }, help: 'Host (and :port) of the CRL distribution point' };
const smartCardArg: ArgDecl<boolean> = { name: 'ca-on-smart-card', type: boolType, help: 'Keep the CA key on a smart card (not supported)' };
const asValueArg: ArgDecl<boolean> = { name: 'as-value', type: presenceType, flagOnly: true };

async function plan(call: CommandCall): Promise<Plan> {
  const { env, session, menu, args } = call;
  return env.store.read((tx) => {
    const id = resolveItem(menu, args.get(templateArg), session, tx);
    const row = tx.get(CERT_PATH, id);
    if (!row) throw noSuchItem();
    if (!isTemplate(row.data)) throw failure('certificate is already signed');
    // A template a SCEP server is to sign (add-scep) is not signed here.
    if (row.data['scep-url'] !== undefined) throw failure('the certificate is being enrolled by SCEP');
    const name = args.get(nameArg) ?? String(row.data.name ?? '');
    if (name === '') throw failure('certificate needs a name: give name=');
    const crlHost = args.get(crlHostArg);
    if (crlHost !== undefined && crlHost !== '' && !HOST.test(crlHost)) throw failure(`invalid ca-crl-host "${crlHost}": expected a host name or IP address, optionally with :port`);
    const p: Plan = { id, template: row.data, name, crlHost: crlHost || undefined };
    const caId = args.get(caArg);
    if (caId !== undefined) {
      if (caId === id) throw failure('a template can not sign itself: omit ca= for a self-signed certificate');
      const ca = tx.get(CERT_PATH, caId);
      if (!ca) throw failure('the CA was removed');
      const opened = openSigningCa(env, tx, caId, env.clock.now());
      p.caId = caId;
      p.caInfo = opened.info;
      p.issuer = opened.issuer;
      const caHost = ca.data['ca-crl-host'];
      if (typeof caHost === 'string' && caHost !== '') p.cdpUrl = crlUrl(caHost, caId);
    } else if (p.crlHost) {
      p.cdpUrl = crlUrl(p.crlHost, id);
    }
    return p;
  }, call.since);
}

function warnings(template: RowData): string[] {
  const out: string[] = [];
  const digest = String(template['digest-algorithm']);
  if (digest === 'md5' || digest === 'sha1') out.push(`warning: ${digest} signatures are weak; many clients refuse them`);
  if (template['key-size'] === '1024' || template['key-size'] === '1536') out.push(`warning: RSA-${template['key-size']} keys are weak; many clients refuse them`);
  return out;
}

export const signCommand: CommandDecl = {
  name: 'sign',
  help: 'Sign a certificate template (self-signed, or by a local CA)',
  policy: 'write',
  args: [templateArg, caArg, nameArg, crlHostArg, smartCardArg, asValueArg],
  async run(call) {
    const { env, session } = call;
    if (call.args.get(smartCardArg) === true) throw failure('smart cards are not supported');
    const p = await plan(call);
    const t = p.template;
    const spec = templateOf(t);
    session.progress?.([['progress', 'generating key']]);
    const key: KeyDer = await generateKeyUnlessCancelled(spec.keySize, session.signal);
    session.progress?.([['progress', 'signing']]);
    const issued: IssuedCertificate = issueCertificate({
      ...spec,
      notBefore: env.clock.now(),
      subjectPublicKey: key.spki,
      issuer: p.issuer ?? { kind: 'self', privateKey: importPkcs8Der(key.pkcs8) },
      crlDistributionPoint: p.cdpUrl,
    });
    const facts = issuedFacts(t, issued, p.caInfo?.subjectText, p.cdpUrl !== undefined);
    await env.store.write((tx) => {
      const now = tx.get(CERT_PATH, p.id);
      // Someone else signed, changed or removed the template while the key was generated.
      if (!now || now.data !== p.template) throw failure('the template changed while signing; run sign again');
      if (p.caId !== undefined && !tx.get(CERT_PATH, p.caId)) throw failure('the CA was removed while signing');
      if (tx.findBy(CERT_PATH, 'name', p.name).some((r) => r.id !== p.id)) throw failure('already have such entry');
      const data: RowData = { ...t, ...facts, name: p.name, trusted: true, 'private-key': true };
      if (p.caId !== undefined) data.ca = p.caId;
      if (p.crlHost) data['ca-crl-host'] = p.crlHost;
      tx.update(CERT_PATH, p.id, data);
      tx.setBlob(CERT_PATH, p.id, DER_BLOB, issued.der);
      storeKey(env.store, tx, p.id, key.pkcs8);
      const by = p.caInfo ? `by ${String(tx.get(CERT_PATH, p.caId!)?.data.name)}` : 'self-signed';
      env.log(tx, 'certificate,info', `certificate ${p.name} signed ${by} by ${session.user}`);
      for (const w of warnings(t)) env.log(tx, 'certificate,warning', `${p.name}: ${w.replace(/^warning: /, '')}`);
    });
    if (call.args.flag(asValueArg)) return { ret: RosArray.fromRecord([['progress', 'done']]) };
    return { block: [['progress', 'done']], messages: warnings(t) };
  },
};


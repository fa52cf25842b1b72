// What the DNS/DoH tests and the bench share: an appliance whose CA issues the DoH server's
// certificate (exported as PEM for the test's server), its services with the DNS listener on a
// free port, and `dig` against it on 127.0.0.1.

import { certificateDer, privateKey } from '../../src/menus/certificate/keys.js';
import { CERT_PATH } from '../../src/menus/certificate/properties.js';
import { freePort, run, startServiceApp, type ServiceApp } from '../services/support.js';
import { toPem, type TestApp } from '../support/app.js';

/** CA `root` → `inter` → `doh` (SAN doh.router.test, 127.0.0.1), signed in the appliance; PEM key and chain. */
export async function issueDohCertificate(t: TestApp, name = 'doh', days = '30'): Promise<{ key: string; cert: string; rootPem: string }> {
  const has = await t.app.store.read((tx) => tx.findBy(CERT_PATH, 'name', 'root').length > 0);
  if (!has) {
    await t.run(CERT_PATH, 'add', { name: 'root', 'common-name': 'doh test root', 'key-size': 'prime256v1', 'key-usage': 'key-cert-sign,crl-sign', 'days-valid': '3650' });
    await t.run(CERT_PATH, 'sign', { number: 'root', 'ca-crl-host': '127.0.0.1' });
    await t.run(CERT_PATH, 'add', { name: 'inter', 'common-name': 'doh test intermediate', 'key-size': 'prime256v1', 'key-usage': 'key-cert-sign,crl-sign', 'days-valid': '3650' });
    await t.run(CERT_PATH, 'sign', { number: 'inter', ca: 'root', 'ca-crl-host': '127.0.0.1' });
  }
  await t.run(CERT_PATH, 'add', {
    name, 'common-name': 'doh.router.test', 'key-size': 'prime256v1', 'days-valid': days,
    'subject-alt-name': 'DNS:doh.router.test,IP:127.0.0.1', 'key-usage': 'digital-signature,key-encipherment,tls-server',
  });
  await t.run(CERT_PATH, 'sign', { number: name, ca: 'inter' });
  return t.app.store.read((tx) => {
    const row = (n: string) => tx.findBy(CERT_PATH, 'name', n)[0]!;
    const pem = (n: string) => toPem(certificateDer(tx, row(n).id)!);
    const leaf = row(name);
    const key = privateKey(t.app.env, tx, leaf.id, String(leaf.data.fingerprint))!;
    return { key: key.export({ type: 'pkcs8', format: 'pem' }) as string, cert: pem(name) + pem('inter'), rootPem: pem('root') };
  });
}

export interface DnsApp extends ServiceApp {
  dnsPort: number;
  /** Runs dig against rospki's listener; returns its stdout. */
  dig(...args: string[]): Promise<string>;
}

/** An appliance with its services, the DNS listener on a free port (allow-remote-requests=yes). */
export async function startDnsApp(opts: { upstreamPort?: number } = {}): Promise<DnsApp> {
  const dnsPort = await freePort();
  const app = await startServiceApp({ services: { dnsPort, dnsUpstreamPort: opts.upstreamPort ?? 53 } });
  await app.run('/ip/dns', 'set', { 'allow-remote-requests': 'yes' });
  await app.services.reconcile();
  return {
    ...app, dnsPort,
    async dig(...args: string[]) {
      const r = await run('dig', [`@127.0.0.1`, '-p', String(dnsPort), '+time=8', '+tries=1', ...args], { timeoutMs: 30_000 });
      return r.stdout;
    },
  };
}

/** `status: NOERROR` → `NOERROR`. */
export const digStatus = (out: string): string | undefined => /status: (\w+)/.exec(out)?.[1];
/** The answer section's records as `name ttl class type data` lines with single spaces. */
export const digAnswers = (out: string): string[] => {
  const m = /;; ANSWER SECTION:\n([\s\S]*?)\n\n/.exec(out);
  return m ? m[1]!.split('\n').map((l) => l.trim().split(/\s+/).join(' ')) : [];
};

/** Console text run as admin in the appliance; output (and the error line, if any). */
export async function cli(t: TestApp, line: string): Promise<string> {
  const { ConsoleSession } = await import('../../src/console/session.js');
  let out = '';
  const cs = await ConsoleSession.open(t.app, { output: (text) => { out += text; }, width: 120 });
  const r = await cs.run(line);
  return r.ok ? out : `${out}${r.error}\n`;
}

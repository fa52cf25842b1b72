// Issue 12 item 4: a configuration rich in every exported menu — the ones written by hand below
// and, generically from the registry, every menu that exists when the test runs (so menus added
// later are covered) — is exported, imported into an empty data directory (after its
// certificates, which an export never holds), and exported again: the same bytes, apart from
// the date line. Compact, verbose and terse exports all come back.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConsoleSession } from '../../src/console/session.js';
import { exportMenus, typeContext } from '../../src/menu/generic.js';
import type { MenuDecl, PropertyDecl, TypeContext } from '../../src/menu/types.js';
import { openTestApp, type TestApp } from '../support/app.js';

/** A value of a property's type other than its default, from what the type says of itself. */
function richValue(p: PropertyDecl, ctx: TypeContext, current: unknown): string | undefined {
  const now = current ?? p.default;
  const shown = typeof now === 'boolean' ? (now ? 'yes' : 'no') : String(now);
  const choices = p.type.choices?.(ctx).filter((c) => c !== 'none' && c !== shown);
  if (choices && choices.length > 0) return choices[choices.length - 1];
  const help = p.type.help;
  if (help === 'yes | no') return current === true || (current === undefined && p.default === true) ? 'no' : 'yes';
  const range = /^integer: (-?\d+)\.\.(-?\d+)$/.exec(help);
  if (range) return String(Math.min(Number(range[1]) + 7, Number(range[2])));
  if (help === 'time') return '1h2m3s';
  if (help === 'date') return '2026-02-03 04:05:06';
  if (help === 'IP/prefix') return '10.0.0.0/8';
  if (help.startsWith('IP/prefix')) return '10.0.0.0/8,192.0.2.1/32';
  // Address-like types say what they take in their help: give the first form they name.
  if (help.startsWith('IP-IP')) return '10.5.0.10-10.5.0.20';
  if (help.startsWith('IP |') || help === 'IP') return '192.0.2.7';
  if (help.startsWith('string[')) return 'one,two';
  if (help === 'string') return `a "rich" value with $dollar, \\back\\slash and\ttab ${p.name}`;
  return undefined;
}

/** A console line that sets `name=value` on a row or a singleton. */
const arg = (name: string, value: string) => `${name}="${value.replace(/[\\"$]/g, (c) => `\\${c}`).replace(/\t/g, '\\t')}"`;

async function enrich(t: TestApp, c: ConsoleSession, menu: MenuDecl): Promise<void> {
  const cmd = `/${menu.path.slice(1).replace(/\//g, ' ')}`;
  const commands = t.app.registry.commands(menu.path).map((x) => x.name);
  const ctx = typeContext(t.app.env, t.app.store.view());
  const props = menu.properties.filter((p) => p.access !== 'ro' && p.access !== 'wo' && !p.compute && !p.sensitive && p.name !== 'disabled');
  const values = (current: Record<string, unknown>) => props
    .map((p) => [p.name, richValue(p, ctx, current[p.name])] as const)
    .filter((e): e is readonly [string, string] => e[1] !== undefined);
  if (menu.kind === 'list' && commands.includes('add')) {
    const all = values({});
    const name = menu.key ? [[menu.key, `rich-${menu.path.split('/').pop()}`] as const] : [];
    const withName = (pairs: ReadonlyArray<readonly [string, string]>) => [...name, ...pairs.filter(([k]) => k !== menu.key)];
    // Everything at once; if the menu's rules refuse that, each property on its own.
    if (!(await c.run(`${cmd} add ${withName(all).map(([k, v]) => arg(k, v)).join(' ')}`)).ok) {
      if (!(await c.run(`${cmd} add ${withName([]).map(([k, v]) => arg(k, v)).join(' ')}`)).ok) return;
      for (const [k, v] of all) if (k !== menu.key) await c.run(`${cmd} set [find ${menu.key ?? ''}${menu.key ? `="${name[0]![1]}"` : ''}] ${arg(k, v)}`);
    }
    return;
  }
  if (!commands.includes('set')) return;
  const target = menu.kind === 'list' ? ' 0' : '';
  const current = await t.app.store.read((tx) => (menu.kind === 'list' ? tx.list(menu.path)[0]?.data : tx.get(menu.path, 1)?.data) ?? {});
  for (const [k, v] of values(current)) await c.run(`${cmd} set${target} ${arg(k, v)}`);
}

describe('export → import into an empty data directory → export', () => {
  let t: TestApp;
  const fresh: TestApp[] = [];
  let cli: (line: string) => Promise<string>;

  const consoleOf = async (app: TestApp) => {
    let out = '';
    const c = await ConsoleSession.open(app.app, { output: (s) => { out += s; } });
    return async (line: string): Promise<string> => {
      out = '';
      const r = await c.run(line);
      assert.ok(r.ok, `${line}: ${out}${r.error}`);
      return out;
    };
  };

  before(async () => {
    t = await openTestApp();
    cli = await consoleOf(t);
    const c = await ConsoleSession.open(t.app, { output: () => {} });
    // Every exported menu, whatever it is, gets values other than its defaults...
    for (const menu of exportMenus(t.app.registry, '/')) await enrich(t, c, menu);
    // ...and by hand, the things real configurations hold.
    for (const line of [
      '/certificate add name=ca common-name="Lab CA" key-usage=key-cert-sign,crl-sign key-size=prime256v1',
      '/certificate sign ca ca-crl-host=192.0.2.1',
      '/certificate add name=srv common-name=srv.lab subject-alt-name=DNS:srv.lab key-size=prime256v1',
      '/certificate sign srv ca=ca',
      '/user group add name=auditors policy=read,api,rest-api comment="read only, over the API"',
      '/user group set write comment="changed built-in group"',
      '/user add name=ops group=auditors password=s3cret comment="users are not exported"',
      '/system script add name=renew owner=ops policy=read,write,test comment="a \\"quoted\\" comment" source=":local a {1;2}\\r\\n# a comment\\n:foreach x in=\\$a do={ :put \\"item \\$x\\" }\\n:log info \\"a long line that goes on and on and on and on and on and on and on and on\\""',
      '/system script add name=plain source=":put 1"',
      '/ip service set www port=8080 address=192.168.88.0/24,10.1.2.3',
      '/ip service set www-ssl certificate=srv tls-version=only-1.2 disabled=no',
      '/ip service disable api',
      '/certificate settings set crl-use=yes crl-store=system',
      '/certificate crl add url=http://127.0.0.1:9/x.crl',
      '/system identity set name="lab router"',
      '/interface ovpn-client add name=to-hq connect-to=vpn.example.com user=alice certificate=srv verify-server-certificate=yes',
      '/ip dns static add name=router.lab address=192.0.2.1',
      '/ip firewall address-list add list=blocked address=198.51.100.0/24 comment=spam',
      '/ipv6 firewall address-list add list=blocked address=2001:db8::/32',
      '/tool netwatch add host=192.0.2.1 type=tcp-conn port=443 interval=1m comment="notify, name=web"',
      '/interface bridge add name=bridge-vpn protocol-mode=none',
      '/ip address add address=10.0.88.1/24 interface=bridge-vpn comment="vpn pool"',
      '/ip route add dst-address=10.9.0.0/16 gateway=10.0.88.254 distance=5 comment=vpn',
      '/ip ipsec peer add name=hq address=203.0.113.1',
      '/ip ipsec identity add peer=hq auth-method=digital-signature certificate=srv',
      '/system clock set time-zone-name=Europe/Riga',
      '/system clock manual set time-zone=+03:00 dst-delta=+01:00 dst-start="2026-03-29 03:00:00" dst-end="2026-10-25 04:00:00"',
      '/system scheduler add name=nightly start-date=2026-01-02 start-time=03:00:00 interval=1d on-event=renew comment=nightly',
      '/system scheduler add name=boot start-time=startup on-event=":log info \\"booted\\"" policy=read,write,test',
      '/system scheduler add name=off start-date=2026-06-01 start-time=12:00:00 on-event=":put off" disabled=yes',
      // A SCEP server needs an RSA CA with its key (spec §4.3)
      '/certificate add name=scepca common-name="SCEP CA" key-usage=key-cert-sign,crl-sign',
      '/certificate sign scepca',
      '/certificate scep-server add ca-cert=scepca path=/scep/lab next-ca-cert=ca days-valid=30 request-lifetime=1h',
      // An RA names a template (certificates are not exported: the import gets the same template first)
      '/certificate add name=ra-tmpl common-name="Lab RA"',
      '/certificate scep-server ra add name=edge server-url=http://192.0.2.9/scep/ca template=ra-tmpl ca-identity=lab ra-path=/scep/edge-ra ra-transaction-lifetime=1h',
    ]) await cli(line);
    for (const name of ['ca', 'srv']) await cli(`/certificate export-certificate ${name} file-name=${name}`);
    await cli('/certificate export-certificate scepca type=pkcs12 export-passphrase=scep-pass file-name=scepca');
  });
  after(() => { t.close(); for (const f of fresh) f.close(); });

  /** An empty data directory with the certificates the consumers name (an export never holds them), and the CA's key. */
  const emptyWithCertificates = async (): Promise<TestApp> => {
    const f = await openTestApp();
    fresh.push(f);
    for (const name of ['ca', 'srv']) {
      fs.copyFileSync(path.join(t.app.dataDir.filesDir, `${name}.crt`), path.join(f.app.dataDir.filesDir, `${name}.crt`));
      await (await consoleOf(f))(`/certificate import file-name=${name}.crt name=${name} passphrase=""`);
    }
    fs.copyFileSync(path.join(t.app.dataDir.filesDir, 'scepca.p12'), path.join(f.app.dataDir.filesDir, 'scepca.p12'));
    await (await consoleOf(f))('/certificate import file-name=scepca.p12 name=scepca passphrase=scep-pass');
    await (await consoleOf(f))('/certificate add name=ra-tmpl common-name="Lab RA"');
    return f;
  };

  for (const mode of ['', ' verbose', ' terse']) {
    test(`/export${mode} comes back byte for byte`, async () => {
      const first = await cli(`/export${mode}`);
      const file = `config${mode.trim()}.rsc`;
      await cli(`/export${mode} file=${file}`);
      assert.equal(fs.readFileSync(path.join(t.app.dataDir.filesDir, file), 'utf8'), first, 'file= writes what the console shows');
      const empty = await emptyWithCertificates();
      fs.copyFileSync(path.join(t.app.dataDir.filesDir, file), path.join(empty.app.dataDir.filesDir, file));
      const freshCli = await consoleOf(empty);
      await freshCli(`/import file-name=${file}`);
      const again = await freshCli(`/export${mode}`);
      const body = (text: string) => text.split('\n').slice(1).join('\n');
      assert.equal(body(again), body(first));
      assert.match(first, /^# \d{4}-\d\d-\d\d \d\d:\d\d:\d\d by RouterOS 7\.23\.3\n# software id =\n#\n/);
    });
  }

  test('the export covers every exported menu of the registry, and never a certificate, a key or a user', async () => {
    const text = await cli('/export terse');
    const missing = exportMenus(t.app.registry, '/')
      // Facts mirrored from the host (/ip address, /interface) have nothing a user configured.
      .filter((menu) => t.app.registry.commands(menu.path).some((c) => c.name === 'add' || c.name === 'set'))
      .filter((menu) => !new RegExp(`^/${menu.path.slice(1).replace(/\//g, ' ')} `, 'm').test(text))
      .map((menu) => menu.path);
    assert.deepEqual(missing, [], 'every configurable exported menu has a line in the export');
    assert.doesNotMatch(text, /^\/certificate (add|set|import) /m);
    assert.doesNotMatch(text, /BEGIN|PRIVATE|common-name|s3cret|ops group|^\/user (add|set)/m);
    assert.match(text, /^\/ip service set www-ssl certificate=srv disabled=no tls-version=only-1.2$/m, 'references by name');
  });

  test('RouterOS order: objects others refer to first, then by path', async () => {
    const headers = (await cli('/export')).split('\n').filter((l) => l.startsWith('/'));
    const at = (h: string) => headers.indexOf(h);
    assert.ok(at('/system script') < at('/user group') && at('/user group') < at('/certificate settings'), headers.join('|'));
    assert.ok(at('/certificate settings') < at('/certificate crl') && at('/certificate crl') < at('/ip service'), headers.join('|'));
    assert.ok(at('/ip service') < at('/system clock') && at('/system clock') < at('/system clock manual'), headers.join('|'));
    assert.ok(at('/system identity') < at('/system scheduler'), headers.join('|'));
  });
});

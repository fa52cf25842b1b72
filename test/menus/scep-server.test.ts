// /certificate scep-server as configuration (spec §4.3): the lines of a RouterOS export read back,
// eworm's check-certificates lookup, the CA checks, the honest status, and what removing the CA
// does (the server goes with it; a removed next-ca-cert leaves none).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ConsoleSession } from '../../src/console/session.js';
import { openTestApp, type TestApp } from '../support/app.js';

let t: TestApp;
const cli = async (line: string): Promise<string> => {
  let out = '';
  const cs = await ConsoleSession.open(t.app, { user: 'admin', output: (text) => { out += text; } });
  const r = await cs.run(line);
  return r.ok ? out : `${out}${r.error}\n`;
};

before(async () => {
  t = await openTestApp();
  await cli(`/certificate add name=ca common-name=ca key-usage=key-cert-sign,crl-sign; /certificate sign ca
    /certificate add name=next common-name=next key-usage=key-cert-sign,crl-sign; /certificate sign next
    /certificate add name=leaf common-name=leaf key-usage=digital-signature,tls-server; /certificate sign leaf ca=ca`);
});
after(() => t.close());

test('an export line of RouterOS reads back; print, detail with the status, export and the script lookup', async () => {
  assert.equal(await cli('/certificate scep-server add ca-cert=ca days-valid=365 next-ca-cert=next path=/scep/grant request-lifetime=5m'), '');
  assert.equal(await cli('/certificate scep-server print'), [
    'Columns: CA-CERT, PATH, DAYS-VALID, REQUEST-LIFETIME',
    '# CA-CERT  PATH         DAYS-VALID  REQUEST-LIFETIME',
    '0 ca       /scep/grant  365         5m              ',
    '',
  ].join('\n'));
  assert.match(await cli('/certificate scep-server print detail'), /next-ca-cert=next .*\n.*status="not running: SCEP is not implemented yet"/);
  assert.match(await cli('/certificate export'), /\n\/certificate scep-server\nadd ca-cert=ca next-ca-cert=next path=\/scep\/grant\n$/);
  // check-certificates: `[ :len [ /certificate/scep-server/find where ca-cert=($CertVal->"ca") ] ] > 0`
  assert.equal(await cli(':local v [/certificate get leaf]; :put [:len [/certificate/scep-server/find where ca-cert=($v->"ca")]]'), '1\n');
  assert.equal(await cli(':local v [/certificate get ca]; :put [:len [/certificate/scep-server/find where ca-cert=($v->"ca")]]'), '0\n');
  // Disabled: flag X, no status.
  await cli('/certificate scep-server disable 0');
  assert.doesNotMatch(await cli('/certificate scep-server print detail'), /status/);
  assert.match(await cli('/certificate scep-server print'), /^Flags: X - DISABLED\n/);
});

test('the CA must be a CA with its key; the path starts with /scep/; ca-cert is required', async () => {
  assert.equal(await cli('/certificate scep-server add ca-cert=leaf path=/scep/leaf'), 'failure: ca-cert must be a CA certificate with a private key\n');
  assert.equal(await cli('/certificate scep-server add ca-cert=ca path=/other'), 'failure: path must start with /scep/\n');
  assert.equal(await cli('/certificate scep-server add path=/scep/none'), 'missing value of ca-cert\n');
  assert.equal(await cli('/certificate scep-server add ca-cert=nope path=/scep/nope'), 'input does not match any value of ca-cert\n');
});

test('removing next-ca-cert leaves none; removing the CA removes its SCEP server', async () => {
  await cli('/certificate remove next');
  assert.equal(await cli(':put [/certificate scep-server get 0 next-ca-cert]'), 'none\n');
  await cli('/certificate remove ca');
  assert.equal(await cli(':put [/certificate scep-server print count-only]'), '0\n');
});

// Issue 11 §2: the permission matrix, generated from the declarations. Every command of every
// menu (and every argument that needs a policy of its own), run by a user of each built-in group
// and of a custom group without `sensitive`, on the console, over REST (curl), the API and SSH
// (OpenSSH): refused with `not enough permissions` exactly when the user's group lacks a policy
// the declaration asks for; anything else (success, or a complaint about the arguments) counts
// as allowed. The commands run without arguments, so the allowed ones mostly stop at their
// first missing argument.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ConsoleSession } from '../../src/console/session.js';
import type { CommandDecl, Policy } from '../../src/menu/types.js';
import { ApiClient, run } from '../services/support.js';
import { passwordAuth, ssh, startSshApp, type SshApp } from '../services/ssh-support.js';
import { needs } from '../support/tools.js';

const PW = 'Str0ngPass';
const DENIED = /not enough permissions \(9\)/;

const GROUPS: Record<string, string | undefined> = {
  read: undefined, write: undefined, full: undefined,
  nosens: 'read,write,test,api,rest-api,ssh,ftp,password',
};

/** Commands that must not run in this test even when allowed (they change the test's own world; `/quit` ends the session the next cases run on). */
const SKIP = new Set(['/ quit', '/ip/ssh regenerate-host-key', '/certificate/crl flush', '/system/clock set']);

interface Case {
  path: string;
  command: CommandDecl;
  /** A flag-like argument given with the command (its own policy), or none. */
  arg?: string;
  required: Policy[];
}

describe('the permission matrix', { skip: needs('ssh', 'ssh-keygen') }, () => {
  let s: SshApp;
  const policiesOf = new Map<string, Set<Policy>>();
  const cases: Case[] = [];

  before(async () => {
    s = await startSshApp();
    await s.run('/user', 'set', { numbers: 'admin', password: PW });
    for (const [group, policy] of Object.entries(GROUPS)) {
      if (policy) await s.run('/user/group', 'add', { name: group, policy });
      await s.run('/user', 'add', { name: `u-${group}`, group, password: PW });
      const granted = await s.app.store.read((tx) => {
        const g = tx.findBy('/user/group', 'name', group)[0]!;
        return new Set(g.data.policy as Policy[]);
      });
      policiesOf.set(group, granted);
    }
    for (const menu of s.app.registry.all()) {
      for (const command of s.app.registry.commands(menu.path)) {
        if (SKIP.has(`${menu.path} ${command.name}`)) continue;
        const required = typeof command.policy === 'string' ? [command.policy] : [...command.policy];
        cases.push({ path: menu.path, command, required });
        for (const a of command.args) {
          if (a.policy && a.flagOnly) cases.push({ path: menu.path, command, arg: a.name, required: [...required, a.policy] });
        }
      }
    }
  });
  after(async () => { await s.stop(); });

  const expected = (c: Case, group: string, channel?: Policy): boolean => {
    const held = policiesOf.get(group)!;
    return c.required.every((p) => held.has(p)) && (!channel || held.has(channel));
  };
  const label = (c: Case) => `${c.path} ${c.command.name}${c.arg ? ` ${c.arg}` : ''}`;
  const consoleLine = (c: Case) => `${c.path === '/' ? '' : c.path} ${c.command.name}${c.arg ? ` ${c.arg}` : ''}`.trim();

  test('console: refused exactly where the group lacks a declared policy', async () => {
    assert.ok(cases.length > 80, `the registry has many commands (${cases.length})`);
    const tally: Record<string, number> = {};
    for (const group of Object.keys(GROUPS)) {
      for (const c of cases) {
        let out = '';
        const cs = await ConsoleSession.open(s.app, { user: `u-${group}`, output: (t) => { out += t; } });
        const r = await cs.run(consoleLine(c));
        const denied = DENIED.test(`${out}${r.error ?? ''}`);
        assert.equal(!denied, expected(c, group), `${group}: ${label(c)} → ${r.error ?? 'ok'}`);
        tally[`${group} ${denied ? 'denied' : 'allowed'}`] = (tally[`${group} ${denied ? 'denied' : 'allowed'}`] ?? 0) + 1;
      }
    }
    // The matrix is not vacuous: full runs everything, the others are refused somewhere.
    assert.equal(tally['full denied'], undefined);
    for (const g of ['read', 'write', 'nosens']) assert.ok((tally[`${g} denied`] ?? 0) > 0 && (tally[`${g} allowed`] ?? 0) > 0, JSON.stringify(tally));
  });

  test('API: the same, and nothing at all without the api policy', async () => {
    for (const group of Object.keys(GROUPS)) {
      const api = await ApiClient.connect(s.ports.api);
      try {
        const login = await api.login(`u-${group}`, PW);
        if (!policiesOf.get(group)!.has('api')) { assert.equal(login[0]![0], '!trap'); continue; }
        for (const c of cases) {
          const words = [`${c.path === '/' ? '' : c.path}/${c.command.name}`];
          if (c.arg) words.push(`=${c.arg}=`);
          const reply = await api.talk(...words);
          const denied = reply.some((w) => w[0] === '!trap' && w.some((x) => DENIED.test(x)));
          assert.equal(!denied, expected(c, group, 'api'), `${group}: ${label(c)} → ${reply.map((w) => w.join(' ')).join(' | ')}`);
        }
      } finally {
        api.close();
      }
    }
  });

  test('REST (curl): the same, and 401 without rest-api', async () => {
    for (const group of Object.keys(GROUPS)) {
      // One curl process per group, one request per case, each answer on its own line.
      const args: string[] = [];
      for (const [i, c] of cases.entries()) {
        if (i > 0) args.push('--next');
        args.push('-sS', '-u', `u-${group}:${PW}`, '-X', 'POST', '-H', 'content-type: application/json',
          '-d', JSON.stringify(c.arg ? { [c.arg]: '' } : {}), '-w', '\n%{http_code}\n',
          `http://127.0.0.1:${s.ports.www}/rest${c.path === '/' ? '' : c.path}/${c.command.name}`);
      }
      const r = await run('curl', args, { timeoutMs: 120_000 });
      const answers = r.stdout.split(/\n(\d{3})\n/);
      for (const [i, c] of cases.entries()) {
        const body = answers[2 * i] ?? '';
        const status = answers[2 * i + 1];
        if (!policiesOf.get(group)!.has('rest-api')) { assert.equal(status, '401', `${group}: ${label(c)}`); continue; }
        const denied = DENIED.test(body) || status === '500' && /not allowed/.test(body);
        assert.equal(!denied, expected(c, group, 'rest-api') && policiesOf.get(group)!.has('api'), `${group}: ${label(c)} → ${status} ${body}`);
      }
    }
  });

  test('SSH (OpenSSH exec): the same, and no login without ssh', async () => {
    for (const group of Object.keys(GROUPS)) {
      // Execs of 50 commands each (an exec request must fit one SSH packet): each command inside
      // :onerror, its error printed with its index.
      const errors = new Map<number, string>();
      for (let from = 0; from < cases.length; from += 50) {
        const script = cases.slice(from, from + 50).map((c, k) => `:onerror e in={ ${consoleLine(c)} } do={ :put "E${from + k} $e" }`).join('\n');
        const r = await ssh(s, script, passwordAuth(s, PW), `u-${group}`);
        if (!policiesOf.get(group)!.has('ssh')) { assert.notEqual(r.status, 0); break; }
        assert.equal(r.status, 0, `${group}: ${r.stderr}`);
        for (const line of r.stdout.split('\n')) {
          const m = /^E(\d+) (.*)$/.exec(line);
          if (m) errors.set(Number(m[1]), m[2]!);
        }
      }
      if (!policiesOf.get(group)!.has('ssh')) continue;
      for (const [i, c] of cases.entries()) {
        const denied = DENIED.test(errors.get(i) ?? '');
        assert.equal(!denied, expected(c, group, 'ssh'), `${group}: ${label(c)} → ${errors.get(i) ?? 'ok'}`);
      }
    }
  });
});

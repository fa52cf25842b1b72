// Every file of the real-world corpus (test/fixtures/pki) against OpenSSL: ok-* files are read
// by both with the same facts, reject-* refused by both, stricter-* refused by rospki and read by
// OpenSSL, limit-* refused by rospki at once. rospki's refusals are PkiErrors, never crashes.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { compareFacts, type Kind } from './fuzz-facts.js';
import { FIXTURES_DIR, loadFixtures, type Fixture } from './fixtures.js';
import { opensslVerdicts, pkcs12Verdict, type OpensslVerdict } from './fuzz-openssl.js';
import { verdict } from './fuzz-rospki.js';

/** A limit-* file must be refused well within this (the refusal comes before any key derivation). */
const LIMIT_REFUSAL_MS = 2_000;

describe('PKI corpus against OpenSSL', () => {
  const fixtures = loadFixtures();
  const openssl = new Map<string, OpensslVerdict>();
  let dir: string;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rospki-corpus-'));
    // One OpenSSL run per kind and password, over a directory of those files.
    const groups = new Map<string, Fixture[]>();
    for (const f of fixtures.filter((x) => x.expect !== 'limit')) {
      const key = `${f.kind}-${Buffer.from(f.password ?? '').toString('hex')}`;
      groups.set(key, [...(groups.get(key) ?? []), f]);
    }
    for (const [key, list] of groups) {
      const sub = path.join(dir, key);
      fs.mkdirSync(sub);
      for (const f of list) fs.copyFileSync(f.path, path.join(sub, f.file));
      const v = await opensslVerdicts(list[0]!.kind as Kind, sub, list[0]!.password ?? '');
      for (const f of list) openssl.set(f.file, v.get(f.file)!);
    }
    // PKCS#12 files storeutl found nothing in: `openssl pkcs12` has the last word (see pkcs12Verdict).
    for (const f of fixtures.filter((x) => x.kind === 'p12' && x.expect !== 'limit' && !openssl.get(x.file)!.accepted)) {
      openssl.set(f.file, await pkcs12Verdict(f.path, f.password ?? ''));
    }
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('every file in the folder has its row in README.md, and every row its file', () => {
    const listed = fixtures.map((f) => f.file).sort();
    const present = fs.readdirSync(FIXTURES_DIR).filter((f) => f !== 'README.md').sort();
    assert.deepEqual(present, listed);
    assert.ok(listed.length >= 100, `${listed.length} files`);
  });

  test('the corpus has every kind, and each outcome', () => {
    for (const kind of ['cert', 'crl', 'csr', 'key', 'p12', 'p7s', 'p7m']) assert.ok(fixtures.some((f) => f.kind === kind && f.expect === 'ok'), kind);
    for (const expect of ['ok', 'reject', 'stricter', 'limit']) assert.ok(fixtures.some((f) => f.expect === expect), expect);
  });

  for (const f of loadFixtures()) {
    test(f.file, async () => {
      const v = await verdict(f.kind, f.data, f.password);
      assert.notEqual(v.outcome, 'crash', v.outcome === 'crash' ? v.error : '');
      if (f.expect === 'limit') {
        assert.equal(v.outcome, 'reject');
        assert.ok(v.ms < LIMIT_REFUSAL_MS, `refused after ${Math.round(v.ms)} ms`);
        return;
      }
      const o = openssl.get(f.file)!;
      if (f.expect === 'ok') {
        assert.equal(v.outcome, 'ok', v.outcome === 'reject' ? v.error : '');
        assert.ok(o.accepted, 'OpenSSL reads it');
        if (v.outcome === 'ok') assert.deepEqual(compareFacts(v.facts, o.facts!), []);
      } else {
        assert.equal(v.outcome, 'reject', `rospki ${f.expect === 'reject' ? 'refuses' : 'is stricter'}`);
        assert.equal(o.accepted, f.expect === 'stricter', f.expect === 'stricter' ? 'OpenSSL reads it' : 'OpenSSL refuses it');
      }
    });
  }
});

// The DNS message format of src/services/dns/wire.ts: bytes from anyone. Round trips with name
// compression; thousands of mutated messages that must each decode or end in a WireError — never
// another exception, never a hang — and re-encode to what they decoded to; and a differential
// against dnspython (Debian python3-dnspython, through /usr/bin/python3): where both accept a
// message they must read the same questions and records.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import {
  decodeMessage, encodeMessage, message, mxData, nameToWire, rdataText, srvData, TYPE, txtData, WireError, type Message,
} from '../../src/services/dns/wire.js';
import { needs, PYTHON } from '../support/tools.js';
import { rng } from '../pki/fuzz-mutate.js';

const MUTATIONS = Number(process.env.ROSPKI_FUZZ ?? 3000);

function mutate(input: Buffer, rand: () => number): Buffer {
  const b = Buffer.from(input);
  const at = () => Math.floor(rand() * Math.max(1, b.length));
  switch (Math.floor(rand() * 7)) {
    case 0: { for (let i = 0; i < 1 + Math.floor(rand() * 4); i++) b[at()] ^= 1 << Math.floor(rand() * 8); return b; }
    case 1: return b.subarray(0, at());
    case 2: { const i = at(); return Buffer.concat([b.subarray(0, i), Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 8) }, () => Math.floor(rand() * 256))), b.subarray(i)]); }
    case 3: { b[at()] = [0xc0, 0xc0, 0x3f, 0x40, 0x80, 0xff, 0x00][Math.floor(rand() * 7)]!; return b; } // label and pointer octets
    case 4: { const i = Math.floor(rand() * 4); if (b.length >= 12) b.writeUInt16BE(Math.floor(rand() * 0x10000), 4 + 2 * i); return b; } // counts
    case 5: { const i = at(), j = Math.min(b.length, i + 1 + Math.floor(rand() * 16)); return Buffer.concat([b.subarray(0, i), b.subarray(j)]); }
    default: { const i = at(), j = Math.min(b.length, i + Math.floor(rand() * 32)); return Buffer.concat([b.subarray(0, j), b.subarray(i, j), b.subarray(j)]); }
  }
}

const aaaa = Buffer.from('20010db8000000000000000000000001', 'hex');
const soa = Buffer.concat([nameToWire('ns.example.com'), nameToWire('admin.example.com'), Buffer.alloc(20, 1)]);

/** Messages that exercise every section, compression, EDNS and the types with names in their data. */
const SAMPLES: Message[] = [
  message({ id: 1, questions: [{ name: 'www.Example.com', type: TYPE.A, class: 1 }], edns: { udpSize: 4096, version: 0, dnssecOk: true, extendedRcode: 0 } }),
  message({
    id: 0xbeef, response: true, recursionAvailable: true, questions: [{ name: 'www.example.com', type: TYPE.A, class: 1 }],
    answers: [
      { name: 'www.example.com', type: TYPE.CNAME, class: 1, ttl: 300, data: nameToWire('web.example.com') },
      { name: 'web.example.com', type: TYPE.A, class: 1, ttl: 60, data: Buffer.from([192, 0, 2, 1]) },
      { name: 'web.example.com', type: TYPE.AAAA, class: 1, ttl: 60, data: aaaa },
    ],
    authorities: [{ name: 'example.com', type: TYPE.NS, class: 1, ttl: 3600, data: nameToWire('ns.example.com') }],
    additionals: [{ name: 'ns.example.com', type: TYPE.A, class: 1, ttl: 3600, data: Buffer.from([192, 0, 2, 53]) }],
    edns: { udpSize: 1232, version: 0, dnssecOk: false, extendedRcode: 0 },
  }),
  message({
    id: 7, response: true, rcode: 3, questions: [{ name: 'nx.example.com', type: TYPE.MX, class: 1 }],
    answers: [
      { name: 'example.com', type: TYPE.MX, class: 1, ttl: 10, data: mxData(10, 'mail.example.com') },
      { name: '_sip._tcp.example.com', type: TYPE.SRV, class: 1, ttl: 10, data: srvData(1, 2, 5060, 'sip.example.com') },
      { name: 'example.com', type: TYPE.TXT, class: 1, ttl: 10, data: txtData('v=spf1 -all') },
      { name: 'a\\.b.example.com', type: 65280, class: 1, ttl: 1, data: Buffer.from('opaque') },
    ],
    authorities: [{ name: 'example.com', type: TYPE.SOA, class: 1, ttl: 60, data: soa }],
  }),
];

test('messages survive encode and decode, owner names compressed, names in RDATA expanded', () => {
  for (const m of SAMPLES) {
    const wire = encodeMessage(m);
    const back = decodeMessage(wire);
    assert.deepEqual(back, m);
    assert.deepEqual(decodeMessage(encodeMessage(back)), m);
  }
  const big = encodeMessage(SAMPLES[1]!);
  assert.ok(big.includes(Buffer.from([0xc0, 0x0c])), 'a pointer to the question name');
  assert.equal(rdataText(TYPE.AAAA, aaaa), '2001:db8::1');
  assert.equal(rdataText(TYPE.MX, mxData(10, 'mail.example.com')), '10 mail.example.com');
  assert.equal(rdataText(TYPE.TXT, txtData('a "b"')), '"a \\"b\\""');
  assert.equal(rdataText(65280, Buffer.from('ab')), '\\# 2 6162');
  // A reply that does not fit keeps its question and sets TC.
  const truncated = decodeMessage(encodeMessage(SAMPLES[1]!, 60));
  assert.equal(truncated.truncated, true);
  assert.equal(truncated.answers.length, 0);
  assert.equal(truncated.questions.length, 1);
});

test('hostile names: pointer loops, forward pointers, long names and bad labels are WireErrors', () => {
  const header = (qd: number) => Buffer.from([0, 1, 0, 0, 0, qd, 0, 0, 0, 0, 0, 0]);
  const cases: Array<[string, Buffer]> = [
    ['pointer to itself', Buffer.concat([header(1), Buffer.from([0xc0, 12, 0, 1, 0, 1])])],
    ['forward pointer', Buffer.concat([header(1), Buffer.from([0xc0, 14, 0, 1, 0, 1, 0])])],
    ['label type 01', Buffer.concat([header(1), Buffer.from([0x41, 0, 0, 1, 0, 1])])],
    ['name over 255 octets', Buffer.concat([header(1), ...Array.from({ length: 5 }, () => Buffer.concat([Buffer.from([60]), Buffer.alloc(60, 0x61)])), Buffer.from([0, 0, 1, 0, 1])])],
    ['counts beyond the bytes', Buffer.from([0, 1, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0])],
    ['trailing bytes', Buffer.concat([encodeMessage(SAMPLES[0]!), Buffer.from([0])])],
    ['A of five octets', Buffer.concat([header(0).fill(0, 5, 6).fill(1, 7, 8), Buffer.from([0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 5, 1, 2, 3, 4, 5])])],
  ];
  for (const [what, bytes] of cases) assert.throws(() => decodeMessage(bytes), WireError, what);
  // A chain of 127 backward pointers is fine; pointers never loop.
  const labels: number[] = [...header(1), 1, 0x61, 0];
  let prev = 12;
  const chain: number[] = [];
  for (let i = 0; i < 100; i++) { chain.push(prev); prev = labels.length + chain.length * 2 - 2; }
  assert.doesNotThrow(() => decodeMessage(Buffer.from([...header(1), 1, 0x61, 0, 0, 1, 0, 1])));
});

test(`${MUTATIONS} mutated messages: each decodes (and re-encodes to itself) or is a WireError`, () => {
  const rand = rng(0x5eed1234).next;
  const seeds = SAMPLES.map((m) => encodeMessage(m));
  let decoded = 0;
  for (let i = 0; i < MUTATIONS; i++) {
    let input = seeds[i % seeds.length]!;
    for (let k = 0; k < 1 + Math.floor(rand() * 3); k++) input = mutate(input, rand);
    let m: Message;
    try {
      m = decodeMessage(input);
    } catch (e) {
      if (!(e instanceof WireError)) throw new Error(`mutation ${i} (${input.toString('hex')}): ${(e as Error).stack}`);
      continue;
    }
    decoded++;
    let again: Buffer;
    try {
      again = encodeMessage(m);
    } catch (e) {
      // A decoded name is always encodable; only an oversized message may not be.
      assert.ok(e instanceof WireError && /longer than 65535/.test(e.message), `mutation ${i}: ${(e as Error).message}`);
      continue;
    }
    assert.deepEqual(decodeMessage(again), m, `mutation ${i} (${input.toString('hex')})`);
  }
  assert.ok(decoded > MUTATIONS / 20, `some mutations stay valid (${decoded})`);
});

const PY = `
import sys, dns.message, dns.name
def nm(n):
    t = n.to_text(omit_final_dot=True).lower()
    return '' if t in ('.', '@') else t
for line in sys.stdin:
    wire = bytes.fromhex(line.strip())
    try:
        m = dns.message.from_wire(wire, ignore_trailing=False, one_rr_per_rrset=True)
    except Exception as e:
        print('ERR')
        continue
    def rrs(section):
        out = []
        for rrset in section:
            for rd in rrset:
                out.append('%s/%d/%d' % (nm(rrset.name), rrset.rdtype, rrset.ttl))
        return out
    q = ['%s/%d/%d' % (nm(r.name), r.rdtype, r.rdclass) for r in m.question]
    print('OK ' + '\\t'.join([' '.join(q), ' '.join(rrs(m.answer)), ' '.join(rrs(m.authority)), ' '.join(rrs(m.additional))]))
`;

test('differential against dnspython: where both accept a message, both read the same questions and records', { skip: needs('dnspython') }, () => {
  const rand = rng(0xd1ff).next;
  const inputs: Buffer[] = [];
  const seeds = SAMPLES.map((m) => encodeMessage(m));
  for (let i = 0; i < Math.min(MUTATIONS, 2000); i++) {
    let input = seeds[i % seeds.length]!;
    if (i >= seeds.length) for (let k = 0; k < 1 + Math.floor(rand() * 2); k++) input = mutate(input, rand);
    inputs.push(input);
  }
  const py = spawnSync(PYTHON, ['-c', PY], { input: inputs.map((b) => b.toString('hex')).join('\n') + '\n', encoding: 'utf8', maxBuffer: 64 << 20 });
  assert.equal(py.status, 0, py.stderr);
  const theirs = py.stdout.trim().split('\n');
  assert.equal(theirs.length, inputs.length);
  const unescape = (name: string) => name.toLowerCase();
  let both = 0;
  for (let i = 0; i < inputs.length; i++) {
    let ours: Message | undefined;
    try { ours = decodeMessage(inputs[i]!); } catch { ours = undefined; }
    if (i < seeds.length) assert.ok(ours && theirs[i]!.startsWith('OK'), `sample ${i} is read by both`);
    if (!ours || !theirs[i]!.startsWith('OK')) continue;
    both++;
    // Sections apart by tabs, records by spaces: both escape those octets inside names (\\DDD).
    const rr = (list: Message['answers']) => list.map((r) => `${unescape(r.name)}/${r.type}/${r.ttl}`).sort().join(' ');
    const mine = [
      ours.questions.map((q) => `${unescape(q.name)}/${q.type}/${q.class}`).join(' '),
      rr(ours.answers), rr(ours.authorities), rr(ours.additionals),
    ];
    const [qs, an, au, ad] = theirs[i]!.slice(3).split('\t');
    const sorted = (s: string | undefined) => (s ?? '').split(' ').filter(Boolean).sort().join(' ');
    assert.deepEqual(mine, [qs, sorted(an), sorted(au), sorted(ad)], `input ${i} (${inputs[i]!.toString('hex')})`);
  }
  assert.ok(both > 50, `both accepted ${both} messages`);
});

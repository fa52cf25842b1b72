// Byte-exact console layouts (spec routeros-certificate.md §3.3–§3.6, §4.1, §1.7, §10.1, §10.2).
// Expected texts are the spec's live captures with the trailing padding that §3.6 rule 3 says
// pastes lose; each test names the capture it reproduces.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import {
  formatDetail,
  formatKeyValue,
  formatTable,
  formatTerse,
  formatValueList,
  quoteConsoleString,
  type FlagColumn,
  type LayoutCell,
  type LayoutRow,
  type TableColumn,
} from '../../src/menu/layout.js';

const flag = (letter: string, title: string) => ({ letter, title });

/** /certificate flag columns on 7.22+ (§3.1): K L C A I/R E T a D. */
const CERT_FLAGS: FlagColumn[] = [
  [flag('K', 'PRIVATE-KEY')],
  [flag('L', 'CRL')],
  [flag('C', 'SMART-CARD-KEY')],
  [flag('A', 'AUTHORITY')],
  [flag('I', 'ISSUED'), flag('R', 'REVOKED')],
  [flag('E', 'EXPIRED')],
  [flag('T', 'TRUSTED')],
  [flag('a', 'ACME-MANAGED')],
  [flag('D', 'DYNAMIC')],
];

const SERVICE_FLAGS: FlagColumn[] = [[flag('X', 'DISABLED'), flag('I', 'INVALID')]];

/** Text cells; `name: "text"` pairs, `"!name"` marks a quoted (detail) value, `"#name"` numeric. */
function cells(values: Record<string, string>): LayoutCell[] {
  return Object.entries(values).map(([key, text]) => ({
    name: key.replace(/^[!#]/, ''),
    text,
    quoted: key.startsWith('!'),
    numeric: key.startsWith('#'),
  }));
}

function row(index: string, flags: string, values: Record<string, string>, comment?: string): LayoutRow {
  return comment === undefined
    ? { index, flags, cells: cells(values) }
    : { index, flags, comment, cells: cells(values) };
}

const text = (...lines: string[]) => lines.map((line) => line + '\n').join('');
const sp = (n: number) => ' '.repeat(n);

// ---------------------------------------------------------------------------------------------

describe('formatTable: /certificate print (7.23.1 capture, §3.4)', () => {
  const columns: TableColumn[] = ['name', 'trust-store', 'common-name', 'subject-alt-name', 'skid'].map(
    (name) => ({ name, numeric: false }),
  );
  const rows = [
    row('0', 'KAT', {
      name: 'sstp-korona-ca',
      'trust-store': 'all',
      'common-name': 'korona-ca',
      'subject-alt-name': '',
      skid: 'EF1D90ECA4A609B04C473F845FAF283F17D932EE',
    }),
    row('1', 'KIT', {
      name: 'cert-korona-sstp-server',
      'trust-store': 'all',
      'common-name': 'hkb0akb33z4.sn.mynetname.net',
      'subject-alt-name': 'IP:89.109.14.221',
      skid: '8DC36CC29F13B79657CB1EC5F881A19C2F5DB10C',
    }),
  ];
  const spec = { flagColumns: CERT_FLAGS, columns, rows, showIds: false };

  it('cuts TRUST-STORE to TRU when the table is wider than the terminal', () => {
    const expected = text(
      'Flags: K - PRIVATE-KEY; A - AUTHORITY; I - ISSUED; T - TRUSTED',
      'Columns: NAME, TRUST-STORE, COMMON-NAME, SUBJECT-ALT-NAME, SKID',
      '#      NAME                     TRU  COMMON-NAME                   SUBJECT-ALT-NAME  SKID' + sp(36),
      '0 KA T sstp-korona-ca           all  korona-ca                                       EF1D90ECA4A609B04C473F845FAF283F17D932EE',
      '1 K IT cert-korona-sstp-server  all  hkb0akb33z4.sn.mynetname.net  IP:89.109.14.221  8DC36CC29F13B79657CB1EC5F881A19C2F5DB10C',
    );
    assert.equal(formatTable({ ...spec, width: 100 }), expected);
    // 125 wide after the cut: a 125-column terminal shows it, 132 is still too narrow for 133.
    assert.equal(formatTable({ ...spec, width: 132 }), expected);
    assert.equal(formatTable({ ...spec, width: 125 }), expected);
  });

  it('keeps full headers on a wide terminal', () => {
    assert.equal(
      formatTable({ ...spec, width: 200 }),
      text(
        'Flags: K - PRIVATE-KEY; A - AUTHORITY; I - ISSUED; T - TRUSTED',
        'Columns: NAME, TRUST-STORE, COMMON-NAME, SUBJECT-ALT-NAME, SKID',
        '#      NAME                     TRUST-STORE  COMMON-NAME                   SUBJECT-ALT-NAME  SKID' + sp(36),
        '0 KA T sstp-korona-ca           all          korona-ca                                       EF1D90ECA4A609B04C473F845FAF283F17D932EE',
        '1 K IT cert-korona-sstp-server  all          hkb0akb33z4.sn.mynetname.net  IP:89.109.14.221  8DC36CC29F13B79657CB1EC5F881A19C2F5DB10C',
      ),
    );
    assert.equal(formatTable({ ...spec, width: 133 }).split('\n')[2]!.length, 133);
  });

  it('shrinks from the last column backwards and stops as soon as it fits', () => {
    const twoLongHeaders = (width: number) => formatTable({
      flagColumns: [],
      columns: [
        { name: 'first-long-header', numeric: false },
        { name: 'second-long-header', numeric: false },
      ],
      rows: [row('0', '', { 'first-long-header': 'a', 'second-long-header': 'b' })],
      showIds: false,
      width,
    });
    // Full: 2 + 17 + 2 + 18 = 39; cutting the last column gives 22 <= 25, so the first stays.
    assert.equal(twoLongHeaders(25), text('Columns: FIRST-LONG-HEADER, SECOND-LONG-HEADER', '# FIRST-LONG-HEADER  S', '0 a                  b'));
    const narrower = twoLongHeaders(3);
    assert.equal(narrower, text('Columns: FIRST-LONG-HEADER, SECOND-LONG-HEADER', '# F  S', '0 a  b'));
  });

  it('drops columns that are empty in every row, also from Columns:', () => {
    const out = formatTable({
      ...spec,
      rows: [row('0', 'KAT', { name: 'ca', 'trust-store': 'all', 'common-name': 'ca', 'subject-alt-name': '', skid: 'AB' })],
      width: 200,
    });
    assert.equal(
      out,
      text(
        'Flags: K - PRIVATE-KEY; A - AUTHORITY; T - TRUSTED',
        'Columns: NAME, TRUST-STORE, COMMON-NAME, SKID',
        '#     NAME  TRUST-STORE  COMMON-NAME  SKID',
        '0 KAT ca    all          ca           AB  ',
      ),
    );
  });

  it('legend: L, A, T only gives a 3-wide block; a K row widens it (§3.6 rule 2)', () => {
    const cols: TableColumn[] = [{ name: 'name', numeric: false }];
    const lat = [row('0', 'LT', { name: 'Quad9-root' }), row('1', 'AT', { name: 'ca' })];
    assert.equal(
      formatTable({ flagColumns: CERT_FLAGS, columns: cols, rows: lat, showIds: false, width: 80 }),
      text('Flags: L - CRL; A - AUTHORITY; T - TRUSTED', 'Columns: NAME', '#     NAME      ', '0 L T Quad9-root', '1  AT ca        '),
    );
    assert.equal(
      formatTable({ flagColumns: CERT_FLAGS, columns: cols, rows: [...lat, row('2', 'KR', { name: 'x' })], showIds: false, width: 80 }),
      text(
        'Flags: K - PRIVATE-KEY; L - CRL; A - AUTHORITY; R - REVOKED; T - TRUSTED',
        'Columns: NAME',
        '#       NAME      ',
        '0  L  T Quad9-root',
        '1   A T ca        ',
        '2 K  R  x         ',
      ),
    );
  });

  it('no flags on any row: no legend and no flag block', () => {
    assert.equal(
      formatTable({ flagColumns: CERT_FLAGS, columns: [{ name: 'name', numeric: false }], rows: [row('0', '', { name: 'tpl' })], showIds: false, width: 80 }),
      text('Columns: NAME', '# NAME', '0 tpl '),
    );
  });

  it('prints nothing for an empty table', () => {
    assert.equal(formatTable({ ...spec, rows: [], width: 80 }), '');
  });
});

describe('formatTable: /ip service print (§10.1)', () => {
  const columns: TableColumn[] = [
    { name: 'name', numeric: false },
    { name: 'port', numeric: true },
    { name: 'certificate', numeric: false },
    { name: 'vrf', numeric: false },
  ];
  const svc = (i: number, flags: string, name: string, port: string, certificate: string, vrf: string) =>
    row(String(i), flags, { name, '#port': port, certificate, vrf });
  const rows = [
    svc(0, '', 'telnet', '23', '', 'main'),
    svc(1, '', 'ftp', '21', '', ''),
    svc(2, '', 'www', '80', '', 'main'),
    svc(3, '', 'ssh', '22', '', 'main'),
    svc(4, 'X', 'www-ssl', '443', 'none', 'main'),
    svc(5, '', 'api', '8728', '', 'main'),
    svc(6, '', 'winbox', '8291', '', 'main'),
    svc(7, '', 'api-ssl', '8729', 'none', 'main'),
  ];
  const body = [
    'Columns: NAME, PORT, CERTIFICATE, VRF',
    '#   NAME     PORT  CERTIFICATE  VRF ',
    '0   telnet     23               main',
    '1   ftp        21                   ',
    '2   www        80               main',
    '3   ssh        22               main',
    '4 X www-ssl   443  none         main',
    '5   api      8728               main',
    '6   winbox   8291               main',
    '7   api-ssl  8729  none         main',
  ];
  const spec = { flagColumns: SERVICE_FLAGS, columns, rows, showIds: false, width: 80 };

  it('7.23 form names both flags of the shared column, PORT right-aligned', () => {
    assert.equal(formatTable({ ...spec, legendStyle: 'column' }), text('Flags: X - DISABLED, I - INVALID', ...body));
  });

  it('7.3–7.9 form: first flag of a shared column without its name', () => {
    assert.equal(formatTable({ ...spec, legendStyle: 'column-short' }), text('Flags: X, I - INVALID', ...body));
  });

  it('default legend lists only the flags that occur', () => {
    assert.equal(formatTable(spec), text('Flags: X - DISABLED', ...body));
  });

  it('a numeric header stays left-aligned over right-aligned values', () => {
    assert.equal(
      formatTable({ ...spec, rows: [svc(0, 'X', 'www', '8080800', '', 'main')] }),
      text('Flags: X - DISABLED', 'Columns: NAME, PORT, VRF', '#   NAME  PORT     VRF ', '0 X www   8080800  main'),
    );
  });
});

describe('formatTable: /file print (§10.2)', () => {
  const fileColumns = (numericSize: boolean): TableColumn[] => [
    { name: 'name', numeric: false },
    { name: 'type', numeric: false },
    { name: 'size', numeric: numericSize },
    { name: 'last-modified', numeric: false },
  ];

  it('7.23.3 capture: no flags, two spaces after nothing', () => {
    // The capture's SIZE header is left-aligned (`SIZE      LAST-MODIFIED`), so 7.2x human-unit
    // sizes are laid out as text here.
    assert.equal(
      formatTable({
        flagColumns: [],
        columns: fileColumns(false),
        rows: [row('0', '', { name: 'big.json', type: '.json file', size: '293.0KiB', 'last-modified': '2026-08-07 20:38:33' })],
        showIds: false,
        width: 80,
      }),
      text(
        'Columns: NAME, TYPE, SIZE, LAST-MODIFIED',
        '# NAME      TYPE        SIZE      LAST-MODIFIED      ',
        '0 big.json  .json file  293.0KiB  2026-08-07 20:38:33',
      ),
    );
  });

  it('index column widens to 2 once an index reaches 10, # right-aligned', () => {
    const rows = Array.from({ length: 12 }, (_, i) =>
      row(String(i), '', { name: `f${i}.crt`, type: '.crt file', size: String(100 * (i + 1)), 'last-modified': '2026-08-07 20:38:33' }),
    );
    const lines = formatTable({ flagColumns: [], columns: fileColumns(true), rows, showIds: false, width: 80 }).split('\n');
    assert.equal(lines[1], ' # NAME     TYPE       SIZE  LAST-MODIFIED      ');
    assert.equal(lines[2], ' 0 f0.crt   .crt file   100  2026-08-07 20:38:33');
    assert.equal(lines[11], ' 9 f9.crt   .crt file  1000  2026-08-07 20:38:33');
    assert.equal(lines[13], '11 f11.crt  .crt file  1200  2026-08-07 20:38:33');
    assert.equal(lines.length, 15); // Columns, header, 12 rows, '' after the last newline
  });

  it('gaps in numbering are kept', () => {
    const out = formatTable({
      flagColumns: [],
      columns: [{ name: 'name', numeric: false }],
      rows: [row('3', '', { name: 'a' }), row('12', '', { name: 'b' })],
      showIds: false,
      width: 80,
    });
    assert.equal(out, text('Columns: NAME', ' # NAME', ' 3 a   ', '12 b   '));
  });
});

describe('formatTable: show-ids, dynamic rows, comments, multi-line cells', () => {
  const columns: TableColumn[] = ['name', 'common-name', 'skid'].map((name) => ({ name, numeric: false }));

  it('show-ids: `*` header and ids left-aligned (terraform docs sample)', () => {
    assert.equal(
      formatTable({
        flagColumns: CERT_FLAGS,
        columns,
        rows: [
          row('*1', 'KAET', { name: 'local-root-cert', 'common-name': 'local-cert', skid: '2d6c' }),
          row('*2', 'KT', { name: 'srv', 'common-name': '192.168.88.1', skid: 'c562' }),
        ],
        showIds: true,
        width: 80,
      }),
      text(
        'Flags: K - PRIVATE-KEY; A - AUTHORITY; E - EXPIRED; T - TRUSTED',
        'Columns: NAME, COMMON-NAME, SKID',
        '*       NAME             COMMON-NAME   SKID',
        '*1 KAET local-root-cert  local-cert    2d6c',
        '*2 K  T srv              192.168.88.1  c562',
      ),
    );
    const wide = formatTable({
      flagColumns: [],
      columns: [{ name: 'name', numeric: false }],
      rows: [row('*1', '', { name: 'a' }), row('*1A', '', { name: 'b' })],
      showIds: true,
      width: 80,
    });
    assert.equal(wide, text('Columns: NAME', '*   NAME', '*1  a   ', '*1A b   '));
  });

  it('dynamic rows have a blank index', () => {
    const out = formatTable({
      flagColumns: [[flag('D', 'DYNAMIC')]],
      columns: [{ name: 'name', numeric: false }],
      rows: [row('0', '', { name: 'static' }), row('', 'D', { name: 'dyn' })],
      showIds: false,
      width: 80,
    });
    assert.equal(out, text('Flags: D - DYNAMIC', 'Columns: NAME', '#   NAME  ', '0   static', '  D dyn   '));
  });

  it('`;;; comment` on its own line above the row, no index', () => {
    const out = formatTable({
      flagColumns: [[flag('X', 'DISABLED')]],
      columns: [{ name: 'name', numeric: false }, { name: 'port', numeric: true }],
      rows: [row('0', 'X', { name: 'ftp', '#port': '21' }, 'legacy'), row('1', '', { name: 'ssh', '#port': '22' })],
      showIds: false,
      width: 80,
    });
    assert.equal(out, text('Flags: X - DISABLED', 'Columns: NAME, PORT', '#   NAME  PORT', ';;; legacy', '0 X ftp     21', '1   ssh     22'));
  });

  it('second value of a cell on a continuation line padded to the full row width', () => {
    const out = formatTable({
      flagColumns: [],
      columns: [{ name: 'address', numeric: false }, { name: 'interface', numeric: false }],
      rows: [row('0', '', { address: '10.0.0.1/24\n10.0.1.1/24', interface: 'ether1' }), row('1', '', { address: '192.168.88.1/24', interface: 'bridge' })],
      showIds: false,
      width: 80,
    });
    assert.equal(
      out,
      text(
        'Columns: ADDRESS, INTERFACE',
        '# ADDRESS          INTERFACE',
        '0 10.0.0.1/24      ether1   ',
        '  10.0.1.1/24               ',
        '1 192.168.88.1/24  bridge   ',
      ),
    );
  });
});

// ---------------------------------------------------------------------------------------------

describe('formatDetail (§3.3, §3.6 rule 8)', () => {
  const mikroviewCa = row('0', 'T', {
    '!name': 'mikroview-ca.crt_0',
    'trust-store': 'all',
    'digest-algorithm': 'sha256',
    trusted: 'yes',
    '!common-name': 'mikroview local CA',
    '!organization': 'mikroview',
    '!subject-alt-name': '',
    issuer: 'O=mikroview,CN=mikroview local CA',
    'key-type': 'ec',
    'key-size': 'prime256v1',
    'key-usage': 'digital-signature,key-cert-sign,crl-sign',
    'days-valid': '3650',
    'invalid-before': '2026-08-07 19:37:39',
    'invalid-after': '2036-08-04 20:37:39',
    '!serial-number': '3584f1ed917127e1488180f0248e1045',
    '!akid': '',
    skid: '4B3865816845B1D032754FB7545F44A3855E6B07',
    '!fingerprint': 'a0a7875756fd459330e0ba81642e10587442c71b71f827df0646133fcb9efd98',
    'expires-after': '521w2d23h56m20s',
  });
  const capture = [
    ' 0       T   name="mikroview-ca.crt_0" trust-store=all digest-algorithm=sha256 trusted=yes common-name="mikroview local CA" organization="mikroview" subject-alt-name="" ',
    '             issuer=O=mikroview,CN=mikroview local CA key-type=ec key-size=prime256v1 key-usage=digital-signature,key-cert-sign,crl-sign days-valid=3650 invalid-before=2026-08-07 19:37:39 ',
    '             invalid-after=2036-08-04 20:37:39 serial-number="3584f1ed917127e1488180f0248e1045" akid="" skid=4B3865816845B1D032754FB7545F44A3855E6B07 ',
    '             fingerprint="a0a7875756fd459330e0ba81642e10587442c71b71f827df0646133fcb9efd98" expires-after=521w2d23h56m20s ',
  ];

  it('reproduces the 7.23.3 capture at width 200', () => {
    assert.equal(
      formatDetail({ flagColumns: CERT_FLAGS, rows: [mikroviewCa], width: 200, showIds: false }),
      text(
        'Flags: K - PRIVATE-KEY; L - CRL; C - SMART-CARD-KEY; A - AUTHORITY; I - ISSUED, R - REVOKED; E - EXPIRED; T - TRUSTED; a - ACME-MANAGED; D - DYNAMIC ',
        ...capture,
      ),
    );
  });

  it('wraps the legend between flag columns at 80, continuation in column 0', () => {
    const out = formatDetail({ flagColumns: CERT_FLAGS, rows: [row('0', 'T', { '!name': 'x' })], width: 80, showIds: false });
    const legend = out.split('\n').slice(0, 3).map((l) => `${l}\n`).join('');
    assert.equal(
      legend,
      text(
        'Flags: K - PRIVATE-KEY; L - CRL; C - SMART-CARD-KEY; A - AUTHORITY; ',
        'I - ISSUED, R - REVOKED; E - EXPIRED; T - TRUSTED; a - ACME-MANAGED; ',
        'D - DYNAMIC ',
      ),
    );
  });

  it('separates items by one empty line, no empty line after the last', () => {
    const second = row('1', 'KAIT', { '!name': 'srv', trusted: 'yes' });
    const out = formatDetail({ flagColumns: CERT_FLAGS, rows: [mikroviewCa, second], width: 200, showIds: false });
    assert.ok(out.endsWith(capture[3] + '\n\n 1 K  AI T   name="srv" trusted=yes \n'));
  });

  it('menus without flags: no legend, properties from column 3', () => {
    const out = formatDetail({
      flagColumns: [],
      rows: [
        row('0', '', { '!name': 'big.json', type: '.json file', size: '293.0KiB', 'last-modified': '2026-08-07 20:38:33' }),
        row('1', '', { '!name': 'a.crt', type: '.crt file' }),
      ],
      width: 40,
      showIds: false,
    });
    assert.equal(
      out,
      text(
        ' 0 name="big.json" type=.json file ',
        '   size=293.0KiB ',
        '   last-modified=2026-08-07 20:38:33 ',
        '',
        ' 1 name="a.crt" type=.crt file ',
      ),
    );
  });

  it('a property wider than the terminal still goes on a line of its own', () => {
    const out = formatDetail({
      flagColumns: [],
      rows: [row('0', '', { a: '1', '!fingerprint': 'x'.repeat(30) })],
      width: 20,
      showIds: false,
    });
    assert.equal(out, text(' 0 a=1 ', `   fingerprint="${'x'.repeat(30)}" `));
  });

  it('comment after index and flags, properties on the next line', () => {
    const out = formatDetail({
      flagColumns: SERVICE_FLAGS,
      rows: [row('0', 'X', { name: 'ftp', port: '21' }, 'legacy')],
      width: 80,
      showIds: false,
    });
    assert.equal(out, text('Flags: X - DISABLED, I - INVALID ', ' 0 X ;;; legacy', '     name=ftp port=21 '));
  });

  it('index field grows past 2 for 3-digit indexes and ids', () => {
    const out = formatDetail({
      flagColumns: [],
      rows: [row('*1', '', { a: '1' }), row('*1A', '', { a: '2' })],
      width: 80,
      showIds: true,
    });
    assert.equal(out, text('*1  a=1 ', '', '*1A a=2 '));
  });

  it('escapes quoted values', () => {
    const out = formatDetail({ flagColumns: [], rows: [row('0', '', { '!comment': 'say "hi" \\ bye' })], width: 80, showIds: false });
    assert.equal(out, text(' 0 comment="say \\"hi\\" \\\\ bye" '));
  });
});

describe('formatTerse (§3.6 rule 9)', () => {
  it('one unquoted line per item, never wrapped, no trailing space', () => {
    const issuer = 'C=US,O=Internet Security Research Group,CN=ISRG Root X1';
    const out = formatTerse({
      flagColumns: CERT_FLAGS,
      rows: [
        row('0', 'T', { '!name': 'ISRG-Root-X1', issuer, '!common-name': 'ISRG Root X1' }),
        row('1', 'KAT', { '!name': 'ca' }, 'my CA'),
      ],
      showIds: false,
    });
    assert.equal(
      out,
      text(
        ` 0       T   name=ISRG-Root-X1 issuer=${issuer} common-name=ISRG Root X1`,
        ' 1 K  A  T   comment=my CA name=ca',
      ),
    );
  });

  it('without flag columns properties start in column 3', () => {
    assert.equal(
      formatTerse({ flagColumns: [], rows: [row('0', '', { name: 'a.crt', type: '.crt file' })], showIds: false }),
      text(' 0 name=a.crt type=.crt file'),
    );
    assert.equal(formatTerse({ flagColumns: [], rows: [], showIds: false }), '');
  });
});

// ---------------------------------------------------------------------------------------------

describe('formatKeyValue (§3.6 rules 10–11)', () => {
  it('import summary: 5 lines of 29 characters', () => {
    const out = formatKeyValue([
      ['certificates-imported', '2'],
      ['private-keys-imported', '1'],
      ['files-imported', '1'],
      ['decryption-failures', '0'],
      ['keys-with-no-certificate', '0'],
    ]);
    assert.equal(
      out,
      text(
        '     certificates-imported: 2',
        '     private-keys-imported: 1',
        '            files-imported: 1',
        '       decryption-failures: 0',
        '  keys-with-no-certificate: 0',
      ),
    );
    for (const line of out.trimEnd().split('\n')) assert.equal(line.length, 29);
  });

  it('settings block: list value one element per line, values padded to the widest', () => {
    assert.equal(
      formatKeyValue([
        ['builtin-trust-store', ['fetch', 'mqtt', 'wiliot']],
        ['crl-download', 'no'],
        ['crl-use', 'no'],
        ['crl-store', 'ram'],
      ]),
      text(
        '  builtin-trust-store: fetch ',
        '                       mqtt  ',
        '                       wiliot',
        '         crl-download: no    ',
        '              crl-use: no    ',
        '            crl-store: ram   ',
      ),
    );
  });

  it('monitor block and empty input', () => {
    assert.equal(formatKeyValue([['progress', 'done']]), '  progress: done\n');
    assert.equal(formatKeyValue([['status', 'finished'], ['duration', '0s']]), text('    status: finished', '  duration: 0s      '));
    assert.equal(formatKeyValue([['servers', []]]), '  servers: \n');
    assert.equal(formatKeyValue([]), '');
  });
});

describe('formatValueList', () => {
  it('one line per property, items as columns', () => {
    assert.equal(
      formatValueList({
        properties: ['name', 'port'],
        rows: [row('0', '', { name: 'telnet', port: '23' }), row('1', '', { name: 'www-ssl', port: '443' })],
      }),
      text('  name: telnet  www-ssl', '  port: 23      443    '),
    );
    assert.equal(formatValueList({ properties: ['name'], rows: [] }), '');
  });
});

describe('quoteConsoleString', () => {
  it('escapes backslash, quote and control characters', () => {
    assert.equal(quoteConsoleString(''), '""');
    assert.equal(quoteConsoleString('a "b" \\c'), '"a \\"b\\" \\\\c"');
    assert.equal(quoteConsoleString('x\ny\rz\tw'), '"x\\ny\\rz\\tw"');
    assert.equal(quoteConsoleString('\x00\x1b\x7f'), '"\\00\\1B\\7F"');
  });

  it('writes non-ASCII as UTF-8 bytes in upper-case hex', () => {
    assert.equal(quoteConsoleString('Пé'), '"\\D0\\9F\\C3\\A9"');
    assert.equal(quoteConsoleString('$a ?b'), '"$a ?b"');
  });
});

// ---------------------------------------------------------------------------------------------
// Issue 12: layouts where 7.2x captures disagreed with main

describe('issue 12 layouts', () => {
  /** 7.23 /ip service flag columns in legend order: D; X, I; c. */
  const SERVICE_7_23: FlagColumn[] = [[flag('D', 'DYNAMIC')], [flag('X', 'DISABLED'), flag('I', 'INVALID')], [flag('c', 'CONNECTION')]];
  const serviceColumns: TableColumn[] = [
    { name: 'name', numeric: false }, { name: 'port', numeric: true }, { name: 'proto', numeric: false },
    { name: 'address', numeric: false }, { name: 'certificate', numeric: false }, { name: 'vrf', numeric: false },
    { name: 'max-sessions', numeric: true }, { name: 'local', numeric: false }, { name: 'remote', numeric: false },
  ];
  const svc = (i: string, flags: string, v: Record<string, string>) =>
    row(i, flags, { name: v.name ?? '', '#port': v.port ?? '', proto: v.proto ?? 'tcp', address: v.address ?? '', certificate: v.certificate ?? '', vrf: v.vrf ?? '', '#max-sessions': v.max ?? '', local: v.local ?? '', remote: v.remote ?? '' });

  it('7.2x manual: `print where !dynamic` with a two-prefix address, continuation padded to the row', () => {
    const rows = [
      svc('0', '', { name: 'ftp', port: '21', vrf: 'main', max: '20' }),
      svc('1', '', { name: 'ssh', port: '22', vrf: 'main', max: '20' }),
      svc('2', '', { name: 'telnet', port: '23', vrf: 'main', max: '20' }),
      svc('7', '', { name: 'www', port: '80', vrf: 'main', max: '20' }),
      svc('9', 'X', { name: 'www-ssl', port: '443', certificate: 'none', vrf: 'main', max: '20' }),
      svc('13', '', { name: 'winbox', port: '8291', vrf: 'main', max: '20' }),
      svc('15', '', { name: 'api', port: '8728', address: '10.5.101.0/24\n2001:db8:fade::/64', vrf: 'main', max: '20' }),
      svc('16', '', { name: 'api-ssl', port: '8729', certificate: 'none', vrf: 'main', max: '20' }),
    ];
    assert.equal(
      formatTable({ flagColumns: SERVICE_7_23, columns: serviceColumns, rows, showIds: false, width: 200, legendStyle: 'column' }),
      text(
        'Flags: X - DISABLED, I - INVALID',
        'Columns: NAME, PORT, PROTO, ADDRESS, CERTIFICATE, VRF, MAX-SESSIONS',
        ' #   NAME     PORT  PROTO  ADDRESS             CERTIFICATE  VRF   MAX-SESSIONS',
        ' 0   ftp        21  tcp                                     main            20',
        ' 1   ssh        22  tcp                                     main            20',
        ' 2   telnet     23  tcp                                     main            20',
        ' 7   www        80  tcp                                     main            20',
        ' 9 X www-ssl   443  tcp                        none         main            20',
        '13   winbox   8291  tcp                                     main            20',
        '15   api      8728  tcp    10.5.101.0/24                    main            20',
        '                           2001:db8:fade::/64                                 ',
        '16   api-ssl  8729  tcp                        none         main            20',
      ),
    );
  });

  it('7.23.1: a dynamic connection row, LOCAL and REMOTE, empty cells of the fixed columns', () => {
    const rows = [
      svc('0', 'X', { name: 'ftp', port: '21', vrf: 'main', max: '20' }),
      svc('1', '', { name: 'ssh', port: '22', vrf: 'main', max: '20' }),
      svc('2', 'Dc', { name: 'ssh', port: '22', local: '192.168.200.1', remote: '192.168.202.128:64748' }),
      svc('9', 'X', { name: 'www-ssl', port: '443', certificate: 'none', vrf: 'main', max: '20' }),
      svc('10', 'X', { name: 'reverse-proxy', port: '443', certificate: 'none', vrf: 'main', max: '20' }),
      svc('11', 'D', { name: 'sstp-server', port: '444' }),
      svc('18', 'X', { name: 'api-ssl', port: '8729', certificate: 'none', vrf: 'main', max: '20' }),
    ];
    const lines = formatTable({ flagColumns: SERVICE_7_23, columns: serviceColumns, rows, showIds: false, width: 200, legendStyle: 'column' })
      .split('\n').map((l) => l.trimEnd());
    assert.deepEqual(lines, [
      'Flags: D - DYNAMIC; X - DISABLED, I - INVALID; c - CONNECTION',
      'Columns: NAME, PORT, PROTO, CERTIFICATE, VRF, MAX-SESSIONS, LOCAL, REMOTE',
      ' #     NAME           PORT  PROTO  CERTIFICATE  VRF   MAX-SESSIONS  LOCAL          REMOTE',
      ' 0  X  ftp              21  tcp                 main            20',
      ' 1     ssh              22  tcp                 main            20',
      ' 2 D c ssh              22  tcp                                     192.168.200.1  192.168.202.128:64748',
      ' 9  X  www-ssl         443  tcp    none         main            20',
      '10  X  reverse-proxy   443  tcp    none         main            20',
      '11 D   sstp-server     444  tcp',
      '18  X  api-ssl        8729  tcp    none         main            20',
      '',
    ]);
  });

  it('R wins the column it shares with I; the legend names only what rows show', () => {
    const out = formatTable({
      flagColumns: CERT_FLAGS, columns: [{ name: 'name', numeric: false }],
      rows: [row('1', 'KLIRT', { name: 'srv' })], showIds: false, width: 80,
    });
    assert.equal(out, text('Flags: K - PRIVATE-KEY; L - CRL; R - REVOKED; T - TRUSTED', 'Columns: NAME', '#      NAME', '1 KLRT srv '));
    const detail = formatDetail({ flagColumns: CERT_FLAGS, rows: [row('1', 'KLIRT', { '!name': 'srv' })], width: 200, showIds: false });
    assert.match(detail, /^ 1 KL  R T   name="srv" $/m);
  });

  it('SIZE: a left-aligned header over right-aligned byte counts and units', () => {
    const out = formatTable({
      flagColumns: [],
      columns: [{ name: 'name', numeric: false }, { name: 'size', numeric: true }],
      rows: [row('0', '', { name: 'a.crt', '#size': '1188' }), row('1', '', { name: 'big.json', '#size': '293.0KiB' })],
      showIds: false, width: 80,
    });
    assert.equal(out, text('Columns: NAME, SIZE', '# NAME      SIZE    ', '0 a.crt         1188', '1 big.json  293.0KiB'));
  });

  it('an empty list prints nothing in detail either (no Flags: line)', () => {
    assert.equal(formatDetail({ flagColumns: [[flag('I', 'INVALID')]], rows: [], width: 80, showIds: false }), '');
  });
});

describe('two-letter flags (/interface ovpn-client Ta, Tc: services spec §2.4)', () => {
  const columns = [[{ letter: 'X', title: 'DISABLED' }], [{ letter: 'R', title: 'RUNNING' }], [{ letter: 'Ta', title: 'TLS-AUTH' }, { letter: 'Tc', title: 'TLS-CRYPT' }]];
  const rows = [row('0', 'RTc', { name: 'a' }), row('1', 'XTa', { name: 'b' }), row('2', '', { name: 'c' })];

  it('detail: the column is two places wide, continuation lines indented past it', () => {
    assert.equal(formatDetail({ flagColumns: columns, rows: [row('0', 'RTc', { name: 'a', port: '1' })], width: 20, showIds: false }), text(
      'Flags: X - DISABLED; ',
      'R - RUNNING; ',
      'Ta - TLS-AUTH, Tc - TLS-CRYPT ',
      ' 0  RTc name=a ',
      '        port=1 ',
    ));
  });

  it('table: flags stay in their columns; the legend names the two-letter flags that occur', () => {
    assert.equal(formatTable({ flagColumns: columns, columns: [{ name: 'name', numeric: false }], rows, showIds: false, width: 80 }), text(
      'Flags: X - DISABLED; R - RUNNING; Ta - TLS-AUTH, Tc - TLS-CRYPT',
      'Columns: NAME',
      '#      NAME',
      '0  RTc a   ',
      '1 X Ta b   ',
      '2      c   ',
    ));
  });
});

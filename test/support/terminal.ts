// A pseudo-terminal of a given size (python3's pty module, no COLUMNS in the environment) that
// drives a program by expectation: wait for a text on the screen (30 s at most), then type. No
// keystroke goes by a clock, so a loaded machine only makes a run slower.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { PYTHON } from './tools.js';

const DRIVER = String.raw`
import os, pty, sys, time, select, json, fcntl, termios, struct, re
cfg = json.loads(sys.argv[1])
argv = sys.argv[2:]
def winsize(fd, cols, rows):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', rows, cols, 0, 0))
pid, fd = pty.fork()
if pid == 0:
    for k in ('COLUMNS', 'LINES'):
        os.environ.pop(k, None)
    os.environ.update(cfg.get('env', {}))
    winsize(0, cfg['cols'], cfg['rows'])
    os.execvp(argv[0], argv)
raw = b''
failed = None
def screen():
    return re.sub(r'\x1b\[[0-9;?]*[A-Za-z]', '', raw.decode('utf8', 'replace'))
def read_some(timeout):
    global raw
    r, _, _ = select.select([fd], [], [], timeout)
    if not r:
        return True
    try:
        data = os.read(fd, 65536)
    except OSError:
        return False
    if not data:
        return False
    raw += data
    return True
pos = 0
for i, step in enumerate(cfg['steps']):
    end = time.time() + 30
    pattern = re.compile(step['expect'])
    m = None
    while True:
        m = pattern.search(screen(), pos)
        if m or time.time() > end:
            break
        if not read_some(0.1):
            m = pattern.search(screen(), pos)
            break
    if not m:
        failed = {'step': i, 'expect': step['expect']}
        break
    pos = m.end()
    if 'resize' in step:
        winsize(fd, step['resize'][0], step['resize'][1])
    os.write(fd, step['send'].encode())
end = time.time() + 30
while time.time() < end and read_some(0.1):
    pass
try:
    os.kill(pid, 9)
except ProcessLookupError:
    pass
try:
    os.waitpid(pid, 0)
except ChildProcessError:
    pass
print(json.dumps({'screen': screen(), 'failed': failed}))
`;

export interface Step { expect: string; send: string; resize?: [number, number] }

/** Runs argv on a pseudo-terminal of cols×rows through the steps; returns the screen. */
export function onTerminal(argv: string[], cols: number, steps: Step[], env: Record<string, string> = {}): string {
  const r = spawnSync(PYTHON, ['-c', DRIVER, JSON.stringify({ cols, rows: 40, steps, env }), ...argv], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const { screen, failed } = JSON.parse(r.stdout) as { screen: string; failed?: { step: number; expect: string } };
  assert.equal(failed, null, `waited in vain for ${JSON.stringify(failed)}; the screen:\n${screen}`);
  return screen;
}

export const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

import { startServiceApp, freePort } from '/work/main/test/services/support.ts';
const s = await startServiceApp();
const port = await freePort();
await s.run('/ip/service', 'set', { numbers: 'ssh', port: String(port), disabled: 'no' });
await s.services.reconcile();
console.log(JSON.stringify({ port, dir: s.dir, sshPort: s.services.port('ssh') }));
process.on('SIGTERM', async () => { await s.stop(); process.exit(0); });
setTimeout(async () => { await s.stop(); process.exit(0); }, 120000);

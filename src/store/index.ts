// The store: one interface (store.ts), the embedded SQLite backend, and the data directory.

export type { ReadTx, RowData, Store, StoredRow, WriteTx } from './store.js';
export { SqliteStore, type StoreLocation } from './sqlite.js';
export { octalMode, openDataDir, resolveDataDir, SECRET_LENGTH, type DataDir, type Tightened } from './datadir.js';
export { seal, unseal, Sealer } from './seal.js';
export { hashPassword, verifyPassword, verifyPasswordAsync } from './password.js';
export { SCHEMA_VERSION } from './migrations.js';

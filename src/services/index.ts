// The network services the daemon runs (/ip service: www, www-ssl, api, api-ssl come with the
// services issue). They follow the store: changing a service takes effect without a restart.

import type { Appliance } from '../appliance.js';

export interface RunningServices {
  stop(): Promise<void>;
}

/** Starts every enabled service of the appliance. None exist yet. */
export async function startServices(_app: Appliance): Promise<RunningServices> {
  return { stop: async () => {} };
}

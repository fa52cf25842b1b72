// Which SCEP service answers a /scep/ path of www and www-ssl: an RA at its ra-path
// (scep-ra.ts), else a server at its path (scep-service.ts).

import type { Environment } from '../../menu/types.js';
import { answerRa, raAtPath } from './scep-ra.js';
import {
  DEFAULT_SCEP_LIMITS, answerScep, operationOf, queryParams, serverAtPath, type ScepHttpRequest, type ScepHttpResponse, type ScepLimits,
} from './scep-service.js';

export { DEFAULT_SCEP_LIMITS, isScepRequestPath, type ScepLimits } from './scep-service.js';

export async function answerScepPath(env: Environment, req: ScepHttpRequest, limits: ScepLimits = DEFAULT_SCEP_LIMITS): Promise<ScepHttpResponse> {
  const path = req.path.replace(/\/+$/, '');
  // One read finds who answers (and, for a server's PKIOperation, its CA).
  const found = await env.store.read((tx) => {
    const ra = raAtPath(tx, path);
    return ra ? { ra } : { server: serverAtPath(env, tx, path, operationOf(queryParams(req.query))) };
  });
  return found.ra ? answerRa(env, found.ra, req, limits) : answerScep(env, req, found.server, limits);
}

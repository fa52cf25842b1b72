// Which SCEP service answers a /scep/ path of www and www-ssl: an RA at its ra-path
// (scep-ra.ts), else a server at its path (scep-service.ts).

import type { Environment } from '../../menu/types.js';
import { answerRa, raForPath } from './scep-ra.js';
import { DEFAULT_SCEP_LIMITS, answerScep, type ScepHttpRequest, type ScepHttpResponse, type ScepLimits } from './scep-service.js';

export { DEFAULT_SCEP_LIMITS, isScepRequestPath, type ScepLimits } from './scep-service.js';

export async function answerScepPath(env: Environment, req: ScepHttpRequest, limits: ScepLimits = DEFAULT_SCEP_LIMITS): Promise<ScepHttpResponse> {
  const ra = await raForPath(env, req.path.replace(/\/+$/, ''));
  return ra ? answerRa(env, ra, req, limits) : answerScep(env, req, limits);
}

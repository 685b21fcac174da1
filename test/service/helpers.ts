/** Building the app the way the server does, with a small pool and quiet logs. */
import { buildApp } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';

export function testConfig(overrides: Partial<Config> = {}): Config {
  return { ...loadConfig({ LOG_LEVEL: 'silent', WORKER_THREADS: '1' }), ...overrides };
}

export async function startApp(overrides: Partial<Config> = {}) {
  const app = await buildApp(testConfig(overrides));
  await app.ready();
  return app;
}

/** The JSON body of an inject response. */
export type Json = Record<string, any>;

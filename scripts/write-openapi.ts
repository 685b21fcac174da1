/** npm run openapi: writes openapi/openapi.json from the app's own schemas. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { openapiText } from '../src/routes/docs.js';

const target = new URL('../openapi/openapi.json', import.meta.url);
const app = await buildApp(loadConfig({ LOG_LEVEL: 'silent', WORKER_THREADS: '1' }));
await app.ready();
mkdirSync(new URL('.', target), { recursive: true });
writeFileSync(target, openapiText(app));
// The worker pool keeps the process alive until the app is closed.
await app.close();
console.log(`wrote ${target.pathname}`);

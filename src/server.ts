/**
 * The process entry: read the configuration, build the app, listen, and shut down gracefully on
 * SIGTERM/SIGINT (stop accepting, let in-flight requests finish, close the worker pool, exit 0).
 */
import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { hugePageStatus } from './services/huge-pages.js';

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}

const app = await buildApp(config, {
  // Slow or stalled clients cannot hold a connection forever.
  requestTimeout: 120_000,
  keepAliveTimeout: 72_000,
});

closeWithGrace({ delay: config.shutdownGraceMs, logger: app.log }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'closing after an uncaught error');
  else app.log.info({ signal }, 'closing: finishing in-flight requests');
  await app.close();
});

const hugePages = hugePageStatus();
if (hugePages.active) app.log.info({ hugePages }, 'large tensors use transparent huge pages');
else app.log.warn({ hugePages }, 'large tensors use 4 KiB pages: start with GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (npm start does) on a host with transparent huge pages');

try {
  await app.listen({ port: config.port, host: config.host });
} catch (error) {
  app.log.error({ err: error }, 'could not start listening');
  await app.close();
  process.exit(1);
}

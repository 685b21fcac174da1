/** The model registry as a service: loaded from DATA_DIR/models when the app starts. */
import { join } from 'node:path';
import fp from 'fastify-plugin';
import type { Config } from '../config.js';
import { ModelRegistry } from './model-registry.js';

declare module 'fastify' {
  interface FastifyInstance {
    modelRegistry: ModelRegistry;
  }
}

export default fp(
  async (app, opts: { config: Config }) => {
    const registry = new ModelRegistry(join(opts.config.dataDir, 'models'));
    await registry.load();
    app.decorate('modelRegistry', registry);
  },
  { name: 'model-registry' },
);

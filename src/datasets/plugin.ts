/** Uploaded datasets as a service: loaded from DATA_DIR/datasets when the app starts. */
import { join } from 'node:path';
import fp from 'fastify-plugin';
import type { Config } from '../config.js';
import { DatasetStore } from './store.js';

declare module 'fastify' {
  interface FastifyInstance {
    datasetStore: DatasetStore;
  }
}

/** Each IDX file may inflate to this much: MNIST's 60,000 training images take 47 MB. */
export const MAX_DECOMPRESSED_FACTOR = 8;

export default fp(
  async (app, opts: { config: Config }) => {
    const { config } = opts;
    const store = new DatasetStore(join(config.dataDir, 'datasets'), {
      maxUploadBytes: config.uploadLimitBytes,
      maxDecompressedBytes: config.uploadLimitBytes * MAX_DECOMPRESSED_FACTOR,
    });
    await store.load();
    app.decorate('datasetStore', store);
  },
  { name: 'dataset-store' },
);

import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('configuration from the environment', () => {
  it('has a default for everything', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ port: 3000, host: '127.0.0.1', logLevel: 'info', taskTimeoutMs: 30_000, testFaults: false });
    expect(config.workerThreads).toBeGreaterThanOrEqual(1);
  });

  it('reads and converts the variables; empty means default', () => {
    const config = loadConfig({ PORT: '8080', HOST: '0.0.0.0', WORKER_THREADS: '3', MAX_WORK: '1000', LOG_LEVEL: 'debug', TEST_FAULTS: '1', BODY_LIMIT_BYTES: '' });
    expect(config).toMatchObject({ port: 8080, host: '0.0.0.0', workerThreads: 3, maxWork: 1000, logLevel: 'debug', testFaults: true });
    expect(config.bodyLimitBytes).toBe(loadConfig({}).bodyLimitBytes);
  });

  it('refuses bad values, naming every bad variable', () => {
    expect(() => loadConfig({ PORT: '70000', WORKER_THREADS: '0', LOG_LEVEL: 'loud', TASK_TIMEOUT_MS: '1.5' })).toThrow(ConfigError);
    try {
      loadConfig({ PORT: '70000', WORKER_THREADS: '0', LOG_LEVEL: 'loud', TEST_FAULTS: 'maybe' });
    } catch (error) {
      for (const name of ['PORT', 'WORKER_THREADS', 'LOG_LEVEL', 'TEST_FAULTS']) expect((error as Error).message).toContain(name);
    }
  });
});

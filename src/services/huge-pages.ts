/**
 * Whether large tensors get transparent huge pages. The kernels allocate big fresh buffers (103 MB
 * for a [32, 64, 112, 112] float32 gradient); with 4 KiB pages the kernel takes a page fault per
 * 4 KiB on first touch, which costs more than the pooling itself. glibc asks for huge pages on its
 * mmap'ed blocks when started with GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (what `npm start`, the
 * bench and the container image set) and the host allows them (`madvise` or `always`).
 */
import { readFileSync } from 'node:fs';

export interface HugePageStatus {
  /** The host's /sys/kernel/mm/transparent_hugepage/enabled choice, or `unknown` (not Linux). */
  readonly host: 'always' | 'madvise' | 'never' | 'unknown';
  /** Whether this process started with glibc's huge-page tunable. */
  readonly mallocTunable: boolean;
  /** Whether large allocations end up on huge pages. */
  readonly active: boolean;
}

const HOST_SETTING = '/sys/kernel/mm/transparent_hugepage/enabled';

/** The bracketed choice of the sysfs file, e.g. `always [madvise] never` gives `madvise`. */
export function parseHostSetting(text: string): HugePageStatus['host'] {
  const chosen = /\[(\w+)\]/.exec(text)?.[1];
  return chosen === 'always' || chosen === 'madvise' || chosen === 'never' ? chosen : 'unknown';
}

export function hugePageStatus(env: NodeJS.ProcessEnv = process.env): HugePageStatus {
  let host: HugePageStatus['host'] = 'unknown';
  try {
    host = parseHostSetting(readFileSync(HOST_SETTING, 'utf8'));
  } catch {
    // Not Linux, or sysfs is not mounted: nothing to report.
  }
  const mallocTunable = /(^|:)glibc\.malloc\.hugetlb=1(:|$)/.test(env['GLIBC_TUNABLES'] ?? '');
  return { host, mallocTunable, active: host === 'always' || (host === 'madvise' && mallocTunable) };
}

import { describe, expect, it } from 'vitest';
import { hugePageStatus, parseHostSetting } from '../../src/services/huge-pages.js';

describe('huge page status', () => {
  it('reads the bracketed choice of the sysfs setting', () => {
    expect(parseHostSetting('always [madvise] never\n')).toBe('madvise');
    expect(parseHostSetting('[always] madvise never\n')).toBe('always');
    expect(parseHostSetting('always madvise [never]\n')).toBe('never');
    expect(parseHostSetting('')).toBe('unknown');
  });

  it('sees the glibc tunable among others, and only when it is on', () => {
    expect(hugePageStatus({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' }).mallocTunable).toBe(true);
    expect(hugePageStatus({ GLIBC_TUNABLES: 'glibc.malloc.tcache_count=0:glibc.malloc.hugetlb=1' }).mallocTunable).toBe(true);
    expect(hugePageStatus({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' }).mallocTunable).toBe(false);
    expect(hugePageStatus({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=10' }).mallocTunable).toBe(false);
    expect(hugePageStatus({}).mallocTunable).toBe(false);
  });

  it('is active only where the host allows what the process asks for', () => {
    const { host } = hugePageStatus({});
    const on = hugePageStatus({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' });
    expect(on.active).toBe(host === 'always' || host === 'madvise');
    expect(hugePageStatus({}).active).toBe(host === 'always');
  });
});

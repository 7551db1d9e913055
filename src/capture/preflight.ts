import { existsSync, readFileSync } from 'node:fs';
import { SyswardenError } from '../errors.js';
import type { NativeBpfError } from './native.js';

const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

function effectiveCaps(): bigint {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? BigInt('0x' + m[1]) : 0n;
  } catch {
    return 0n;
  }
}

const has = (caps: bigint, cap: bigint): boolean => ((caps >> cap) & 1n) === 1n;

export function btfPath(): string {
  return process.env.SYSWARDEN_VMLINUX_BTF ?? '/sys/kernel/btf/vmlinux';
}

export function tracefsEventsDir(): string | undefined {
  return ['/sys/kernel/tracing/events', '/sys/kernel/debug/tracing/events'].find((p) => existsSync(p));
}

/**
 * Check, before touching the kernel, what loading the BPF program needs, so
 * the user hears the cause and the fix instead of an errno.
 */
export function preflight(attach: 'auto' | 'tp_btf' | 'tracepoint'): void {
  const caps = effectiveCaps();
  if (!has(caps, CAP_SYS_ADMIN) && !(has(caps, CAP_BPF) && has(caps, CAP_PERFMON))) {
    const who = typeof process.getuid === 'function' && process.getuid() !== 0 ? 'you are not root' : 'this process lacks the capabilities';
    throw new SyswardenError(
      'ERR_NOT_PERMITTED',
      `syswarden needs root (or CAP_BPF and CAP_PERFMON) to load its BPF program, and ${who}. ` +
        'Run it with sudo, or grant the capabilities: `sudo setcap cap_bpf,cap_perfmon+ep "$(command -v node)"`; ' +
        'in a container, add CAP_BPF and CAP_PERFMON to it (docs/deploy.md).',
    );
  }
  if (attach !== 'tracepoint' && !existsSync(btfPath())) {
    throw new SyswardenError(
      'ERR_NO_BTF',
      `this kernel exposes no BTF (${btfPath()} is missing), which syswarden's CO-RE program needs. ` +
        'Use a kernel built with CONFIG_DEBUG_INFO_BTF=y (most distributions since 2021 are).',
    );
  }
  if (attach === 'tracepoint' && !tracefsEventsDir()) {
    throw new SyswardenError(
      'ERR_NO_TRACEFS',
      'the classic tracepoint attach needs tracefs, which is not mounted. ' +
        'Mount it with `mount -t tracefs nodev /sys/kernel/tracing`, or use the default tp_btf attach.',
    );
  }
}

/**
 * The verifier's own reason for refusing a program: the last line of its
 * log before the statistics it prints at the end. The log ends the detail
 * libbpf hands over; its opening lines say nothing about the failure.
 */
export function verifierReason(detail: string): string | undefined {
  const end = detail.lastIndexOf('-- END PROG LOAD LOG --');
  if (end < 0) return undefined;
  const lines = detail
    .slice(0, end)
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !/^processed \d+ insns/.test(l) && !/^verification time/.test(l) && !/^stack depth/.test(l));
  const last = lines[lines.length - 1];
  return last && !last.includes('BEGIN PROG LOAD LOG') ? last : undefined;
}

/** Turn an error from the addon's load/attach into one that names the fix. */
export function explainNativeError(err: unknown): Error {
  const e = err as Partial<NativeBpfError>;
  if (!e || typeof e.stage !== 'string') return err as Error;
  const said = (e.detail ?? '')
    .split('\n')
    .filter((l) => l.trim())
    .slice(-4)
    .join('\n  ');
  const verifier = verifierReason(e.detail ?? '');
  const first = e.firstMessage ? `\n  Before that, the tp_btf attach failed (${e.firstMessage}); the error above is from the classic tracepoint tried next.` : '';
  const tail = first + (verifier ? `\n  The verifier said: ${verifier}` : '') + (said ? `\n  libbpf said: ${said}` : '');
  switch (e.code) {
    case 'EPERM':
    case 'EACCES':
      return new SyswardenError(
        'ERR_NOT_PERMITTED',
        `the kernel refused to ${e.stage} (${e.code}). Run syswarden as root with CAP_BPF and CAP_PERFMON; ` +
          'if you are root, kernel lockdown or kernel.unprivileged_bpf_disabled policy may forbid BPF tracing.' + tail,
        { cause: err },
      );
    case 'ENOENT':
      if (e.stage.includes('tracepoint')) {
        return new SyswardenError(
          'ERR_NO_TRACEFS',
          `could not ${e.stage}: tracefs is not mounted. Mount it with \`mount -t tracefs nodev /sys/kernel/tracing\`.` + tail,
          { cause: err },
        );
      }
      break;
    case 'ENOMEM':
    case 'E2BIG':
      return new SyswardenError(
        'ERR_RESOURCES',
        `the kernel could not ${e.stage} (${e.code}): the ring buffer may be larger than the kernel allows. Try a smaller ringBytes` +
          ' (before Linux 5.11, BPF memory also counts against the locked-memory limit, `ulimit -l`, which syswarden leaves as the process set it).' +
          tail,
        { cause: err },
      );
  }
  return new SyswardenError('ERR_BPF', `could not ${e.stage}: ${e.message}.` + tail, { cause: err });
}

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadAddon } from '../../src/capture/addon.js';
import { MAX_TARGETS, MAX_TARGET_LEVELS, SW_MAX_CGROUP_LEVEL } from '../../src/capture/limits.js';
import {
  EventBatch,
  GENERATION_MASK,
  nextTargetId,
  RECORD_LAYOUT,
  SLOT_ALL,
  SLOT_BITS,
  SLOT_MASK,
  TARGET_ID_LIMIT,
  targetGeneration,
  targetSlot,
} from '../../src/capture/record.js';
import {
  ARGS_MAX,
  COMM_LEN,
  PATH_MAX,
  PROC_ARGS_TRUNCATED,
  PROC_GROUP_DEAD,
  PROC_LAYOUT,
  PROC_PATH_TRUNCATED,
  PROC_THREAD,
  REC_EXEC,
  REC_EXIT,
  REC_FORK,
} from '../../src/capture/proc-event.js';
import { TASK_IDS_FIELDS, TASK_IDS_MEMBERS } from '../../src/process/pidns.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bpfObject = join(root, 'build', 'bpf', 'syscalls.bpf.o');

interface BtfType {
  id: number;
  kind: string;
  name?: string;
  size?: number;
  type_id?: number;
  nr_elems?: number;
  members?: Array<{ name: string; type_id: number; bits_offset: number }>;
}

function btfTypes(): Map<number, BtfType> {
  const json = JSON.parse(execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', bpfObject], { encoding: 'utf8' })) as { types: BtfType[] };
  return new Map(json.types.map((t) => [t.id, t]));
}

describe('the TypeScript decoder agrees with bpf/event.h', () => {
  it('has the offsets and size of struct sw_event as compiled into the BPF object', () => {
    const types = btfTypes();
    const ev = [...types.values()].find((t) => t.kind === 'STRUCT' && t.name === 'sw_event');
    expect(ev, 'struct sw_event in the BTF of syscalls.bpf.o').toBeDefined();
    expect(ev!.size).toBe(RECORD_LAYOUT.size);
    const offsets = Object.fromEntries(ev!.members!.map((m) => [m.name, m.bits_offset / 8]));
    expect(offsets).toEqual({ ts_ns: RECORD_LAYOUT.ts_ns, tid: RECORD_LAYOUT.tid, nr: RECORD_LAYOUT.nr, slot: RECORD_LAYOUT.slot });
  });

  it('has the offsets and size of struct sw_proc_event, and its tags and flags, as bpf/event.h says', () => {
    const types = btfTypes();
    const ev = [...types.values()].find((t) => t.kind === 'STRUCT' && t.name === 'sw_proc_event');
    expect(ev, 'struct sw_proc_event in the BTF of syscalls.bpf.o').toBeDefined();
    expect(ev!.size).toBe(PROC_LAYOUT.size);
    const offsets = Object.fromEntries(ev!.members!.map((m) => [m.name, m.bits_offset / 8]));
    const { size: _size, ts_ns: _ts, tid: _tid, nr: _nr, slot: _slot, ...body } = PROC_LAYOUT;
    expect(offsets).toEqual({ head: 0, ...body });
    const header = readFileSync(join(root, 'bpf', 'event.h'), 'utf8');
    const define = (name: string) => Number(new RegExp(`#define ${name} (0x[0-9a-f]+|\\d+)`).exec(header)?.[1]);
    expect([define('SW_REC_EXEC'), define('SW_REC_FORK'), define('SW_REC_EXIT')]).toEqual([REC_EXEC, REC_FORK, REC_EXIT]);
    expect([define('SW_PROC_THREAD'), define('SW_PROC_GROUP_DEAD'), define('SW_PROC_PATH_TRUNCATED'), define('SW_PROC_ARGS_TRUNCATED')]).toEqual([
      PROC_THREAD,
      PROC_GROUP_DEAD,
      PROC_PATH_TRUNCATED,
      PROC_ARGS_TRUNCATED,
    ]);
    expect([define('SW_COMM_LEN'), define('SW_PATH_MAX'), define('SW_ARGS_MAX')]).toEqual([COMM_LEN, PATH_MAX, ARGS_MAX]);
  });

  it('reads struct sw_task_ids (the task iterator) member by member as bpf/event.h lays it out', () => {
    const types = btfTypes();
    const st = [...types.values()].find((t) => t.kind === 'STRUCT' && t.name === 'sw_task_ids');
    expect(st, 'struct sw_task_ids in the BTF of syscalls.bpf.o').toBeDefined();
    expect(st!.size).toBe(TASK_IDS_FIELDS * 4);
    expect(st!.members!.map((m) => [m.name, m.bits_offset / 8])).toEqual(TASK_IDS_MEMBERS.map((n, i) => [n, i * 4]));
    expect(loadAddon().taskIdsFields).toBe(TASK_IDS_FIELDS);
  });

  it('has the layout the C++ consumer was compiled with', () => {
    expect(loadAddon().recordLayout).toEqual({ ...RECORD_LAYOUT });
    expect(loadAddon().slotAll).toBe(SLOT_ALL);
    expect(loadAddon().targetId).toEqual({ slotBits: SLOT_BITS, slotMask: SLOT_MASK, generationMask: GENERATION_MASK, limit: TARGET_ID_LIMIT });
  });

  it('packs target ids as bpf/event.h says, and never makes one that reads as a marker once shed', () => {
    const header = readFileSync(join(root, 'bpf', 'event.h'), 'utf8');
    const define = (name: string) => Number(new RegExp(`#define ${name} (0x[0-9a-f]+|\\d+)`).exec(header)?.[1]);
    expect(define('SW_SLOT_BITS')).toBe(SLOT_BITS);
    expect(define('SW_SLOT_MASK')).toBe(SLOT_MASK);
    expect(define('SW_GEN_MASK')).toBe(GENERATION_MASK);
    expect(define('SW_TARGET_ID_LIMIT')).toBe(TARGET_ID_LIMIT);
    expect(1 << SLOT_BITS).toBe(MAX_TARGETS);
    const shed = define('SW_SHED_BIT');
    const markers = [define('SW_NO_MATCH'), SLOT_ALL];
    for (let slot = 0; slot < MAX_TARGETS; slot++) {
      // Every generation of every slot, twice round.
      let id = nextTargetId(slot);
      for (let k = 0; k < 2 * (GENERATION_MASK + 1); k++) {
        expect(targetSlot(id)).toBe(slot);
        expect(id).toBeLessThan(TARGET_ID_LIMIT);
        expect(markers).not.toContain(id | shed);
        const next = nextTargetId(slot, id);
        expect(next).not.toBe(id);
        id = next;
      }
    }
    expect(targetGeneration(nextTargetId(5, nextTargetId(5)))).toBe(1);
  });

  it('mirrors the filter limits of the BPF side', () => {
    const header = readFileSync(join(root, 'bpf', 'event.h'), 'utf8');
    expect(Number(/#define SW_MAX_CGROUP_LEVEL (\d+)/.exec(header)?.[1])).toBe(SW_MAX_CGROUP_LEVEL);
    expect(Number(/#define SW_SLOT_ALL (0x[0-9a-f]+)/.exec(header)?.[1])).toBe(SLOT_ALL);
    expect(Number(/#define SW_MAX_LEVELS (\d+)/.exec(header)?.[1])).toBe(MAX_TARGET_LEVELS);
    // max_entries of a BTF-defined map is encoded as a pointer to an array of that many elements.
    const types = btfTypes();
    const v = [...types.values()].find((t) => t.kind === 'VAR' && t.name === 'targets')!;
    const def = types.get(v.type_id!)!;
    const me = def.members!.find((m) => m.name === 'max_entries')!;
    const arr = types.get(types.get(me.type_id)!.type_id!)!;
    expect(arr.nr_elems).toBe(MAX_TARGETS);
  });

  it('decodes records written with the C layout', () => {
    const buf = new ArrayBuffer(32);
    const dv = new DataView(buf);
    const put = (i: number, ts: bigint, tid: number, nr: number, slot: number) => {
      dv.setBigUint64(i * 16 + RECORD_LAYOUT.ts_ns, ts, true);
      dv.setUint32(i * 16 + RECORD_LAYOUT.tid, tid, true);
      dv.setUint16(i * 16 + RECORD_LAYOUT.nr, nr, true);
      dv.setUint16(i * 16 + RECORD_LAYOUT.slot, slot, true);
    };
    put(0, 123456789012345n, 4242, 59, 3);
    put(1, 2n ** 52n + 7n, 0xfffffffe, 451, SLOT_ALL);
    const b = new EventBatch(buf);
    expect(b.count).toBe(2);
    expect([b.tsNs(0), b.tid(0), b.nr(0), b.slot(0)]).toEqual([123456789012345, 4242, 59, 3]);
    expect([b.tsNs(1), b.tid(1), b.nr(1), b.slot(1)]).toEqual([2 ** 52 + 7, 0xfffffffe, 451, SLOT_ALL]);
    const cols = b.columns();
    expect([...cols.nr]).toEqual([59, 451]);
    expect(() => new EventBatch(new ArrayBuffer(20))).toThrow(/whole number/);
  });
});

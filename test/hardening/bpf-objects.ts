import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** The kernel objects (by id) one process holds open: programs, maps, links. */
export interface BpfObjects {
  progs: number[];
  maps: number[];
  links: number[];
}

/**
 * What `pid` holds, read from its descriptors' fdinfo. Exact even when other
 * syswarden instances (other tests, other agents) run on the same host, which
 * matching programs by name in `bpftool prog show` is not.
 */
export function bpfObjectsOf(pid: number): BpfObjects {
  const out: BpfObjects = { progs: [], maps: [], links: [] };
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fdinfo`);
  } catch {
    return out; // the process is gone
  }
  for (const fd of fds) {
    let info: string;
    try {
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue; // closed meanwhile
    }
    // A link's fdinfo names its program too: look for the link first.
    const field = (key: string) => {
      const m = new RegExp(`^${key}_id:\\s*(\\d+)$`, 'm').exec(info);
      return m ? Number(m[1]) : undefined;
    };
    const link = field('link');
    if (link !== undefined) {
      out.links.push(link);
      continue;
    }
    const prog = field('prog');
    if (prog !== undefined) {
      out.progs.push(prog);
      continue;
    }
    const map = field('map');
    if (map !== undefined) out.maps.push(map);
  }
  return out;
}

function ids(kind: 'prog' | 'map' | 'link'): Set<number> {
  const list = JSON.parse(execFileSync('bpftool', ['-j', kind, 'show'], { encoding: 'utf8' }) || '[]') as Array<{ id: number }>;
  return new Set(list.map((o) => o.id));
}

/** Of `objs`, those the kernel still has. */
export function stillLoaded(objs: BpfObjects): BpfObjects {
  const progs = ids('prog');
  const maps = ids('map');
  const links = ids('link');
  return {
    progs: objs.progs.filter((i) => progs.has(i)),
    maps: objs.maps.filter((i) => maps.has(i)),
    links: objs.links.filter((i) => links.has(i)),
  };
}

export function countOf(o: BpfObjects): number {
  return o.progs.length + o.maps.length + o.links.length;
}

import type { TraceIssues } from './issues.js';
import type { Abi } from './syscalls.js';

/**
 * Where readers deliver events. Thread ids are reader-assigned stream ids
 * (0, 1, ...), unique for the life of one read: a pid that exits and is
 * reused later gets a new id, so windows never join two threads.
 */
export interface EventSink {
  /** `ns`: when the call was made, in ns on the trace's own clock, from readers whose format records it (sysdig 2021). */
  call(thread: number, nr: number, ns?: number): void;
  /** The thread will produce no more calls (strace `+++ exited ... +++`). */
  end(thread: number): void;
  /** First sight of a stream id: its OS pid/tid (0 when the trace has none). */
  thread(thread: number, pid: number): void;
}

/**
 * A reader's stream ids for the OS thread ids of a trace: a new id at a
 * thread's first call, and a new one again after it ended (a reused pid is
 * another thread). With a sink, new and ended streams are told to it.
 */
export class StreamIds {
  private readonly ids = new Map<number, number>();
  private next = 0;

  constructor(private readonly sink?: Pick<EventSink, 'thread' | 'end'>) {}

  /** The stream of OS thread `os`; at first sight announced to the sink and to `onNew`. */
  of(os: number, onNew?: (id: number) => void): number {
    let id = this.ids.get(os);
    if (id === undefined) {
      id = this.next++;
      this.ids.set(os, id);
      this.sink?.thread(id, os);
      onNew?.(id);
    }
    return id;
  }

  /** Thread `os` ended: its stream ends (false: it had none open). */
  end(os: number): boolean {
    const id = this.ids.get(os);
    if (id === undefined) return false;
    this.ids.delete(os);
    this.sink?.end(id);
    return true;
  }

  /** End every stream still open (the end of the file). */
  endAll(): void {
    if (this.sink) for (const id of this.ids.values()) this.sink.end(id);
    this.ids.clear();
  }
}

/**
 * A text trace reader, fed a line at a time: the file it names in messages,
 * the sink its events go to, the issues it counts (lenient) or throws
 * (strict), and the numbering syscall names and numbers are read in.
 */
export abstract class LineParser {
  constructor(
    protected readonly file: string,
    protected readonly sink: EventSink,
    protected readonly issues: TraceIssues,
    protected readonly lenient: boolean,
    /** Numbering of the traced process: names and numbers are read in it. */
    protected readonly abi: Abi = 'x86_64',
  ) {}

  abstract line(text: string, lineNo: number): void;

  /** The end of the file: ends every thread still open. */
  abstract finish(): void;
}

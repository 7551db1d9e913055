/**
 * Where readers deliver events. Thread ids are reader-assigned stream ids
 * (0, 1, ...), unique for the life of one read: a pid that exits and is
 * reused later gets a new id, so windows never join two threads.
 */
export interface EventSink {
  call(thread: number, nr: number): void;
  /** The thread will produce no more calls (strace `+++ exited ... +++`). */
  end(thread: number): void;
  /** First sight of a stream id: its OS pid/tid (0 when the trace has none). */
  thread(thread: number, pid: number): void;
}

/**
 * Run a command with SIGINT/SIGTERM turned into an AbortSignal, so the
 * command can close its collector (detaching the BPF program) and finish its
 * files before the process ends. A second signal exits at once. Only the CLI
 * installs signal handlers; the library never does.
 */
export async function withStopSignals<T>(body: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  let count = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    count++;
    if (count > 1) process.exit(sig === 'SIGINT' ? 130 : 143);
    ac.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await body(ac.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Progress on stderr: a redrawn bar on a terminal, one plain line per step otherwise (logs, CI). */
export function progressReporter(command: string): (p: { done: number; total: number; label: string }) => void {
  const tty = process.stderr.isTTY === true;
  return ({ done, total, label }) => {
    if (tty) {
      const width = 30;
      const filled = total === 0 ? width : Math.round((done / total) * width);
      process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${label}`.padEnd(80) + (done === total ? '\n' : ''));
    } else if (done < total) {
      process.stderr.write(`${command}: ${done + 1}/${total} ${label}\n`);
    }
  };
}

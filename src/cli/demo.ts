import { formatAlert } from '../alert/alert.js';
import { DEFAULT_LEARN_MS, runDemo, type DemoApplication } from '../demo/run-demo.js';
import { SyswardenError } from '../errors.js';
import { parseCommandArgs, parseDuration, type Parsed } from './args.js';
import { withStopSignals } from './signals.js';

const HELP = `usage: syswarden demo [--json] [--learn <s>] [--normal <s>] [--app auto|container|cgroup]

The built-in default job: the cgi-miner scenario, short. It starts a real
container (a shop of shell CGI scripts behind busybox httpd, its image built
once from Debian packages) with its seeded client, learns its normal
behaviour live for --learn seconds (default 40), watches a normal phase for
--normal seconds (default 8; no alert is expected), then attacks it (remote
code execution: a dropped miner that connects out, escape attempts), prints
the alerts, cleans everything up and prints a summary. Without Docker (or
without an image), it says why and runs the same job on a web server in a
cgroup of its own instead.
  --app <a>  auto (default), container (fail without Docker), cgroup (no container)
  --json     the summary as one JSON object on the last line`;

export interface DemoArgs {
  json: boolean;
  app: DemoApplication;
  learn: number;
  normal: number;
}

/** A demo phase longer than a day is a mistake, not a demo. */
const MAX_PHASE_SECONDS = 86_400;

/** The checked options of `demo`; throws an ERR_USAGE SyswardenError. Touches nothing outside. */
export function parse(argv: string[]): Parsed<DemoArgs> {
  const { values } = parseCommandArgs(
    'demo',
    argv,
    { json: { type: 'boolean' }, learn: { type: 'string' }, normal: { type: 'string' }, app: { type: 'string' } },
    HELP,
  );
  if (values.help) return { help: true };
  const app = values.app ?? 'auto';
  if (app !== 'auto' && app !== 'container' && app !== 'cgroup') throw new SyswardenError('ERR_USAGE', `demo: --app must be auto, container or cgroup, got '${app}'.`);
  return {
    help: false,
    json: values.json === true,
    app,
    learn: parseDuration('learn', values.learn, MAX_PHASE_SECONDS) ?? DEFAULT_LEARN_MS / 1000,
    normal: parseDuration('normal', values.normal, MAX_PHASE_SECONDS) ?? 8,
  };
}

export async function run(argv: string[]): Promise<number> {
  const args = parse(argv);
  if (args.help) {
    console.log(HELP);
    return 0;
  }
  const { learn, normal } = args;
  return withStopSignals(async (signal) => {
    const s = await runDemo({
      application: args.app,
      learnMs: learn * 1000,
      normalMs: normal * 1000,
      signal,
      onPhase: (p) => console.error(`syswarden demo: ${p}`),
      onAlert: (a, phase) => console.error(`  [${phase}] ${formatAlert(a)}`),
    });
    const lines = [
      `application     ${s.application === 'container' ? `container ${s.target}` : `cgroup ${s.cgroup}`}${s.note ? ` (${s.note})` : ''}`,
      `detector        ${s.detector}, window ${s.window}, threshold ${s.learnt.threshold.toFixed(3)} (${s.learnt.distinct} distinct normal windows${s.learnt.converged ? ', database stopped growing' : ', database still growing'})`,
      `windows scored  ${s.windowsScored}`,
      `alerts          ${s.alertsNormal} during the normal phase, ${s.alertsAttack} during the attack`,
      `detection       ${s.detected ? `yes: first alert ${s.attackToAlertMs!.toFixed(0)} ms after the attack request, ${s.syscallToAlertMs?.toFixed(1) ?? '?'} ms after the syscall that completed its window` : 'NO: the attack raised no alert'}`,
      ...(s.firstAttackProcess?.exe ? [`process         the first attack alert named ${s.firstAttackProcess.exe}[${s.firstAttackProcess.pid}]${s.firstAttackProcess.parentExe ? `, child of ${s.firstAttackProcess.parentExe}` : ''}`] : []),
      `drift           ${describeDrift(s.drift.attack)} during the attack, ${describeDrift(s.drift.normal)} during the normal phase`,
      `latency         syscall to alert p50 ${s.latencyMs.p50.toFixed(1)} ms, p99 ${s.latencyMs.p99.toFixed(1)} ms`,
      `drops           kernel ${s.drops.kernel}, user space ${s.drops.user}, scoring ${s.drops.scoring}`,
      `wall time       ${s.seconds.toFixed(1)} s`,
    ];
    console.log(lines.join('\n'));
    if (args.json) console.log(JSON.stringify(s));
    return s.detected && s.alertsNormal === 0 ? 0 : 1;
  });
}

/** "3 new executables (/bin/id, /bin/uname, ...)" */
function describeDrift(exes: string[]): string {
  if (exes.length === 0) return 'no new executable';
  const shown = exes.slice(0, 4).join(', ') + (exes.length > 4 ? ', ...' : '');
  return `${exes.length} new executable${exes.length === 1 ? '' : 's'} (${shown})`;
}

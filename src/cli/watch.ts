import { targetContainer, type AlertRecord } from '../alert/alert.js';
import { AlertOutputs, checkOutputs, OUTPUT_HELP } from '../alert/outputs.js';
import { parseDeliveryArgs } from './delivery-args.js';
import { AGENT_CONSUMER_NICE, Collector } from '../capture/collector.js';
import { preflight } from '../capture/preflight.js';
import { resolveTarget, TARGET_SPEC_HELP } from '../capture/targets.js';
import { AGENT_WORKER_NICE, Pipeline, PipelineModel } from '../pipeline/pipeline.js';
import { SyswardenError } from '../errors.js';
import { formatCalibration } from '../detect/calibration.js';
import { parseCommandArgs, parseDecimal, parseDuration, parseInteger } from './args.js';
import { withStopSignals } from './signals.js';
import { setLongTimeout } from '../long-timer.js';
import { AutoWatch, checkModelsDir } from '../pipeline/auto-watch.js';
import { parseResponseOptions, RESPONSE_HELP, RESPONSE_OPTIONS } from '../response/options.js';
import { Responder } from '../response/responder.js';
import { parseMetricsAddress } from '../metrics/address.js';
import type { MetricsEndpoint } from '../metrics/endpoint.js';
import { pidView } from '../process/pidns.js';

/** Seconds of live learning for a container no model fits (watch --all-containers). */
const DEFAULT_LEARN_FOR = 300;

const HELP = `usage: syswarden watch --target <spec> [--target <spec>...] --model <file> [--output <dest>...] [--format json|falco|pretty] [--workers N] [--duration <s>] [--exit-when-gone]
                       [--cpus-per-ring N] [--output-buffer N] [--flush-timeout <s>] [--metrics <ip:port>]
                       [--respond freeze|kill [--freeze-for <s>] [--respond-limit N]]
       syswarden watch --all-containers [--models <dir>] [--model <file>] [--learn-for <s>] [--save-learnt] [...]

Live detection: alert records as JSON lines on stdout (or --out, appended),
readable lines with --pretty; stats on stderr every few seconds. The first
record is {"type":"ready",...}, written once every syscall of the targets is
being scored. A process leaving a target's cgroup for one outside the
watched set gives a {"type":"escape",...} record at once (it stays
watched). With a model trained with process events (live, or from
recordings), the first exec in a target of an executable never exec'd
while training gives a {"type":"new-executable",...} record. A target
that goes away gives a {"type":"target-gone",...}
record; with --exit-when-gone, watch ends (exit 0) when no target is left,
otherwise it keeps running. If the alert output cannot be written (a full
disk), records wait in memory and detection goes on; watch exits 1 if any
record was lost. --cpus-per-ring N gives each group of N CPUs a ring of its
own instead of one shared by all (0, the default): less contention on hosts
with many CPUs, one ring's memory per group. ${TARGET_SPEC_HELP}
${OUTPUT_HELP}; --out <file> is --output <file>, --pretty is --format pretty.
--format falco writes Falco events (for Falcosidekick). A bus or webhook
that is down keeps up to --output-buffer records (default 10000) waiting,
in order; beyond that the newest are lost, counted, and an 'alerts-lost'
record says so on the outputs that work. At exit, waiting records get
--flush-timeout seconds (default 5); what is left is lost (exit 1).
See docs/alert-delivery.md. --metrics 127.0.0.1:9469 serves Prometheus
metrics at http://127.0.0.1:9469/metrics (docs/metrics.md).

--all-containers watches every container of the host: those running now,
and each new one from the creation of its cgroup, before its first exec
(the kernel adopts new children of the runtimes' cgroups: Docker,
containerd, CRI-O, Podman, Kubernetes pods), until it exits. Each is scored
by the model of its image from --models <dir>: <image id hex>.model first,
then <image name>.model ('/' and ':' as '_', e.g. nginx_1.25.model), else
by --model if given, else its normal behaviour is learnt live for
--learn-for seconds (default ${DEFAULT_LEARN_FOR}; 0: it is not scored) and it is scored
by that from then on (--save-learnt writes that model to --models as
<image id>.model). A {"type":"container-watched",...} record says how each
container is scored, {"type":"container-learnt",...} when learning ends.
See docs/operations.md.

${RESPONSE_HELP}`;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(
    'watch',
    argv,
    {
      target: { type: 'string', multiple: true },
      model: { type: 'string', short: 'm' },
      out: { type: 'string', short: 'o' },
      pretty: { type: 'boolean' },
      workers: { type: 'string' },
      duration: { type: 'string', short: 'd' },
      'stats-every': { type: 'string' },
      'exit-when-gone': { type: 'boolean' },
      'cpus-per-ring': { type: 'string' },
      ...RESPONSE_OPTIONS,
      metrics: { type: 'string' },
      output: { type: 'string', multiple: true },
      format: { type: 'string' },
      'output-buffer': { type: 'string' },
      'flush-timeout': { type: 'string' },
      'all-containers': { type: 'boolean' },
      models: { type: 'string' },
      'learn-for': { type: 'string' },
      'save-learnt': { type: 'boolean' },
    },
    HELP,
  );
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const targets = values.target ?? [];
  const all = values['all-containers'] === true;
  if (targets.length === 0 && !all) throw new SyswardenError('ERR_USAGE', `watch needs --target <spec> (or --all-containers).\n\n${HELP}`);
  if (!values.model && !all) throw new SyswardenError('ERR_USAGE', `watch needs --model <file> (make one with 'syswarden train').`);
  if (!all) {
    for (const o of ['models', 'learn-for', 'save-learnt'] as const) {
      if (values[o] !== undefined) throw new SyswardenError('ERR_USAGE', `--${o} goes with --all-containers. Fix: add --all-containers, or drop --${o}.`);
    }
  }
  if (all && values['exit-when-gone']) throw new SyswardenError('ERR_USAGE', '--exit-when-gone does not go with --all-containers (containers come and go; watch keeps running). Fix: drop one of them.');
  if (values['save-learnt'] && !values.models) throw new SyswardenError('ERR_USAGE', '--save-learnt writes learnt models to the --models directory. Fix: give --models <dir>.');
  const learnFor = all ? (parseDecimal('learn-for', values['learn-for'], { min: 0, max: 31_622_400, unit: 'seconds' }) ?? DEFAULT_LEARN_FOR) : 0;
  const workers = parseInteger('workers', values.workers, { min: 1, max: 256 });
  const duration = parseDuration('duration', values.duration);
  const every = parseDecimal('stats-every', values['stats-every'], { min: 0.1, max: 86_400, unit: 'seconds' }) ?? 5;
  const exitWhenGone = values['exit-when-gone'] === true;
  const cpusPerRing = parseInteger('cpus-per-ring', values['cpus-per-ring'], { min: 0, max: 4096 });
  const respond = parseResponseOptions(values);
  const metricsAt = values.metrics !== undefined ? parseMetricsAddress(values.metrics) : undefined;
  const delivery = parseDeliveryArgs(values);

  return withStopSignals(async (signal) => {
    // Everything that can be refused is refused before a worker starts or
    // anything is attached to the kernel, and nothing is left running after:
    // the model (restored here, so a bad one never reaches a worker), the
    // privilege to load BPF, the alert output, the targets.
    const model = values.model !== undefined ? await PipelineModel.read(values.model) : undefined;
    if (values.models !== undefined) checkModelsDir(values.models);
    preflight('auto');
    checkOutputs(delivery, values.out);
    await Promise.all(targets.map((t) => resolveTarget(t)));
    const writer = new AlertOutputs(delivery);
    let pipeline: Pipeline | undefined;
    let collector: Collector | undefined;
    let stats: NodeJS.Timeout | undefined;
    let responder: Responder | undefined;
    let metrics: MetricsEndpoint | undefined;
    let auto: AutoWatch | undefined;
    try {
      if (respond) responder = await Responder.create({ ...respond, write: (r) => writer.write(r) });
      // Loaded only when asked for: a watch without --metrics does not pay for prom-client.
      if (metricsAt) metrics = await (await import('../metrics/endpoint.js')).MetricsEndpoint.listen(metricsAt);
      pipeline = await Pipeline.create({ workerNice: AGENT_WORKER_NICE, ...(model ? { model } : {}), ...(workers ? { workers } : {}) });
      const p = pipeline;
      let allGone: (() => void) | undefined;
      p.on('alert', (a: AlertRecord) => {
        writer.write(a);
        responder?.handle(a);
        if (a.type !== 'target-gone') return;
        console.error(`syswarden: target ${a.container.spec ?? a.container.cgroup} is gone (${a.remaining} left).`);
        if (a.remaining === 0) allGone?.();
      });
      p.on('worker-exit', (w: { index: number; reason: string }) => console.error(`syswarden: scoring worker ${w.index} died (${w.reason}); replaced.`));
      // Last: from here on the kernel sends events, and the workers are ready for them.
      collector = await Collector.open({ targets, consumerNice: AGENT_CONSUMER_NICE, ...(cpusPerRing !== undefined ? { cpusPerRing } : {}) });
      const c = collector;
      p.attach(c);
      metrics?.watch({ pipeline: p, collector: c, writer });
      if (all) {
        auto = new AutoWatch(c, p, {
          ...(values.models !== undefined ? { modelsDir: values.models } : {}),
          ...(model ? { fallback: model } : {}),
          learnFor,
          saveLearnt: values['save-learnt'] === true,
          report: (r) => writer.write(r),
          warn: (m) => console.error(`syswarden: ${m}`),
        });
        await auto.start();
      }
      const watched = c.targets();
      writer.write({
        type: 'ready',
        time: new Date().toISOString(),
        ...(model
          ? {
              detector: p.detector,
              model: p.modelName,
              windowSize: p.windowSize,
              calibration: {
                threshold: model.calibration.threshold,
                frame: model.calibration.frame,
                budget: model.calibration.budget,
                unit: model.calibration.unit,
                expected: model.calibration.expected,
              },
              ...(model.executables ? { knownExecutables: model.executables.size } : {}),
            }
          : {}),
        workers: p.workerCount,
        targets: watched.map(targetContainer),
        attach: c.attachMode,
        startupMs: Math.round(performance.now()),
        ...(auto ? { adopting: auto.parents } : {}),
      });
      if (auto) {
        console.error(`syswarden: watching every container (${watched.length} running; new ones under ${auto.parents.join(', ')} from their creation), ${p.workerCount} workers`);
        console.error(
          `  models: ${values.models ? `by image from ${values.models}` : 'no --models directory'}` +
            (model ? `, else ${model.name}` : learnFor > 0 ? `, else learnt live for ${learnFor} s` : ', else not scored'),
        );
      } else console.error(`syswarden: watching ${targets.join(', ')} with ${p.detector} (window ${p.windowSize}, ${p.workerCount} workers)`);
      if (model) {
        const made = model.summary;
        console.error([formatCalibration(model.calibration), ...(made ? [made] : [])].join('\n').split('\n').map((l) => `  ${l}`).join('\n'));
        if (model.executables) console.error(`  drift: the first exec of an executable other than the ${model.executables.size} the model knows is a 'new-executable' record`);
      }
      if (metrics) console.error(`  metrics: ${metrics.url}`);
      // Said once: what a pid namespace of syswarden's own changes (src/process/pidns.ts).
      const pids = pidView().describe();
      if (pids) console.error(`  pids: ${pids}`);
      let last = { t: Date.now(), events: 0, windows: 0 };
      stats = setInterval(() => {
        const cs = c.stats();
        const ps = p.stats();
        const dt = (Date.now() - last.t) / 1000;
        console.error(
          `syswarden: ${((ps.events - last.events) / dt).toFixed(0)} events/s, ${((ps.windows - last.windows) / dt).toFixed(0)} windows/s, ` +
            `drops kernel ${cs.kernel.dropped} / native+js ${cs.user.droppedEvents} / scoring ${ps.droppedEvents}, alerts ${ps.incidents}` +
            (cs.fairShare?.shedNow ? `, ${cs.fairShare.shedNow} flooding container(s) shed` : '') +
            writer.describe(),
        );
        last = { t: Date.now(), events: ps.events, windows: ps.windows };
      }, every * 1000);
      await new Promise<void>((resolve) => {
        const timer = duration !== undefined ? setLongTimeout(resolve, duration * 1000) : undefined;
        const stop = () => {
          timer?.clear();
          resolve();
        };
        // A stop asked for while starting up counts too.
        if (signal.aborted) stop();
        signal.addEventListener('abort', stop, { once: true });
        // Targets may already be gone between resolving them and now.
        if (exitWhenGone) {
          allGone = stop;
          if (c.targets().length === 0) stop();
        }
      });
    } finally {
      if (stats) clearInterval(stats);
      auto?.stop();
      // First: whatever it froze is thawed, and its records written, before anything else closes.
      await responder?.close();
      await metrics?.close();
      await collector?.close();
      await pipeline?.close();
      await writer.close();
    }
    const p = pipeline.stats();
    const w = writer.stats();
    console.error(
      `syswarden: scored ${p.windows} windows; ${p.incidents} incidents; ${p.droppedEvents} events not scored` +
        (p.unscoredEvents > 0 ? `; ${p.unscoredEvents} events of containers without a model (learning, or none fits)` : '') +
        (p.unjudgedThreads > 0 ? `; ${p.unjudgedThreads} threads ended too short for any alarm (train says at which window they are seen)` : '') +
        (w.lost > 0 ? `; ${writer.lossSummary()}.` : '.'),
    );
    // The exit code tells the truth: alerts that never reached the output are a failure.
    return w.lost > 0 ? 1 : 0;
  });
}

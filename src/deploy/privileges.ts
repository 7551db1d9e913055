/**
 * The privileges the syswarden agent needs in a container: the one
 * definition. The DaemonSet (docs/deploy/daemonset.yaml, made by
 * daemonSetYaml and checked against it by a test), the `docker run` line
 * the docs give and the container the deploy test runs are all rendered
 * from it, so they cannot drift apart. Each entry was found by running the
 * agent without it (docs/deploy.md has what happens then).
 */
import { SyswardenError } from '../errors.js';

export interface Capability {
  /** The name without CAP_, as Kubernetes and `docker --cap-add` spell it. */
  readonly name: string;
  readonly why: string;
}

export interface HostMount {
  /** Volume name in the DaemonSet. */
  readonly name: string;
  /** The same path on the host and in the container. */
  readonly path: string;
  readonly why: string;
  /** Said in the manifest when the mount only matters on some nodes. */
  readonly note?: string;
  /** syswarden's own directory (made on the host if missing) rather than the host's state. */
  readonly own?: boolean;
}

export interface AgentPrivileges {
  /** Every other capability is dropped. */
  readonly capabilities: readonly Capability[];
  /** Share the host's pid namespace (hostPID, --pid=host). */
  readonly hostPid: { readonly why: string };
  /** Host paths, all bind-mounted read-only. */
  readonly mounts: readonly HostMount[];
}

/** Where the agent looks for models, in the container and on the host. */
export const MODELS_DIR = '/var/lib/syswarden/models';

export const AGENT_PRIVILEGES: AgentPrivileges = {
  capabilities: [
    { name: 'BPF', why: 'load the BPF programs and make their maps and ring buffer (bpf())' },
    { name: 'PERFMON', why: 'the programs are tracing programs (tp_btf on sys_enter and cgroup_mkdir): the kernel loads and attaches those only with CAP_PERFMON too' },
  ],
  hostPid: {
    why: 'the kernel reports host pids; in the host pid namespace they are the agent\'s pids, so it leaves its own syscalls out and names processes by pid (until syswarden translates pids itself)',
  },
  mounts: [
    {
      name: 'cgroup',
      path: '/sys/fs/cgroup',
      why: 'the host\'s cgroup tree: containers are found, named and filtered by their cgroup v2 directory and its id; the container\'s own /sys/fs/cgroup shows only itself',
    },
    {
      name: 'docker-containers',
      path: '/var/lib/docker/containers',
      why: 'Docker\'s record of each container (name, image id, labels, Kubernetes pod), read when the kernel reports a new container, to pick its model before its entrypoint runs',
      note: 'Docker nodes only: delete this mount and its volume on containerd or CRI-O nodes, where containers are known by id and cgroup',
    },
    {
      name: 'models',
      path: MODELS_DIR,
      why: 'models by image (<image id>.model, <image name>.model) made with `syswarden train`; a container no model fits is learnt live. It may be empty',
      own: true,
    },
  ],
};

/** The container's entrypoint arguments: every container, learnt live where no model fits, alerts as JSON lines on stdout. */
export const AGENT_ARGS: readonly string[] = ['watch', '--all-containers', '--models', MODELS_DIR, '--learn-for', '300'];

export interface RunOptions {
  image: string;
  /** Default true: share the host's pid namespace. */
  hostPid?: boolean;
  /** Leave out capabilities (a test that shows what breaks without one). */
  without?: readonly string[];
  /** Host folders to mount instead of a mount's own path, by mount name (a test's empty models folder). */
  sources?: Readonly<Record<string, string>>;
}

/** The host folder behind each mount. */
export function mountSources(o: RunOptions): Array<{ source: string; target: string }> {
  for (const name of Object.keys(o.sources ?? {})) {
    if (!AGENT_PRIVILEGES.mounts.some((m) => m.name === name)) throw new SyswardenError('ERR_USAGE', `no mount is named ${name}`);
  }
  return AGENT_PRIVILEGES.mounts.map((m) => ({ source: o.sources?.[m.name] ?? m.path, target: m.path }));
}

function capabilities(o: RunOptions): string[] {
  for (const w of o.without ?? []) {
    if (!AGENT_PRIVILEGES.capabilities.some((c) => c.name === w)) throw new SyswardenError('ERR_USAGE', `the agent is granted no capability ${w}`);
  }
  return AGENT_PRIVILEGES.capabilities.map((c) => c.name).filter((n) => !(o.without ?? []).includes(n));
}

/**
 * `docker run` options (Docker 23 or later: older engines know neither
 * CAP_BPF nor CAP_PERFMON, and their seccomp profile allows bpf() only with
 * CAP_SYS_ADMIN). Docker's default seccomp profile stays on.
 */
export function dockerRunOptions(o: RunOptions): string[] {
  const args = ['--cap-drop', 'ALL', ...capabilities(o).flatMap((c) => ['--cap-add', c])];
  if (o.hostPid !== false) args.push('--pid', 'host');
  for (const m of mountSources(o)) args.push('--mount', `type=bind,source=${m.source},target=${m.target},readonly`);
  args.push('--read-only', '--security-opt', 'no-new-privileges');
  return args;
}

/** The capabilities a renderer adds, for a test that runs the agent some other way. */
export function agentCapabilities(o: RunOptions): string[] {
  return capabilities(o);
}

/** Wrap a line of prose as YAML comment lines at `indent`. */
function comment(indent: string, text: string, width = 96): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && indent.length + 2 + line.length + 1 + word.length > width) {
      lines.push(`${indent}# ${line}`);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(`${indent}# ${line}`);
  return lines;
}

/**
 * The DaemonSet: one agent per node with exactly the privileges above.
 * The text is YAML with a comment on every line that is not self-evident.
 */
export function daemonSetYaml(image = 'syswarden:TAG'): string {
  const p = AGENT_PRIVILEGES;
  const out: string[] = [
    '# syswarden: one agent per node, watching every container on it.',
    '# Generated by `syswarden image manifest` from src/deploy/privileges.ts (the one definition',
    '# of the agent\'s privileges); docs/deploy.md explains every line. Do not edit by hand:',
    '# regenerate with --image <the tag `syswarden image build` printed, pushed to your registry>.',
    'apiVersion: apps/v1',
    'kind: DaemonSet',
    'metadata:',
    '  name: syswarden',
    '  namespace: kube-system',
    '  labels:',
    '    app.kubernetes.io/name: syswarden',
    'spec:',
    '  selector:',
    '    matchLabels:',
    '      app.kubernetes.io/name: syswarden',
    '  updateStrategy:',
    '    type: RollingUpdate',
    '    rollingUpdate:',
    '      maxUnavailable: 1 # nodes go unwatched one at a time during an upgrade',
    '  template:',
    '    metadata:',
    '      labels:',
    '        app.kubernetes.io/name: syswarden',
    '    spec:',
    ...comment('      ', `hostPID: ${p.hostPid.why}.`),
    '      hostPID: true',
    '      hostNetwork: false # the agent needs no host network: alerts go to stdout',
    '      automountServiceAccountToken: false # it never talks to the Kubernetes API',
    '      priorityClassName: system-node-critical # evicted last: a node under pressure is when it matters',
    '      tolerations:',
    '        - operator: Exists # every node, tainted or not',
    '      containers:',
    '        - name: syswarden',
    `          image: ${image}`,
    '          imagePullPolicy: IfNotPresent',
    ...comment('          ', 'Every container from its creation; a container whose image has no model in the models directory is learnt live for 300 s, then scored. Alerts are JSON lines on stdout (kubectl logs, or any log shipper); see docs/operations.md for --output, --metrics and --model.'),
    `          args: [${AGENT_ARGS.map((a) => JSON.stringify(a)).join(', ')}]`,
    '          securityContext:',
    '            privileged: false',
    ...comment('            ', 'uid 0: Docker\'s container records are readable by root only, and no capability that overrides file permissions is granted.'),
    '            runAsUser: 0',
    '            allowPrivilegeEscalation: false # no setuid gains; the granted capabilities are all it ever has',
    '            readOnlyRootFilesystem: true # syswarden writes nothing but stdout',
    '            seccompProfile:',
    ...comment('              ', 'The runtime\'s default filter: it allows bpf() and perf_event_open() to a process holding CAP_BPF and CAP_PERFMON in Docker 23 and later, containerd 1.7 and later, and containerd 1.6.20 (tested). Older runtimes need a profile of their own (docs/deploy.md).'),
    '              type: RuntimeDefault',
    '            capabilities:',
    '              drop: ["ALL"]',
    '              add:',
    ...p.capabilities.flatMap((c) => [...comment('                ', `CAP_${c.name}: ${c.why}.`), `                - ${c.name}`]),
    '          resources:',
    ...comment('            ', 'The CPU request is the agent\'s share against busy containers (nice values count only inside its own cgroup); memory stays under 512 MiB in the hostile-container test (docs/security.md).'),
    '            requests: { cpu: 200m, memory: 256Mi }',
    '            limits: { memory: 1Gi }',
    '          volumeMounts:',
    ...p.mounts.flatMap((m) => [
      ...comment('            ', `${m.path}: ${m.why}.${m.note ? ` ${m.note}.` : ''}`),
      `            - { name: ${m.name}, mountPath: ${m.path}, readOnly: true }`,
    ]),
    '      volumes:',
    ...p.mounts.map((m) => `        - { name: ${m.name}, hostPath: { path: ${m.path}, type: ${m.own ? 'DirectoryOrCreate' : 'Directory'} } }`),
  ];
  return `${out.join('\n')}\n`;
}


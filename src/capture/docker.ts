import { request } from 'node:http';
import { SyswardenError } from '../errors.js';

export interface DockerContainer {
  id: string;
  name: string;
  /** The image as the container was created from it (Config.Image: a name, or an id). */
  image?: string;
  /** The image's content id (sha256:...). */
  imageId?: string;
  running: boolean;
  status: string;
  pid: number;
}

function dockerSocket(): string {
  const host = process.env.DOCKER_HOST;
  if (host && host.startsWith('unix://')) return host.slice('unix://'.length);
  return '/var/run/docker.sock';
}

/** Ask the Docker engine (over its unix socket) about a container by id, id prefix or name. */
export function inspectContainer(idOrName: string, timeoutMs = 5000): Promise<DockerContainer> {
  const socketPath = dockerSocket();
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(idOrName)) {
    return Promise.reject(
      new SyswardenError('ERR_INVALID_TARGET', `'${idOrName}' is not a container id or name (letters, digits, '_', '.', '-').`),
    );
  }
  return new Promise((resolvePromise, reject) => {
    const req = request(
      { socketPath, path: `/containers/${encodeURIComponent(idOrName)}/json`, method: 'GET', timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode === 404) {
            reject(
              new SyswardenError(
                'ERR_TARGET_NOT_FOUND',
                `Docker knows no container '${idOrName}'. List running ones with \`docker ps\`.`,
              ),
            );
            return;
          }
          if (res.statusCode !== 200) {
            reject(new SyswardenError('ERR_DOCKER', `Docker answered ${res.statusCode} for container '${idOrName}': ${body.trim()}`));
            return;
          }
          try {
            const j = JSON.parse(body) as { Id: string; Name: string; Image?: unknown; Config?: { Image?: unknown }; State: { Running: boolean; Status: string; Pid: number } };
            resolvePromise({
              id: j.Id,
              name: j.Name.replace(/^\//, ''),
              ...(typeof j.Config?.Image === 'string' && j.Config.Image ? { image: j.Config.Image.slice(0, 256) } : {}),
              ...(typeof j.Image === 'string' && j.Image ? { imageId: j.Image.slice(0, 256) } : {}),
              running: j.State.Running,
              status: j.State.Status,
              pid: j.State.Pid,
            });
          } catch {
            reject(new SyswardenError('ERR_DOCKER', `Docker sent an answer syswarden cannot read for container '${idOrName}'.`));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? 'is not running' : `did not answer (${err.message})`;
      reject(
        new SyswardenError(
          'ERR_DOCKER',
          `the Docker engine at ${socketPath} ${why}, so container '${idOrName}' cannot be resolved. ` +
            'Start dockerd, set DOCKER_HOST=unix:///path/to/docker.sock, or name the cgroup directly with cgroup:<path>.',
        ),
      );
    });
    req.end();
  });
}

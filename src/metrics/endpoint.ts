import type { MetricsAddress } from './address.js';
import { MetricsServer } from './server.js';
import { WatchMetrics, type WatchMetricsOptions, type WatchSources } from './watch-metrics.js';

/**
 * `watch --metrics`: the HTTP endpoint and the metrics it serves. listen()
 * binds first, before a worker starts or anything is attached (a busy port
 * is refused while nothing needs undoing); it serves build and process
 * metrics from then on, and the watch's own once watch() hands them over.
 */
export class MetricsEndpoint {
  private unwatch: (() => void) | undefined;

  private constructor(
    private readonly server: MetricsServer,
    readonly metrics: WatchMetrics,
  ) {}

  static async listen(at: MetricsAddress, options: WatchMetricsOptions = {}): Promise<MetricsEndpoint> {
    const metrics = new WatchMetrics(options);
    const server = await MetricsServer.listen(at);
    server.serve(() => metrics.render());
    return new MetricsEndpoint(server, metrics);
  }

  /** The URL to scrape. */
  get url(): string {
    return this.server.url;
  }

  get address(): MetricsAddress {
    return this.server.address;
  }

  /** Serve the metrics of this watch (once). */
  watch(sources: WatchSources): void {
    this.unwatch = this.metrics.watch(sources);
  }

  async close(): Promise<void> {
    this.unwatch?.();
    this.unwatch = undefined;
    await this.server.close();
  }
}

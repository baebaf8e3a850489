/** Buckets of the job-duration histogram (seconds). */
export const DURATION_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/**
 * The service's Prometheus metrics, kept in memory: requests by method, route and status, job
 * durations (histogram) and the queue depth (gauges read at scrape time).
 */
export class Metrics {
  private readonly requests = new Map<string, number>();
  private readonly buckets = DURATION_BUCKETS.map(() => 0);
  private durationSum = 0;
  private durationCount = 0;

  /** Count one request. `route` is the route pattern (never the raw path: bounded labels). */
  request(method: string, route: string, status: number): void {
    const key = `method="${method}",route="${route.replace(/["\\\n]/g, '_')}",status="${status}"`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
  }

  /** Record finished jobs' durations (seconds). */
  jobDurations(seconds: number[]): void {
    for (const s of seconds) {
      this.durationSum += s;
      this.durationCount++;
      DURATION_BUCKETS.forEach((b, i) => {
        if (s <= b) this.buckets[i]++;
      });
    }
  }

  /** The exposition text (format 0.0.4). */
  render(depth: { queued: number; running: number }): string {
    const lines = ['# HELP ragar_http_requests_total HTTP requests by method, route and status.', '# TYPE ragar_http_requests_total counter'];
    for (const [k, v] of [...this.requests].sort()) lines.push(`ragar_http_requests_total{${k}} ${v}`);
    lines.push('# HELP ragar_job_duration_seconds Run time of finished generation jobs.', '# TYPE ragar_job_duration_seconds histogram');
    DURATION_BUCKETS.forEach((b, i) => lines.push(`ragar_job_duration_seconds_bucket{le="${b}"} ${this.buckets[i]}`));
    lines.push(`ragar_job_duration_seconds_bucket{le="+Inf"} ${this.durationCount}`, `ragar_job_duration_seconds_sum ${this.durationSum}`, `ragar_job_duration_seconds_count ${this.durationCount}`);
    lines.push('# HELP ragar_queue_jobs Generation jobs waiting (queued) and in progress (running).', '# TYPE ragar_queue_jobs gauge');
    lines.push(`ragar_queue_jobs{state="queued"} ${depth.queued}`, `ragar_queue_jobs{state="running"} ${depth.running}`);
    return `${lines.join('\n')}\n`;
  }
}

/**
 * A token bucket per client: `perMinute` requests a minute, bursts up to the same number.
 * Returns the seconds to wait when the bucket is empty, else 0.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  readonly perMinute: number;
  constructor(perMinute: number) {
    this.perMinute = perMinute;
  }

  /** Take one token for `client`; 0 when allowed, else the seconds until one is available. */
  take(client: string, now = Date.now()): number {
    const b = this.buckets.get(client) ?? { tokens: this.perMinute, at: now };
    b.tokens = Math.min(this.perMinute, b.tokens + ((now - b.at) / 60_000) * this.perMinute);
    b.at = now;
    this.buckets.set(client, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - b.tokens) / this.perMinute) * 60);
  }
}

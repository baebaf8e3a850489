import cliProgress from 'cli-progress';
import type { Progress } from '../util/progress.js';
import { silentProgress } from '../util/progress.js';

/**
 * The CLI's progress sink: a bar on stderr when it is a terminal; otherwise plain lines (see
 * {@link lineProgress}) so a log shows that long work is moving; nothing with `--quiet` or `--json`.
 */
export function terminalProgress(options: { quiet?: boolean } = {}): Progress {
  if (options.quiet) return silentProgress;
  if (!process.stderr.isTTY) return lineProgress((line) => process.stderr.write(`${line}\n`));
  let bar: cliProgress.SingleBar | null = null;
  return {
    start(label, total) {
      bar?.stop();
      bar = new cliProgress.SingleBar(
        {
          format: `${label.padEnd(18)} [{bar}] {percentage}% | {value}/{total} | eta {eta_formatted}`,
          stream: process.stderr,
          hideCursor: true,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total, 0);
    },
    update(done) {
      bar?.update(done);
    },
    stop() {
      if (bar) {
        bar.update(bar.getTotal());
        bar.stop();
      }
      bar = null;
    },
  };
}

/**
 * A progress sink for logs (stderr not a terminal): a line when a phase starts, then a line with
 * done/total, rate and an estimate of the time left at most every `intervalMs` (default 10 s),
 * and a line when it finishes. `now` is injectable for tests.
 *
 * @example
 * const p = lineProgress((l) => console.error(l));
 * p.start('image embeddings', 7679); p.update(500); p.stop();
 * // image embeddings: 0/7679 …  image embeddings: 500/7679 (6.5%) 98.0/s, about 73 s left …
 */
export function lineProgress(write: (line: string) => void, options: { intervalMs?: number; now?: () => number } = {}): Progress {
  const interval = options.intervalMs ?? 10_000;
  const now = options.now ?? Date.now;
  let label = '';
  let total = 0;
  let done = 0;
  let started = 0;
  let last = 0;
  let active = false;
  const seconds = (ms: number): string => (ms >= 60_000 ? `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s` : `${(ms / 1000).toFixed(1)} s`);
  return {
    start(l, t) {
      label = l;
      total = t;
      done = 0;
      started = last = now();
      active = true;
      write(`${label}: 0/${total}`);
    },
    update(d) {
      done = d;
      const t = now();
      if (!active || t - last < interval) return;
      last = t;
      const elapsed = t - started;
      const rate = elapsed > 0 ? (done / elapsed) * 1000 : 0;
      const pct = total > 0 ? ` (${((100 * done) / total).toFixed(1)}%)` : '';
      const eta = rate > 0 && total > done ? `, about ${seconds(((total - done) / rate) * 1000)} left` : '';
      write(`${label}: ${done}/${total}${pct} after ${seconds(elapsed)}, ${rate >= 10 ? rate.toFixed(0) : rate.toFixed(2)}/s${eta}`);
    },
    stop() {
      if (!active) return;
      active = false;
      write(`${label}: ${total} done in ${seconds(now() - started)}`);
    },
  };
}

import cliProgress from 'cli-progress';
import type { Progress } from '../util/progress.js';
import { silentProgress } from '../util/progress.js';

/**
 * The CLI's progress sink: a bar on stderr when it is a terminal; otherwise one line per
 * finished phase (so CI logs stay readable); nothing with `--quiet` or `--json`.
 */
export function terminalProgress(options: { quiet?: boolean } = {}): Progress {
  if (options.quiet) return silentProgress;
  if (!process.stderr.isTTY) {
    let label = '';
    let total = 0;
    let started = 0;
    return {
      start(l, t) {
        label = l;
        total = t;
        started = Date.now();
      },
      update() {},
      stop() {
        process.stderr.write(`${label}: ${total} done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
      },
    };
  }
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

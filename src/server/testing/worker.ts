/**
 * A BullMQ worker process for the tests (`node --import tsx worker.ts HOME REDIS_URL LABEL
 * DELAY_MS LOG_FILE`): `ragar worker` with a {@link SlowEngine} named `slow` and short lock and
 * stalled-check intervals, so that a test can kill it mid-job and see another worker recover
 * the job. Prints `{"worker":"ready"}` once it listens.
 */
import { createRagar } from '../../api/ragar.js';
import { startBullmqWorker } from '../bullmq.js';
import { ServiceFiles } from '../files.js';
import { SlowEngine } from './slowEngine.js';

const [home, url, label, delay, logFile] = process.argv.slice(2);
const ragar = createRagar({ home });
const worker = startBullmqWorker({
  url,
  ctx: { ragar, files: new ServiceFiles(home), engines: { slow: new SlowEngine({ delayMs: Number(delay), logFile, label }) }, defaultEngine: 'slow' },
  lockDurationMs: 2000,
  stalledIntervalMs: 1000,
});
process.stdout.write(`${JSON.stringify({ worker: 'ready', label })}\n`);
process.once('SIGTERM', () => void worker.close().then(() => ragar.close()).then(() => process.exit(0)));

import { Command } from 'commander';
import { MockGeneratorEngine } from '../../generation/mockEngine.js';
import type { GeneratorEngineV1 } from '../../generation/types.js';
import { startService } from '../../server/serve.js';
import { ApiKeys, StudyVotes } from '../../store/service.js';
import { formatStudyReport, summarizeVotes } from '../../server/study.js';
import { resolveHome } from '../../util/home.js';
import { cliEnvironment, withStore, type GlobalOptions } from '../context.js';
import { intOption, listOption } from '../options.js';

/**
 * `ragar serve`: the HTTP API, the job worker and the web app on the data home. Runs until
 * SIGINT/SIGTERM; a job running then is queued again at the next start.
 */
export function serveCommand(): Command {
  return new Command('serve')
    .description('serve the HTTP API (/v1, OpenAPI at /openapi.json, reference at /docs), the job worker and the web app (/, /study)')
    .option('--port <n>', 'TCP port (0: any free port)', intOption(0), 8787)
    .option('--host <h>', 'address to listen on', '127.0.0.1')
    .option('--no-auth', 'no API keys (allowed on a loopback host only)')
    .option('--engine <name>', 'engine of requests that name none: a built-in variant (ragar, ragar-norank, l1) or "mock" (the deterministic test engine, no weights needed)', 'ragar')
    .option('--rate-limit <n>', 'requests a minute per API key', intOption(1), 600)
    .option('--max-queued <n>', 'most jobs queued or running (more: 429)', intOption(1), 64)
    .option('--max-upload <bytes>', 'largest request body with an upload (more: 413)', intOption(1024), 4 * 1024 * 1024)
    .option('--cors <origins>', 'origins allowed by CORS, comma-separated (default: CORS off)', listOption)
    .option('--queue <url>', 'put jobs on BullMQ at this redis:// URL (workers: ragar worker --queue URL)')
    .action(async (opts, cmd: Command) => {
      const g = cmd.optsWithGlobals() as GlobalOptions;
      const env = cliEnvironment(process.env);
      const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
      const engines: Record<string, GeneratorEngineV1> = opts.engine === 'mock' ? { mock: new MockGeneratorEngine({ provider: 'mock', outputSize: 64 }) } : {};
      let queue;
      if (opts.queue) {
        const { bullmqQueue } = await import('../../server/bullmq.js');
        queue = bullmqQueue({ url: opts.queue, maxQueued: opts.maxQueued, work: false, log });
      }
      const service = await startService({
        settings: { home: resolveHome(g.home, process.env), models: { clip: env.clip } },
        port: opts.port,
        host: opts.host,
        auth: opts.auth,
        engines,
        defaultEngine: opts.engine,
        rateLimit: opts.rateLimit,
        maxQueued: opts.maxQueued,
        uploads: { maxBytes: opts.maxUpload },
        corsOrigins: opts.cors,
        queue,
        log,
      });
      process.stdout.write(`${JSON.stringify({ url: service.url, port: service.port, auth: opts.auth, queue: opts.queue ? 'bullmq' : 'embedded' })}\n`);
      log(`ragar serving on ${service.url} (web app ${service.url}/, API reference ${service.url}/docs)${opts.auth ? '' : ' without API keys'}`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      log('stopping');
      await service.close();
    });
}

/** `ragar keys create|list|revoke`: the service's API keys (stored hashed). */
export function keysCommand(): Command {
  const keys = new Command('keys').description("the service's API keys (stored as SHA-256; the key is shown once, at creation)");
  keys
    .command('create')
    .description('create a key and print it (the only time it is shown)')
    .requiredOption('--name <name>', 'a name for the key (who or what uses it)')
    .action((opts, cmd: Command) =>
      withStore(cmd, (ctx) => {
        const k = new ApiKeys(ctx.store).create(opts.name);
        ctx.emit(k, `${k.key}\n(key ${k.id} "${k.name}": store it now, it is not shown again)`);
      }),
    );
  keys
    .command('list')
    .description('list keys (never the keys themselves)')
    .action((_opts, cmd: Command) =>
      withStore(cmd, (ctx) => {
        const list = new ApiKeys(ctx.store).list();
        ctx.emit({ keys: list }, () => (list.length ? list.map((k) => `${k.id}  ${k.name}  created ${new Date(k.createdAt).toISOString()}${k.revokedAt ? `  revoked ${new Date(k.revokedAt).toISOString()}` : ''}`).join('\n') : 'no keys'));
      }),
    );
  keys
    .command('revoke <idOrName>')
    .description('revoke a key by id or name (effective at once)')
    .action((idOrName: string, _opts, cmd: Command) =>
      withStore(cmd, (ctx) => {
        const k = new ApiKeys(ctx.store).revoke(idOrName);
        ctx.emit(k, `revoked ${k.id} "${k.name}"`);
      }),
    );
  return keys;
}

/** `ragar study report`: the study's votes as win rates with 95% Wilson intervals. */
export function studyCommand(): Command {
  const study = new Command('study').description('the human-evaluation study (votes from the /study page)');
  study
    .command('report')
    .description('win rate per comparison with a 95% confidence interval (Wilson)')
    .action((_opts, cmd: Command) =>
      withStore(cmd, (ctx) => {
        const comparisons = summarizeVotes(new StudyVotes(ctx.store).list());
        ctx.emit({ comparisons }, formatStudyReport(comparisons));
      }),
    );
  return study;
}

/** `ragar worker --queue redis://…`: process generation jobs from BullMQ (any number of machines sharing the data home). */
export function workerCommand(): Command {
  return new Command('worker')
    .description('process generation jobs from BullMQ; the data home (store, models, service/ folder) must be shared with the server')
    .requiredOption('--queue <url>', 'the redis:// URL the server was given')
    .option('--concurrency <n>', 'jobs at a time in this process', intOption(1), 1)
    .option('--engine <name>', 'engine of jobs that name none (as for serve; "mock" for tests)', 'ragar')
    .action(async (opts, cmd: Command) => {
      const g = cmd.optsWithGlobals() as GlobalOptions;
      const env = cliEnvironment(process.env);
      const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
      const { startBullmqWorker } = await import('../../server/bullmq.js');
      const { createRagar } = await import('../../api/ragar.js');
      const { ServiceFiles } = await import('../../server/files.js');
      const ragar = createRagar({ home: resolveHome(g.home, process.env), models: { clip: env.clip } });
      const engines: Record<string, GeneratorEngineV1> = opts.engine === 'mock' ? { mock: new MockGeneratorEngine({ provider: 'mock', outputSize: 64 }) } : {};
      const worker = startBullmqWorker({ url: opts.queue, concurrency: opts.concurrency, ctx: { ragar, files: new ServiceFiles(ragar.settings.home), engines, defaultEngine: opts.engine }, log });
      process.stdout.write(`${JSON.stringify({ worker: 'ready', concurrency: opts.concurrency })}\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', () => resolve());
        process.once('SIGTERM', () => resolve());
      });
      await worker.close();
      await ragar.close();
    });
}

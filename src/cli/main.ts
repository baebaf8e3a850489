import { Command, CommanderError } from 'commander';
import { exitCodeOf, RagarError } from '../util/errors.js';
import { datasetCommand } from './commands/dataset.js';
import { demoCommand } from './commands/demo.js';
import { embedCommand } from './commands/embed.js';
import { evalCommand } from './commands/eval.js';
import { rankCommand } from './commands/rank.js';
import { generateCommand } from './commands/generate.js';
import { retrieveCommand } from './commands/retrieve.js';
import { trainCommand } from './commands/train.js';
import { keysCommand, serveCommand, studyCommand, workerCommand } from './commands/serve.js';

/** Build the `ragar` program. Exported for tests. */
export function createProgram(): Command {
  const program = new Command('ragar')
    .description(
      'RAGAR toolkit: personalized image generation guided by recommendation.\n' +
        'Data lives in the data home: --home, else $RAGAR_HOME, else ./.ragar',
    )
    .version('0.1.0')
    .option('--home <dir>', 'data home folder (default: $RAGAR_HOME or ./.ragar)')
    .option('--json', 'print one JSON object on stdout (no progress bars)')
    .option('-q, --quiet', 'no progress output')
    .showHelpAfterError('(add --help for usage)');
  program.addCommand(demoCommand());
  program.addCommand(datasetCommand());
  program.addCommand(embedCommand());
  program.addCommand(trainCommand());
  program.addCommand(retrieveCommand());
  program.addCommand(rankCommand());
  program.addCommand(generateCommand());
  program.addCommand(evalCommand());
  program.addCommand(serveCommand());
  program.addCommand(keysCommand());
  program.addCommand(studyCommand());
  program.addCommand(workerCommand());
  return program;
}

/**
 * Run the CLI with `argv`; returns the exit code: 0, Commander's 2 for a usage error, else the
 * exit status of the {@link RagarError}'s code (`ERROR_CODES`), 1 for an unexpected error.
 */
export async function runCli(argv: string[]): Promise<number> {
  const program = createProgram();
  program.exitOverride();
  for (const cmd of allCommands(program)) cmd.exitOverride();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof RagarError) {
      process.stderr.write(`ragar: ${err.message}\n`);
      return exitCodeOf(err.code);
    }
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`ragar: unexpected error: ${message}\n`);
    if (process.env.RAGAR_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    else process.stderr.write('(set RAGAR_DEBUG=1 to see the stack trace)\n');
    return 1;
  }
}

function allCommands(cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap((c) => allCommands(c))];
}

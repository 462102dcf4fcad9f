#!/usr/bin/env node
// porta's command line: parse (cli/args.ts), check the folder, listen, say
// where (cli/banner.ts), and stop on a signal. Every start-up problem is one
// line on stderr and exit status 1; a bad command line is exit status 2.

import { StartupError } from './dispatch';
import { llhttpVersions } from './http/parser';
import { SERVER_NAME, SERVER_VERSION } from './http/response';
import { createPorta, ListenError } from './server';
import { HELP, parseCommandLine, rootProblem, UsageError } from './cli/args';
import { banner } from './cli/banner';

export { parseCommandLine } from './cli/args';

function versionText(): string {
  const v = llhttpVersions();
  return (
    `${SERVER_NAME} ${SERVER_VERSION}\nnode ${process.version}\n` +
    `llhttp ${v.native ?? 'unknown'} (native, Node's own) and the wasm build in ${v.wasm}\n`
  );
}

function fail(message: string, status: number): never {
  process.stderr.write(`porta: ${message}\n`);
  process.exit(status);
}

async function main(): Promise<void> {
  let parsed: ReturnType<typeof parseCommandLine>;
  try {
    parsed = parseCommandLine(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`porta: ${(err as Error).message}\nTry 'porta --help'.\n`);
    process.exit(2);
  }
  if (parsed.kind === 'help') return void process.stdout.write(HELP);
  if (parsed.kind === 'version') return void process.stdout.write(versionText());
  const { settings, rootGiven } = parsed;
  const problem = rootProblem(settings.root, rootGiven);
  if (problem !== null) fail(problem, 1);
  let porta: ReturnType<typeof createPorta>;
  let listening: Awaited<ReturnType<ReturnType<typeof createPorta>['listen']>>;
  try {
    porta = createPorta(settings);
    listening = await porta.listen();
  } catch (err) {
    if (err instanceof StartupError || err instanceof ListenError || err instanceof UsageError) fail(err.message, 1);
    throw err;
  }
  process.stdout.write(banner({ settings, listening, cgiUser: porta.cgiUser, cgiLauncher: porta.cgiLauncher }));

  // The first signal: stop accepting, finish what is in flight, exit 0. A
  // second one: exit now.
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    if (signal === 'SIGINT') process.stdout.write('\nKeyboard interrupt received, exiting.\n');
    porta.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (require.main === module) {
  main().catch((err: Error) => fail(err.message, 1));
}

#!/usr/bin/env node
// The `ekosis-otlp-traces` command: `receive` (a local OTLP/HTTP JSON receiver that checks,
// records and prints traces) and `show FILE` (the same trees from a recorded NDJSON file).
// Exit codes: 0 ok, 1 runtime error (port in use, unreadable or bad file), 2 usage error.

import { realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startReceiver } from './receiver.js';
import { renderTrees } from './tree.js';
import { validateExportRequest } from './validate.js';
import { errorMessage, NAME, oneLine } from '../util/text.js';
import { VERSION } from '../util/version.js';

export interface CliIo {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown };
  /** Stops `receive` like SIGINT does (for running it in-process). */
  signal?: AbortSignal;
}

const HELP = `Usage: ${NAME} <command> [options]

See the OTLP/HTTP JSON traces that EcoSystem services send.

Commands:
  receive   run a local OTLP/HTTP JSON receiver: checks each payload against the
            OTLP schema, records it, and prints its traces as trees of spans
  show      print the traces recorded in an NDJSON file as trees of spans

Options:
  -h, --help     show this help; "${NAME} <command> --help" for a command's
  -V, --version  print the version

Examples:
  ${NAME} receive --record traces.ndjson
  ${NAME} show traces.ndjson
`;

const RECEIVE_HELP = `Usage: ${NAME} receive [--port 4318] [--host 127.0.0.1] [--record FILE]

Runs an OTLP/HTTP JSON receiver at http://HOST:PORT/v1/traces until Ctrl-C (SIGINT)
or SIGTERM. Each POST (application/json, optionally gzip) is checked against the OTLP
trace schema: a valid payload gets 200 {} and its traces are printed as trees; an
invalid one gets 400 with the reason, which is also printed on stderr. Protobuf
bodies get 415: only JSON is supported. Bodies over 4 MiB (16 MiB decompressed) get
413, more than 4 requests at once get 503 (retry later), and a client that takes over
10 s to send its headers or 30 s for a whole request is disconnected. Only counts are
kept in memory: memory stays flat however long it runs.

Options:
  --port N         port to listen on (default 4318; 0 picks a free port)
  --host HOST      address to listen on (default 127.0.0.1)
  --record FILE    append every accepted payload to FILE, one JSON line each
  --color          colour the trees (default: when stdout is a terminal and
  --no-color       NO_COLOR is not set)
  -h, --help       show this help

Point a service at it:
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=http://127.0.0.1:4318/v1/traces
`;

const SHOW_HELP = `Usage: ${NAME} show FILE

Prints the traces in FILE as trees of spans. FILE holds one OTLP
ExportTraceServiceRequest JSON per line (NDJSON), as written by
"${NAME} receive --record FILE" or the recordPayloadsTo option, or recorded from
any other OTLP/HTTP JSON sender; blank lines are ignored. The spans of a trace are
gathered from every line. Each line is checked against the OTLP schema first.

Options:
  --color          colour the trees (default: when stdout is a terminal and
  --no-color       NO_COLOR is not set)
  -h, --help       show this help
`;

class UsageError extends Error {}

/** Runs the CLI with `argv` (without node and script) and resolves to the exit code. */
export async function main(
  argv: string[],
  io: CliIo = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  const out = (text: string) => void io.stdout.write(text);
  const err = (line: string) => void io.stderr.write(line + '\n');
  try {
    const [command, ...rest] = argv;
    switch (command) {
      case undefined:
        io.stderr.write(HELP);
        return 2;
      case '-h':
      case '--help':
        out(HELP);
        return 0;
      case 'help': {
        const topic = rest[0];
        out(topic === 'receive' ? RECEIVE_HELP : topic === 'show' ? SHOW_HELP : HELP);
        return 0;
      }
      case '-V':
      case '--version':
        out(VERSION + '\n');
        return 0;
      case 'receive':
        return await receive(rest, io, out, err);
      case 'show':
        return await show(rest, io, out, err);
      default:
        if (command.startsWith('-')) throw new UsageError(`unknown option ${command} (see ${NAME} --help)`);
        throw new UsageError(`unknown command "${command}" (see ${NAME} --help)`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      err(`${NAME}: ${e.message}`);
      return 2;
    }
    err(`${NAME}: ${oneLine(errorMessage(e))}`);
    return 1;
  }
}

interface Parsed {
  help: boolean;
  options: Map<string, string>;
  flags: Set<string>;
  positionals: string[];
}

/** Parses `--name value`, `--name=value`, flags, `--` and positionals for one command. */
function parse(command: string, args: string[], valued: string[], flags: string[]): Parsed {
  const parsed: Parsed = { help: false, options: new Map(), flags: new Set(), positionals: [] };
  const seeHelp = `(see ${NAME} ${command} --help)`;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      parsed.positionals.push(...args.slice(i + 1));
      break;
    }
    if (arg === '-h' || arg === '--help') {
      parsed.help = true;
      continue;
    }
    if (!arg.startsWith('-') || arg === '-') {
      parsed.positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (valued.includes(name)) {
      let value: string | undefined;
      if (eq > 0) value = arg.slice(eq + 1);
      else if (i + 1 < args.length && !args[i + 1]!.startsWith('--')) value = args[++i];
      if (value === undefined) throw new UsageError(`option ${name} needs a value ${seeHelp}`);
      parsed.options.set(name, value);
    } else if (flags.includes(name) && eq < 0) {
      parsed.flags.add(name);
    } else {
      throw new UsageError(`unknown option ${name} for "${command}" ${seeHelp}`);
    }
  }
  return parsed;
}

function useColor(p: Parsed, io: CliIo): boolean {
  if (p.flags.has('--color')) return true;
  if (p.flags.has('--no-color')) return false;
  return io.stdout.isTTY === true && !process.env.NO_COLOR;
}

async function receive(
  args: string[],
  io: CliIo,
  out: (text: string) => void,
  err: (line: string) => void,
): Promise<number> {
  const p = parse('receive', args, ['--port', '--host', '--record'], ['--color', '--no-color']);
  if (p.help) {
    out(RECEIVE_HELP);
    return 0;
  }
  if (p.positionals.length) {
    throw new UsageError(`unexpected argument "${p.positionals[0]}" (see ${NAME} receive --help)`);
  }
  const portText = p.options.get('--port') ?? '4318';
  if (!/^[0-9]+$/.test(portText) || Number(portText) > 65535) {
    throw new UsageError(`--port must be a number from 0 to 65535, got "${portText}"`);
  }
  const host = p.options.get('--host') ?? '127.0.0.1';
  if (host === '') throw new UsageError('--host must not be empty');
  const record = p.options.get('--record');
  if (record === '') throw new UsageError('--record needs a file name');

  let receiver;
  try {
    receiver = await startReceiver({
      port: Number(portText),
      host,
      record,
      color: useColor(p, io),
      print: (text) => out(text + '\n'),
      log: err,
    });
  } catch (e) {
    const error = e as NodeJS.ErrnoException;
    const hint = error.code === 'EADDRINUSE' ? ' (pick another with --port, or --port 0 for any free port)' : '';
    err(`${oneLine(error.message)}${hint}`);
    return 1;
  }
  out(`listening on ${receiver.url}\n`);
  if (record !== undefined) out(`recording payloads to ${resolvePath(record)}\n`);

  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      io.signal?.removeEventListener('abort', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    if (io.signal?.aborted) stop();
    else io.signal?.addEventListener('abort', stop);
  });
  await receiver.close();
  const { payloads, spans } = receiver.stats();
  out(`stopped: received ${plural(payloads, 'payload')} (${plural(spans, 'span')})\n`);
  return 0;
}

async function show(
  args: string[],
  io: CliIo,
  out: (text: string) => void,
  err: (line: string) => void,
): Promise<number> {
  const p = parse('show', args, [], ['--color', '--no-color']);
  if (p.help) {
    out(SHOW_HELP);
    return 0;
  }
  if (p.positionals.length === 0) throw new UsageError(`show needs a FILE (see ${NAME} show --help)`);
  if (p.positionals.length > 1) {
    throw new UsageError(`show takes one FILE, got ${p.positionals.length} (see ${NAME} show --help)`);
  }
  const file = p.positionals[0]!;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    err(`cannot read ${file}: ${oneLine(errorMessage(e))}`);
    return 1;
  }
  const payloads: unknown[] = [];
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    let doc: unknown;
    try {
      doc = JSON.parse(line);
    } catch (e) {
      err(`${file} line ${i + 1}: not valid JSON: ${oneLine(errorMessage(e))}`);
      return 1;
    }
    const result = validateExportRequest(doc);
    if (!result.ok) {
      err(`${file} line ${i + 1}: ${result.reason}`);
      return 1;
    }
    payloads.push(doc);
  }
  const trees = renderTrees(payloads, { color: useColor(p, io) });
  out(trees || `no spans in ${file}\n`);
  return 0;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** True when this module is the process entry, also when run through the npm bin symlink. */
function isEntry(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    const self = realpathSync(fileURLToPath(import.meta.url));
    return pathToFileURL(realpathSync(script)).href === pathToFileURL(self).href;
  } catch {
    return false;
  }
}

if (isEntry()) {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0); // e.g. `show FILE | head`
  });
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`${NAME}: ${errorMessage(e)}\n`);
      process.exitCode = 1;
    },
  );
}

/**
 * Logging: winston writing one JSON object per line.
 *
 * Conventions (one place for them): a context object first and a short fixed
 * message second; requests at `http`, client mistakes (4xx) at `info`, misuse
 * at `warn`, failures (5xx, store errors) at `error`. Credentials never reach
 * a log line: the redaction format below replaces any field whose name says
 * it carries one, at any depth.
 */
import winston from 'winston';

import type { LogLevel } from './config.js';

export type Logger = winston.Logger;

const SENSITIVE =
  /^(key|api[-_]?key|x-api-key|secret|password|password_hash|passwd|token|authorization|cookie|private_key|client_key)$/i;
const REDACTED = '[redacted]';

function redact(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object' || depth > 8) {
    return value;
  }
  if (value instanceof Error) {
    return { name: value.name, message: value.message };
  }
  if (Array.isArray(value)) {
    return value.map((v) => redact(v, depth + 1));
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = SENSITIVE.test(k) ? REDACTED : redact(v, depth + 1);
  }
  return out;
}

const redactFormat = winston.format((info) => {
  for (const k of Object.keys(info)) {
    if (k === 'level' || k === 'message') {
      continue;
    }
    info[k] = SENSITIVE.test(k) ? REDACTED : redact(info[k]);
  }
  return info;
});

export interface LoggerOptions {
  level: LogLevel;
  /** Extra fields on every line, for example the process role. */
  defaults?: Record<string, unknown>;
  /** Where lines go; stdout when absent. */
  stream?: NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const transport = options.stream
    ? new winston.transports.Stream({ stream: options.stream })
    : new winston.transports.Console();
  return winston.createLogger({
    level: options.level,
    levels: winston.config.npm.levels,
    defaultMeta: options.defaults,
    format: winston.format.combine(
      redactFormat(),
      winston.format.timestamp(),
      winston.format.json(),
    ),
    transports: [transport],
  });
}

/** A logger that drops everything, for library callers that pass none. */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console()] });
}

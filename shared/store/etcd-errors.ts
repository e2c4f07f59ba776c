/**
 * What an etcd3 error means to a store caller. etcd3 types errors by their
 * gRPC status only, so etcd's reasons that share a status are told apart by
 * their text. Only a lost connection or an overloaded etcd is reported as
 * `StoreUnavailableError`; a request etcd refuses keeps an error of its own.
 */

import { isBrokenCircuitError } from 'cockatiel';
import {
  GRPCCancelledError,
  GRPCDeadlineExceededError,
  GRPCInvalidArgumentError,
  GRPCResourceExhastedError,
  GRPCUnavailableError,
} from 'etcd3';

import {
  StoreCompactedError,
  StoreFullError,
  StoreUnavailableError,
  StoreValueTooLargeError,
} from './types.js';

/** etcd's default `--max-request-bytes`, named when etcd refuses a write and no limit is set here. */
export const ETCD_MAX_REQUEST_BYTES = 1_572_864; // bytes

/** Store operations whose request carries a value, so that "too large" means the request. */
const VALUE_WRITES = new Set(['put', 'create', 'compareAndSet']);

/** etcd's answer did not fit in one gRPC message; a smaller page may. */
export class ResponseTooLargeError extends Error {
  constructor(operation: string, options?: { cause?: unknown }) {
    super(`etcd's answer to ${operation} is larger than maxResponseBytes`, options);
    this.name = 'ResponseTooLargeError';
  }
}

export interface ErrorContext {
  /** The store operation that failed, such as `put` or `range`. */
  operation: string;
  /** The store's `maxValueBytes` option, if set. */
  maxValueBytes: number | undefined;
  readCompactRevision(): Promise<number>;
}

/** The error a store call reports for an error etcd3 threw. */
export async function mapEtcdError(error: unknown, context: ErrorContext): Promise<unknown> {
  if (!(error instanceof Error) || error instanceof StoreUnavailableError) {
    return error;
  }

  const { operation } = context;
  const { message } = error;
  // These two share OUT_OF_RANGE.
  if (message.includes('required revision has been compacted')) {
    return new StoreCompactedError(await context.readCompactRevision().catch(() => 0));
  }
  if (message.includes('required revision is a future revision')) {
    return new RangeError(`etcd ${operation} asked for a future revision`, { cause: error });
  }

  if (isTooLarge(error)) {
    return VALUE_WRITES.has(operation)
      ? new StoreValueTooLargeError(context.maxValueBytes ?? ETCD_MAX_REQUEST_BYTES, {
          cause: error,
        })
      : new ResponseTooLargeError(operation, { cause: error });
  }

  if (message.includes('database space exceeded')) {
    const text = 'etcd is full (its backend quota is exceeded); delete keys, then compact';
    return new StoreFullError(text, { cause: error });
  }
  // With several endpoints a member that failed is passed over for a moment;
  // when every member failed its last call, there is none left to try.
  if (isBrokenCircuitError(error)) {
    const text = `etcd is unavailable (${operation}): every endpoint failed its last call`;
    return new StoreUnavailableError(text, { cause: error });
  }
  if (isUnavailable(error)) {
    return new StoreUnavailableError(`etcd is unavailable (${operation}): ${message}`, {
      cause: error,
    });
  }
  return error;
}

/**
 * etcd refuses a request past `--max-request-bytes` itself, and gRPC one past
 * that plus 512 KiB; grpc-js refuses an answer past `maxResponseBytes`.
 */
function isTooLarge(error: Error): boolean {
  const { message } = error;
  return (
    (error instanceof GRPCInvalidArgumentError && message.includes('request is too large')) ||
    (error instanceof GRPCResourceExhastedError && message.includes('message larger than max'))
  );
}

/** The connection failed or timed out, or etcd is shedding load. */
function isUnavailable(error: Error): boolean {
  return (
    error instanceof GRPCUnavailableError ||
    error instanceof GRPCDeadlineExceededError ||
    error instanceof GRPCCancelledError ||
    (error instanceof GRPCResourceExhastedError && error.message.includes('too many requests'))
  );
}

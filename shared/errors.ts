/**
 * The catalogue of error codes Tollgate answers with.
 *
 * Code branches on these codes, never on message text. The wire keeps
 * APISIX's shapes (`{"error_msg": ...}` from the Admin API); the code travels
 * beside it as `error_code` so scripts can branch on it too. A retired code is
 * never reused. docs/errors.md documents every code (a test checks it).
 */

export const ERRORS = {
  ADMIN_KEY_INVALID: { status: 401, message: 'failed to check token' },
  ADMIN_ROLE_FORBIDDEN: { status: 401, message: 'invalid method for role viewer' },
  ADMIN_ADDRESS_FORBIDDEN: { status: 403, message: 'client address is not allowed' },
  RESOURCE_UNKNOWN: { status: 404, message: 'unsupported resource type' },
  OBJECT_NOT_FOUND: { status: 404, message: 'Key not found' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'method not allowed' },
  BODY_MISSING: { status: 400, message: 'missing configurations' },
  BODY_INVALID_JSON: { status: 400, message: 'invalid request body' },
  BODY_TOO_LARGE: { status: 413, message: 'request body too large' },
  REQUEST_ABORTED: { status: 400, message: 'the request was aborted before its body was complete' },
  CONTENT_TYPE_UNSUPPORTED: { status: 415, message: 'unsupported content type' },
  OBJECT_TOO_LARGE: { status: 413, message: 'the object is too large for the config store' },
  SCHEMA_INVALID: { status: 400, message: 'invalid configuration' },
  ID_INVALID: { status: 400, message: 'invalid id' },
  PROPERTY_FORBIDDEN: { status: 400, message: 'the property is forbidden' },
  REFERENCE_MISSING: { status: 400, message: 'referenced object does not exist' },
  OBJECT_IN_USE: { status: 400, message: 'object is still in use' },
  WRITE_CONFLICT: { status: 409, message: 'the object changed during the update, retry' },
  CREDENTIAL_CONFLICT: { status: 409, message: 'the credential key is already in use' },
  STORE_UNAVAILABLE: { status: 503, message: 'config store unreachable' },
  STORE_FULL: { status: 507, message: 'the config store is full' },
  SECRET_UNREADABLE: { status: 500, message: 'a stored secret cannot be decrypted' },
  INTERNAL: { status: 500, message: 'internal error' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** An error meant for the client: its message is safe to show. */
export class ApiError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message?: string,
  ) {
    super(message ?? ERRORS[code].message);
    this.name = 'ApiError';
    this.status = ERRORS[code].status;
  }
}

/**
 * What a sign-up request must look like before anything is hashed or
 * written: exactly `{username, email, password}`, each sane. Every refusal
 * is one message saying what to fix; the password itself never appears in
 * one.
 */
import { COMMON_PASSWORDS } from '../../shared/common-passwords.js';

export interface SignupRequest {
  username: string;
  email: string;
  password: string;
}

const FIELDS = ['username', 'email', 'password'] as const;
const USERNAME = /^[a-zA-Z0-9_-]{3,64}$/;
const MAX_EMAIL = 254;
/** One @, no spaces or control characters, a dot inside the domain, no empty labels. */
const EMAIL = /^[^\s@\p{Cc}]{1,64}@[^\s@.\p{Cc}]+(\.[^\s@.\p{Cc}]+)+$/u;
const MAX_PASSWORD = 256;
const COMMON = new Set(COMMON_PASSWORDS.map((p) => p.toLowerCase()));

/** The request, or a message saying why it is refused. */
export function checkSignup(
  body: Record<string, unknown>,
  minPasswordLength: number,
): SignupRequest | string {
  const extra = Object.keys(body).filter((k) => !(FIELDS as readonly string[]).includes(k));
  if (extra.length > 0) {
    return `unexpected fields: ${extra.map((k) => JSON.stringify(k.slice(0, 64))).join(', ')}`;
  }
  for (const field of FIELDS) {
    if (typeof body[field] !== 'string') {
      return `"${field}" is required and must be a string`;
    }
  }
  const request = body as unknown as SignupRequest;
  return (
    checkUsername(request.username) ??
    checkEmail(request.email) ??
    checkPassword(request, minPasswordLength) ??
    request
  );
}

function checkUsername(username: string): string | undefined {
  return USERNAME.test(username)
    ? undefined
    : '"username" must be 3 to 64 characters from a-z A-Z 0-9 _ -';
}

function checkEmail(email: string): string | undefined {
  return email.length <= MAX_EMAIL && EMAIL.test(email)
    ? undefined
    : '"email" must be an email address such as name@example.com';
}

function checkPassword(request: SignupRequest, minLength: number): string | undefined {
  const { password } = request;
  const length = [...password].length;
  if (length < minLength || length > MAX_PASSWORD) {
    return `"password" must be ${minLength} to ${MAX_PASSWORD} characters long`;
  }
  const lower = password.toLowerCase();
  if (lower === request.username.toLowerCase() || lower === request.email.toLowerCase()) {
    return '"password" must differ from the username and the email';
  }
  if (COMMON.has(lower)) {
    return '"password" is too common; choose one that is harder to guess';
  }
  return undefined;
}

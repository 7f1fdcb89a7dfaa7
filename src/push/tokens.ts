import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A push token: 256 random bits, so a plain SHA-256 is a safe way to keep it at rest. */
export function newToken(): string {
  return `rsp_${randomBytes(32).toString('base64url')}`;
}

/** A one-time enrolment code, short enough to read out on the phone. */
export function newEnrolCode(): string {
  return randomBytes(10).toString('hex').replace(/(.{5})(?=.)/g, '$1-');
}

/**
 * What the centre stores of a token or code: its SHA-256 in hex. Lookups go by this hash, so
 * the database never compares anything derived from a guess byte by byte with a secret.
 */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret.trim()).digest('hex');
}

/** Constant-time equality of a presented secret and the expected one, of any lengths (their SHA-256 digests are compared); an empty one never matches. */
export function secretsMatch(presented: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(presented), digest(expected)) && presented.length > 0;
}

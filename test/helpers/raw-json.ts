/** JSON bodies built from raw bytes, for tests of input that is not valid UTF-8. */

export const NOT_UTF8 = { message: 'the body is not valid UTF-8' };

/** A JSON body whose string values are given as raw bytes, valid UTF-8 or not. */
export function rawJson(fields: Record<string, Buffer | string>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(fields)) {
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    parts.push(Buffer.concat([Buffer.from(`${JSON.stringify(name)}:"`), bytes, Buffer.from('"')]));
  }
  return Buffer.concat([
    Buffer.from('{'),
    ...parts.flatMap((p, i) => (i === 0 ? [p] : [Buffer.from(','), p])),
    Buffer.from('}'),
  ]);
}

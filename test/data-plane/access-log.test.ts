import assert from 'node:assert/strict';
import { channel } from 'node:diagnostics_channel';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';

import { LineWriter, MAX_PENDING_BYTES, startAccessLog } from '../../data-plane/access-log.js';
import { createLogger } from '../../shared/logger.js';
import type { Logger } from '../../shared/logger.js';

function capturedLogger(): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const stream = new PassThrough();
  const text: string[] = [];
  stream.on('data', (c: Buffer) => text.push(c.toString()));
  const logger = createLogger({ level: 'debug', stream });
  return {
    logger,
    lines: () =>
      text
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** A destination that records each write() call and can hold its callbacks back. */
class Recorder extends Writable {
  readonly writes: string[] = [];
  stalled = false;
  readonly #held: (() => void)[] = [];

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error) => void): void {
    this.writes.push(chunk.toString());
    if (this.stalled) {
      this.#held.push(done);
    } else {
      done();
    }
  }

  release(): void {
    this.stalled = false;
    for (const done of this.#held.splice(0)) {
      done();
    }
  }
}

const requestEnd = channel('tollgate:request:end');

/** Starts an access log to a fresh file, publishes one request's end, closes it and returns the text. */
async function logOne(format: 'json' | 'combined', event: object): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-access-unit-'));
  try {
    const path = join(dir, 'access.log');
    const log = startAccessLog(
      { enabled: true, format, path },
      'data-plane',
      capturedLogger().logger,
    );
    assert.ok(log);
    requestEnd.publish(event);
    await log.close();
    return readFileSync(path, 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('access log writer', function () {
  it('should write the lines of one event-loop turn with one write', async function () {
    const out = new Recorder();
    const writer = new LineWriter(out, capturedLogger().logger, 'test');
    writer.write('a');
    writer.write('b');
    writer.write('c');
    assert.equal(out.writes.length, 0, 'nothing is written within the turn');
    await tick();
    assert.deepEqual(out.writes, ['a\nb\nc\n']);
    writer.write('d');
    await tick();
    assert.deepEqual(out.writes, ['a\nb\nc\n', 'd\n']);
  });

  it('should drop and count lines while the destination is far behind, then say so once', async function () {
    const out = new Recorder({ highWaterMark: 1 });
    out.stalled = true;
    const log = capturedLogger();
    const writer = new LineWriter(out, log.logger, 'slow-disk');
    const big = 'x'.repeat(MAX_PENDING_BYTES);
    writer.write(big); // taken: nothing was pending, and it stays pending
    await tick();
    for (let i = 0; i < 10; i++) {
      writer.write('dropped');
    }
    await tick();
    assert.ok(!out.writes.some((w) => w.includes('dropped')), 'no dropped line reaches the disk');
    out.release();
    await tick();
    writer.write('after');
    await tick();
    out.release();
    await tick();
    assert.ok(out.writes.at(-1)?.includes('after'), 'lines flow again once it caught up');
    const warnings = log
      .lines()
      .filter((l) => l.message === 'access log fell behind; lines were dropped');
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.dropped, 10);
    assert.equal(warnings[0]?.target, 'slow-disk');
  });

  it('should log a destination error once and drop lines from then on', async function () {
    const broken = new Writable({
      write(_chunk, _enc, done) {
        done(new Error('EIO: disk went away'));
      },
    });
    const log = capturedLogger();
    const writer = new LineWriter(broken, log.logger, '/var/log/x');
    for (let i = 0; i < 3; i++) {
      writer.write(`line ${i}`);
      await tick();
    }
    const errors = log.lines().filter((l) => l.level === 'error');
    assert.equal(errors.length, 1);
    assert.match(String(errors[0]?.error), /EIO/);
  });

  it('should write JSON lines to a file and flush them on close', async function () {
    const text = await logOne('json', {
      clientIp: '127.0.0.1',
      req: { method: 'GET', httpVersion: '1.1', headers: { 'user-agent': 'a "quoted"\nagent' } },
      path: '/ip',
      status: 200,
      bytesSent: 12,
      durationMs: 1.234,
      routeId: '1',
      upstreamAddr: '127.0.0.1:1980',
      consumer: 'alice',
    });
    const lines = text.split('\n').filter(Boolean);
    assert.equal(lines.length, 1);
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(line.message, 'access');
    assert.equal(line.role, 'data-plane');
    assert.equal(line.user_agent, 'a "quoted"\nagent');
    assert.equal(line.latency_ms, 1.23);
    assert.equal(typeof line.timestamp, 'string');
  });

  it('should write the combined format with the user agent quoted', async function () {
    const text = await logOne('combined', {
      clientIp: '10.0.0.1',
      req: { method: 'POST', httpVersion: '1.1', headers: {} },
      path: '/login',
      status: 401,
      bytesSent: 30,
      durationMs: 0.5,
    });
    assert.match(
      text,
      /^10\.0\.0\.1 - - \[\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000\] "POST \/login HTTP\/1\.1" 401 30 "-" "-" 0\.5 - -\n$/,
    );
  });
});

/**
 * The private socket's authentication (sasl-server.ts), fed as clients send it.
 *
 * | input                                               | expected                                  |
 * |-----------------------------------------------------|-------------------------------------------|
 * | NUL, AUTH EXTERNAL <hex of the kernel uid>, BEGIN + a message | OK <guid>; begun, the message bytes as rest |
 * | AUTH EXTERNAL, then DATA (empty or the uid)         | DATA; OK                                  |
 * | another uid, bad hex, another mechanism, bare AUTH  | REJECTED EXTERNAL, and a retry works      |
 * | NEGOTIATE_UNIX_FD after OK                          | ERROR (not offered)                       |
 * | no NUL first; BEGIN before OK; an endless line; five rejections | fail                          |
 * | the same bytes split anywhere                       | the same outcome                          |
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SaslServer } from '../../../../../daemon/adapters/dbus/sasl-server.js';

const GUID = '0123456789abcdef0123456789abcdef';
const hex = (s: string): string => Buffer.from(s).toString('hex');
const feedAll = (server: SaslServer, ...chunks: Array<string | Buffer>) =>
  chunks.map((c) => server.feed(typeof c === 'string' ? Buffer.from(c, 'latin1') : c));

describe('SaslServer', () => {
  it('accepts EXTERNAL for the kernel uid and hands over what follows BEGIN', () => {
    const s = new SaslServer(1000, GUID);
    const msg = Buffer.from([0x6c, 1, 0, 1, 0, 0, 0, 0]);
    const [a, b] = feedAll(s, `\0AUTH EXTERNAL ${hex('1000')}\r\n`, Buffer.concat([Buffer.from('BEGIN\r\n'), msg]));
    expect(a).toEqual({ replies: [`OK ${GUID}\r\n`] });
    expect(b!.replies).toEqual([]);
    expect(b!.begun?.rest).toEqual(msg);
  });

  it('answers AUTH EXTERNAL without a response with DATA; empty DATA means "whoever the kernel says"', () => {
    for (const data of ['DATA\r\n', `DATA ${hex('7')}\r\n`]) {
      const s = new SaslServer(7, GUID);
      const [a, b, c] = feedAll(s, '\0AUTH EXTERNAL\r\n', data, 'BEGIN\r\n');
      expect(a!.replies).toEqual(['DATA\r\n']);
      expect(b!.replies).toEqual([`OK ${GUID}\r\n`]);
      expect(c!.begun?.rest.length).toBe(0);
    }
  });

  it('rejects another uid, bad hex, another mechanism and a bare AUTH, and lets the client try again', () => {
    const s = new SaslServer(0, GUID);
    const steps = feedAll(
      s,
      `\0AUTH EXTERNAL ${hex('1000')}\r\n`,
      'AUTH EXTERNAL zz\r\n',
      'AUTH DBUS_COOKIE_SHA1 abc\r\n',
      'AUTH\r\n',
      `AUTH EXTERNAL ${hex('0')}\r\n`,
    );
    expect(steps.map((x) => x.replies)).toEqual([
      ['REJECTED EXTERNAL\r\n'],
      ['REJECTED EXTERNAL\r\n'],
      ['REJECTED EXTERNAL\r\n'],
      ['REJECTED EXTERNAL\r\n'],
      [`OK ${GUID}\r\n`],
    ]);
    expect(steps.some((x) => x.fail)).toBe(false);
  });

  it('declines unix fd passing and still begins', () => {
    const s = new SaslServer(0, GUID);
    const [, b, c] = feedAll(s, `\0AUTH EXTERNAL ${hex('0')}\r\n`, 'NEGOTIATE_UNIX_FD\r\n', 'BEGIN\r\n');
    expect(b!.replies[0]).toMatch(/^ERROR /);
    expect(c!.begun).toBeDefined();
  });

  it.each([
    ['no NUL first', ['AUTH EXTERNAL 30\r\n'], /NUL/],
    ['BEGIN before OK', ['\0BEGIN\r\n'], /BEGIN before/],
    ['an endless line', ['\0AUTH EXTERNAL ', 'a'.repeat(5000)], /over 4096/],
    ['five rejections', ['\0', ...Array(5).fill(`AUTH EXTERNAL ${hex('9')}\r\n`)], /too many/],
  ])('fails on %s', (_what, chunks, why) => {
    const s = new SaslServer(0, GUID);
    const steps = feedAll(s, ...(chunks as string[]));
    expect(steps.at(-1)!.fail).toMatch(why);
  });

  it('gives the same outcome however the bytes are split', () => {
    const wire = Buffer.from(`\0AUTH EXTERNAL\r\nDATA ${hex('5')}\r\nBEGIN\r\nrest-bytes`, 'latin1');
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: wire.length - 1 }), { maxLength: 6 }), (cuts) => {
        const points = [0, ...cuts.sort((a, b) => a - b), wire.length];
        const s = new SaslServer(5, GUID);
        const replies: string[] = [];
        let rest: Buffer | undefined;
        let end = 0;
        for (let i = 0; i + 1 < points.length && !rest; i++) {
          const step = s.feed(wire.subarray(points[i], points[i + 1]));
          replies.push(...step.replies);
          expect(step.fail).toBeUndefined();
          rest = step.begun?.rest;
          end = points[i + 1]!;
        }
        expect(replies).toEqual(['DATA\r\n', `OK ${GUID}\r\n`]);
        // What follows BEGIN in the chunk that held it; later chunks reach the framer directly.
        expect(rest!.toString('latin1')).toBe(wire.toString('latin1', wire.indexOf('rest-bytes'), end));
      }),
      { numRuns: 200 },
    );
  });
});

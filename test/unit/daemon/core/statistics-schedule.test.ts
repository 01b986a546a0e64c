/**
 * The pure side of the Statistics signals: bounds, one subscription per (session, subscriber),
 * the first signal due at once, later ones on the interval's grid (so equal intervals share ticks).
 *
 * | input                                              | expected                                          |
 * |----------------------------------------------------|---------------------------------------------------|
 * | 0, 1, 3600 / -1, 0.5, 3601, NaN                     | accepted / BadStatisticsIntervalError (InvalidArguments) |
 * | set at t=0 (1 s)                                   | due at 0, then 1000, 2000, ...                    |
 * | two subscribers 1 s, requested 300 ms apart        | after their first signals, due at the same instants |
 * | a 1 s and a 2 s subscription                       | share every other tick                            |
 * | set again / set 0 / session ends / subscriber gone | replaced (old one not live) / removed             |
 */
import { describe, expect, it } from 'vitest';
import { DBUS_ERROR_OF } from '../../../../daemon/core/errors.js';
import {
  checkStatisticsInterval,
  DUE_SLACK_MS,
  StatisticsSchedule,
  statisticsProps,
} from '../../../../daemon/core/statistics-schedule.js';
import { codeOf } from '../../../fakes/errors.js';

/** Runs the schedule like the runtime's timer would: to each next due time, taking what is due. */
function run(sch: StatisticsSchedule, until: number): Array<[number, string[]]> {
  const ticks: Array<[number, string[]]> = [];
  for (let due = sch.nextDue(); due !== null && due <= until; due = sch.nextDue()) {
    ticks.push([due, sch.takeDue(due).map((s) => s.subscriber)]);
  }
  return ticks;
}

describe('statistics schedule', () => {
  it('accepts 0 and whole seconds from 1 to 3600; anything else is InvalidArguments', () => {
    for (const ok of [0, 1, 60, 3600])
      expect(
        codeOf(() => checkStatisticsInterval(ok)),
        String(ok),
      ).toBe('no error');
    for (const bad of [-1, 0.5, 3601, Number.NaN, 2 ** 32 - 1])
      expect(
        codeOf(() => checkStatisticsInterval(bad)),
        String(bad),
      ).toBe('NSD_ERR_BAD_STATISTICS_INTERVAL');
    expect(DBUS_ERROR_OF.NSD_ERR_BAD_STATISTICS_INTERVAL).toBe('InvalidArguments');
    expect(codeOf(() => new StatisticsSchedule().set('/s', 's1', ':1.5', 3601, 0))).toBe(
      'NSD_ERR_BAD_STATISTICS_INTERVAL',
    );
  });

  it('is due at once, then every interval on the grid', () => {
    const sch = new StatisticsSchedule();
    sch.set('/s', 's1', ':1.5', 1, 0);
    expect(run(sch, 3000)).toEqual([
      [0, [':1.5']],
      [1000, [':1.5']],
      [2000, [':1.5']],
      [3000, [':1.5']],
    ]);
  });

  it('subscriptions of equal intervals requested at different times fall due together after their first signal', () => {
    const sch = new StatisticsSchedule();
    sch.set('/a', 's1', ':1.5', 1, 100);
    sch.set('/b', 's2', ':1.6', 1, 400);
    const ticks = run(sch, 3000).filter(([t]) => t >= 100);
    expect(ticks).toEqual([
      [100, [':1.5']],
      [400, [':1.6']],
      [1000, [':1.5', ':1.6']],
      [2000, [':1.5', ':1.6']],
      [3000, [':1.5', ':1.6']],
    ]);
  });

  it('a 1 s and a 2 s subscription share every other tick', () => {
    const sch = new StatisticsSchedule();
    sch.set('/a', 's1', ':1.5', 1, 0);
    sch.set('/a', 's1', ':1.6', 2, 0);
    expect(run(sch, 4000)).toEqual([
      [0, [':1.5', ':1.6']],
      [1000, [':1.5']],
      [2000, [':1.5', ':1.6']],
      [3000, [':1.5']],
      [4000, [':1.5', ':1.6']],
    ]);
  });

  it('a late tick serves what fell due within the slack, and moves each to its next grid point', () => {
    const sch = new StatisticsSchedule();
    sch.set('/a', 's1', ':1.5', 1, 0);
    sch.takeDue(0);
    sch.set('/b', 's2', ':1.6', 1, 1000 + DUE_SLACK_MS);
    expect(sch.takeDue(1000).map((s) => s.subscriber)).toEqual([':1.5', ':1.6']);
    expect(sch.nextDue()).toBe(2000);
    // Fired 700 ms late: the next is a full grid point on, not 300 ms later.
    expect(sch.takeDue(2700).length).toBe(2);
    expect(sch.nextDue()).toBe(4000);
  });

  it('each subscriber has its own subscription; set again replaces, 0 and the session end remove', () => {
    const sch = new StatisticsSchedule();
    const a = sch.set('/a', 's1', ':1.5', 1, 0)!;
    const root = sch.set('/a', 's1', ':1.1', 5, 0)!;
    expect(sch.size).toBe(2);
    const again = sch.set('/a', 's1', ':1.5', 2, 10)!;
    expect(sch.isLive(a)).toBe(false);
    expect(sch.isLive(again)).toBe(true);
    expect(sch.set('/a', 's1', ':1.5', 0, 20)).toBeNull();
    expect(sch.isLive(again)).toBe(false);
    expect(sch.size).toBe(1);
    sch.set('/b', 's2', ':1.1', 1, 0);
    expect(sch.subscriberGone(':1.1').map((s) => s.path)).toEqual(['/a', '/b']);
    expect(sch.isLive(root)).toBe(false);
    sch.set('/a', 's1', ':1.5', 1, 0);
    expect(sch.removeSession('/a')).toHaveLength(1);
    expect(sch.nextDue()).toBeNull();
  });

  it('statisticsProps gives the four keys as t, in GetStatistics order', () => {
    const d = statisticsProps({ rxBytes: 2n ** 40n, txBytes: 2n, rxPackets: 3n, txPackets: 4n });
    expect(Object.keys(d)).toEqual(['RX.Bytes', 'TX.Bytes', 'RX.Packets', 'TX.Packets']);
    expect(Object.values(d).map((p) => p.signature)).toEqual(['t', 't', 't', 't']);
    expect(d['RX.Bytes']!.value).toBe(2n ** 40n);
  });
});

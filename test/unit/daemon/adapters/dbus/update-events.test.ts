/**
 * Notification.Update as the BusEvents port sends it: one body per dict object (the runtime hands
 * equal contents over as one object: core/update-dicts.ts).
 *
 * | input                                                  | expected                                              |
 * |--------------------------------------------------------|-------------------------------------------------------|
 * | one dict object sent to 1,000 notifiers (a failover)   | one body for all of them (the same Buffer)            |
 * | an equal dict, another object                          | encoded again: equal bytes, another Buffer            |
 * | any of them through the wire                           | the dict read back, to the notifier it was meant for  |
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { PropDict } from '../../../../../daemon/core/properties.js';
import { marshallMessage } from '../../../../../lib/dbus/marshall.js';
import type { Variant } from '../../../../../lib/dbus/message.js';
import { unmarshallMessage } from '../../../../../lib/dbus/unmarshall.js';
import { recordingBusEvents } from '../../../../fakes/bus-events.js';

const moved = (): PropDict => ({
  Name: { signature: 's', value: 'wlan0' },
  IPv4: { signature: 'a{sv}', value: { Method: { signature: 's', value: 'dhcp' } } },
  Interface: { signature: 's', value: 'wlan0' },
  Bearer: { signature: 's', value: 'wifi' },
});

afterEach(() => vi.restoreAllMocks());

describe('Update bodies', () => {
  it('a dict sent to many notifiers is encoded once, by identity, with no content key', () => {
    const { ev, sent } = recordingBusEvents();
    const stringify = vi.spyOn(JSON, 'stringify');
    const dict = moved();
    for (let i = 0; i < 1000; i++) ev.update(`:1.${i}`, `/app/n${i}`, dict);
    expect(new Set(sent.map((m) => m.bodyBytes)).size).toBe(1);
    expect(sent[0]!.bodyBytes).toBeInstanceOf(Buffer);
    ev.update(':1.5000', '/app/other', moved());
    expect(sent.at(-1)!.bodyBytes).not.toBe(sent[0]!.bodyBytes);
    expect(sent.at(-1)!.bodyBytes!.equals(sent[0]!.bodyBytes!)).toBe(true);
    expect(stringify).not.toHaveBeenCalled();
    const back = unmarshallMessage(marshallMessage(sent[999]!, 9));
    expect(back.destination).toBe(':1.999');
    expect(back.path).toBe('/app/n999');
    const body = back.body[0] as Record<string, Variant>;
    expect(Object.keys(body)).toEqual(['Name', 'IPv4', 'Interface', 'Bearer']);
    expect(body.Bearer!.value).toBe('wifi');
  });
});

import type { NetworkInterfaceInfo } from 'node:os';
import { describe, expect, it } from 'vitest';
import { interfaceHolding } from './socket-interface.js';

const entry = (address: string, internal: boolean): NetworkInterfaceInfo =>
  ({
    address,
    internal,
    family: 'IPv4',
    netmask: '255.255.255.0',
    mac: '00:00:00:00:00:00',
    cidr: null,
  }) as NetworkInterfaceInfo;

describe('the interface collectives use', () => {
  it('is the one holding the advertised address; none for loopback or a foreign address', () => {
    const interfaces = { lo: [entry('127.0.0.1', true)], eth0: [entry('10.80.0.2', false)] };
    expect(interfaceHolding('10.80.0.2', interfaces)).toBe('eth0');
    expect(interfaceHolding('127.0.0.1', interfaces)).toBeUndefined();
    expect(interfaceHolding('10.0.0.9', interfaces)).toBeUndefined();
  });
});

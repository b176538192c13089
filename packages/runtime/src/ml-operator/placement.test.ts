import { describe, expect, it } from 'vitest';
import { instancesOnHost } from './placement.js';

const onEach = (instances: number, hosts: number, placement?: number[]) =>
  Array.from({ length: hosts }, (_, host) =>
    instancesOnHost({ role: 'worker', instances, hosts, host, placement }),
  );

describe('placing role instances on hosts', () => {
  it('defaults to contiguous blocks, the first hosts one more', () => {
    expect(onEach(2, 2)).toEqual([[0], [1]]);
    expect(onEach(4, 3)).toEqual([[0, 1], [2], [3]]);
    expect(onEach(1, 2)).toEqual([[0], []]);
    expect(onEach(3, 1)).toEqual([[0, 1, 2]]);
  });

  it('follows an explicit placement and refuses a bad one by name', () => {
    expect(onEach(3, 2, [1, 0, 1])).toEqual([[1], [0, 2]]);
    expect(() => onEach(3, 2, [0, 1])).toThrow(/placement: must list the host of each of the 3 instance/);
    expect(() => onEach(2, 2, [0, 2])).toThrow(/placement\[1\]: is 2, but the job runs on 2 host\(s\)/);
  });
});

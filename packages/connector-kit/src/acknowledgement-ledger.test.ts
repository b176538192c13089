import { describe, expect, it } from 'vitest';
import { AcknowledgementLedger } from './acknowledgement-ledger.js';

describe('AcknowledgementLedger', () => {
  it('makes a reader wait when full and lets it go once entries are acknowledged', async () => {
    const ledger = new AcknowledgementLedger<string>({ capacity: 2 });
    ledger.add('1-0', 'a');
    ledger.add('2-0', 'b');
    let waited = false;
    const waiting = ledger.waitForRoom(new AbortController().signal).then(() => {
      waited = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(waited).toBe(false);
    expect(ledger.take(['2-0', 'unknown'])).toEqual([{ id: '2-0', handle: 'b' }]);
    await waiting;
    expect(ledger.size).toBe(1);
    expect(ledger.room).toBe(1);
    expect([...ledger.entries()]).toEqual([['1-0', 'a']]);
  });

  it('stops waiting with the abort reason', async () => {
    const ledger = new AcknowledgementLedger<string>({ capacity: 1 });
    ledger.add('1-0', 'a');
    const controller = new AbortController();
    const waiting = ledger.waitForRoom(controller.signal);
    controller.abort(new Error('job cancelled'));
    await expect(waiting).rejects.toThrow('job cancelled');
  });
});

import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { openControlChannel, parseControlMessage } from './control-channel.js';

describe('control channel', () => {
  it('parses the messages the Python side sends and ignores malformed lines', () => {
    expect(parseControlMessage('{"type":"ready"}')).toEqual({ type: 'ready' });
    expect(parseControlMessage('{"type":"metrics","values":{"loss":0.5,"bad":"x","step":3}}')).toEqual({
      type: 'metrics',
      values: { loss: 0.5, step: 3 },
    });
    expect(
      parseControlMessage('{"type":"error","exception":"KeyError","message":"k","traceback":"T"}'),
    ).toEqual({
      type: 'error',
      exception: 'KeyError',
      message: 'k',
      traceback: 'T',
    });
    expect(parseControlMessage('{"type":"checkpointed","position":1500}')).toEqual({
      type: 'checkpointed',
      position: 1500,
    });
    for (const line of [
      '',
      'not json',
      '42',
      '{"type":"unknown"}',
      '{"type":"metrics"}',
      '{"type":"checkpointed","position":-1}',
      '{"type":"checkpointed","position":"7"}',
    ]) {
      expect(parseControlMessage(line)).toBeUndefined();
    }
  });

  it('dispatches lines to the handlers and writes stop requests as JSON lines', async () => {
    const socket = new PassThrough();
    const seen: string[] = [];
    const written: string[] = [];
    const original = socket.write.bind(socket);
    socket.write = ((chunk: string) => {
      written.push(chunk);
      return true;
    }) as typeof socket.write;
    const channel = openControlChannel(socket, {
      onReady: () => seen.push('ready'),
      onHeartbeat: () => seen.push('heartbeat'),
      onMetrics: (values) => seen.push(`metrics ${JSON.stringify(values)}`),
      onCheckpointed: (position) => seen.push(`checkpointed ${position}`),
      onError: (error) => seen.push(`error ${error.exception}`),
    });
    original('{"type":"ready"}\n{"type":"heartbeat"}\ngarbage\n{"type":"metrics","values":{"step":1}}\n');
    original('{"type":"checkpointed","position":42}\n');
    original('{"type":"error","exception":"ValueError","message":"m","traceback":"t"}\n');
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toEqual(['ready', 'heartbeat', 'metrics {"step":1}', 'checkpointed 42', 'error ValueError']);
    channel.requestStop('restart');
    expect(written).toEqual(['{"type":"stop","reason":"restart"}\n']);
    channel.close();
  });
});

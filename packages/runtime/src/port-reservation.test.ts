import { connect, createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { reservePorts } from './port-reservation.js';

describe('port reservation', () => {
  it('gives a restarted node the port it had, and a fresh one when that port is taken', async () => {
    const first = await reservePorts('127.0.0.1', ['grpc']);
    const port = first.ports.grpc!;
    await first.release();
    const again = await reservePorts('127.0.0.1', ['grpc'], { grpc: port });
    expect(again.ports.grpc).toBe(port);
    // Someone else holds it now: the node gets another port rather than failing.
    const taken = await reservePorts('127.0.0.1', ['grpc'], { grpc: port });
    expect(taken.ports.grpc).not.toBe(port);
    expect(taken.ports.grpc).toBeGreaterThan(0);
    await Promise.all([again.release(), taken.release()]);
  });

  it('falls back to a fresh port when another process listens on the preferred one', async () => {
    const other = createServer();
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    const held = (other.address() as { port: number }).port;
    const reservation = await reservePorts('127.0.0.1', ['grpc'], { grpc: held });
    expect(reservation.ports.grpc).not.toBe(held);
    expect(reservation.sockets.size).toBe(1);
    await reservation.release();
    await new Promise((resolve) => other.close(resolve));
  });

  it('cuts off a client that connects to a reserved port, so releasing it does not wait for that client', async () => {
    const reservation = await reservePorts('127.0.0.1', ['grpc']);
    // A survivor retrying a restarted server's address: it connects and waits for an answer.
    const client = connect(reservation.ports.grpc!, '127.0.0.1');
    client.on('error', () => {});
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    const released = await Promise.race([
      reservation.release().then(() => 'released'),
      new Promise((resolve) => setTimeout(() => resolve('still waiting after 5 s'), 5_000)),
    ]);
    expect(released).toBe('released');
    await closed;
  });
});

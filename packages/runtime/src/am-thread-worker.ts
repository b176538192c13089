/**
 * The worker side of am-thread.ts: runs one ApplicationManager on this thread and relays its
 * observations, outcome and log lines to the job's thread, whose engine it calls synchronously.
 */
import { networkInterfaces } from 'node:os';
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import type { Logger, MLFramework, NodeSpec } from '@millrace/core';
import type { EngineAnswer, EngineCall, EngineHook, FromWorker, ToWorker, WorkerInput } from './am-thread.js';
import { serializeError } from './am-thread.js';
import { ApplicationManager } from './application-manager.js';
import type { HostThreadLiveness } from './heartbeat-monitor.js';

const input = workerData as WorkerInput;
const port = parentPort!;
const post = (message: FromWorker) => port.postMessage(message);

/** An engine whose hooks run on the job's thread (am-thread.ts says why and how). */
function engineOnJobThread(description: WorkerInput['engine']): MLFramework {
  const signal = new Int32Array(input.engineSignal);
  const call = (hook: EngineHook, args: unknown[]): unknown => {
    Atomics.store(signal, 0, 0);
    input.enginePort.postMessage({ hook, args } satisfies EngineCall);
    // The job's thread answers when its event loop takes a turn. It is alive while this thread
    // is (a process's threads end together); a pipeline stage that holds it only delays the
    // answer, so the wait re-arms each second instead of giving up.
    while (Atomics.wait(signal, 0, 0, 1_000) === 'timed-out') {}
    const answer = receiveMessageOnPort(input.enginePort)?.message as EngineAnswer | undefined;
    if (answer === undefined) throw new Error(`engine '${description.name}' gave no answer to ${hook}`);
    if ('error' in answer) throw new Error(`engine '${description.name}' ${hook} threw: ${answer.error}`);
    return answer.value;
  };
  const engine: Record<string, unknown> = {
    specificationVersion: description.specificationVersion,
    name: description.name,
    roles: description.roles,
    nodeEnvironment: () => {
      throw new Error('node environments are built by the node agents, on the job thread');
    },
  };
  for (const hook of description.hooks) engine[hook] = (...args: unknown[]) => call(hook, args);
  return engine as unknown as MLFramework;
}

/** The job thread's turns, counted by am-thread.ts; its agents registered with this pid. */
function jobThreadLiveness(): HostThreadLiveness {
  const turns = new Int32Array(input.pipelineTurns);
  let seenTurns = Atomics.load(turns, 0);
  let lastTurnAt = Date.now();
  const localAddresses = new Set(
    Object.values(networkInterfaces())
      .flatMap((entries) => entries ?? [])
      .map((entry) => entry.address),
  );
  return {
    hosts: (spec: NodeSpec | undefined) =>
      spec?.pid === process.pid && (localAddresses.has(spec.host) || spec.host === 'localhost'),
    quietForMs(now) {
      const current = Atomics.load(turns, 0);
      if (current !== seenTurns) {
        seenTurns = current;
        lastTurnAt = now;
      }
      return now - lastTurnAt;
    },
  };
}

const logger: Logger = {
  debug: (message, fields) => post({ type: 'log', level: 'debug', message, fields }),
  info: (message, fields) => post({ type: 'log', level: 'info', message, fields }),
  warn: (message, fields) => post({ type: 'log', level: 'warn', message, fields }),
  error: (message, fields) => post({ type: 'log', level: 'error', message, fields }),
};

try {
  const am = await ApplicationManager.start({
    ...input.options,
    engine: engineOnJobThread(input.engine),
    logger,
    hostThread: jobThreadLiveness(),
  });
  am.onObservation((observation) =>
    post({
      type: 'observation',
      // The outcome's error is rebuilt on the job thread (classes do not cross threads).
      observation:
        observation.type === 'job-finished'
          ? { ...observation, outcome: { ...observation.outcome, error: undefined } }
          : observation,
    }),
  );
  void am.result.then((outcome) => post({ type: 'result', outcome: { ...outcome, error: undefined } }));
  port.on('message', async (message: ToWorker) => {
    switch (message.type) {
      case 'stop':
        void am.stop(message.reason);
        break;
      case 'report-node-failure':
        am.reportNodeFailure(message.failure);
        break;
      case 'until-observed':
        post({
          type: 'observed',
          id: message.id,
          unread: await am.untilObserved(message.observers, message.timeoutMs),
        });
        break;
      case 'close':
        await am.close();
        input.enginePort.close();
        post({ type: 'closed' });
        break;
    }
  });
  post({
    type: 'started',
    config: am.config,
    address: am.address,
    token: am.token,
    fingerprint: am.fingerprint,
    joinUrl: am.joinUrl,
  });
} catch (error) {
  post({ type: 'start-failed', error: serializeError(error) });
}

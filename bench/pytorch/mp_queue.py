"""Baseline: batches fed through a multiprocessing.Queue, the TensorFlowOnSpark way.

TFoS's feeder pushes each record into a queue from the data-processing side and the training
process assembles batches by taking records one at a time (``DataFeed.next_batch``). Here a
producer process plays the feeder; the consumer stacks BATCH records into a batch.
"""

import multiprocessing as mp
import os

import numpy as np
import torch

from ddp_loop import BATCH, FEATURES, STEPS, train

_END = None


def produce(queue, rank, records):
    generator = np.random.default_rng(rank)
    for _ in range(records):
        row = generator.standard_normal(FEATURES, dtype=np.float32)
        queue.put((row, np.float32(row[0] > 0)))
    queue.put(_END)


def batches(queue):
    while True:
        rows, labels = [], []
        while len(rows) < BATCH:
            item = queue.get(timeout=60)
            if item is _END:
                return
            rows.append(item[0])
            labels.append(item[1])
        yield torch.from_numpy(np.stack(rows)), torch.from_numpy(np.array(labels, dtype=np.float32))


if __name__ == "__main__":
    # spawn, not fork: forking a process that already runs torch's and Millrace's threads can
    # leave the child holding a lock nobody will release.
    context = mp.get_context("spawn")
    queue = context.Queue(maxsize=4 * BATCH)
    producer = context.Process(target=produce, args=(queue, int(os.environ["RANK"]), STEPS * BATCH), daemon=True)
    producer.start()
    train(batches(queue), "mp_queue")
    # The producer may still be blocked putting records nobody will read: stop it, and do not let
    # interpreter exit wait on the queue's buffered data.
    producer.kill()
    producer.join(timeout=10)
    queue.cancel_join_thread()
    queue.close()

"""Baseline: batches fed through a multiprocessing.Queue, whole batches per item.

A competent hand-written feeder: a producer process puts whole ``(features, labels)`` batches
(numpy arrays, pickled once per batch by the queue) and the training process takes one item per
step. The producer cycles a pool of 8 batches made before the loop, like the ceiling and the
ring's source, so the timed loop moves batches and makes none.
"""

import multiprocessing as mp
import os

import numpy as np
import torch

from ddp_loop import BATCH, FEATURES, STEPS, train

_END = None
POOL = 8


def produce(queue, rank, steps):
    generator = np.random.default_rng(rank)
    pool = []
    for _ in range(POOL):
        features = generator.uniform(-1, 1, size=(BATCH, FEATURES)).astype(np.float32)
        pool.append((features, (features[:, 0] > 0).astype(np.float32)))
    for step in range(steps):
        queue.put(pool[step % POOL])
    queue.put(_END)


def batches(queue):
    while True:
        item = queue.get(timeout=60)
        if item is _END:
            return
        yield torch.from_numpy(item[0]), torch.from_numpy(item[1])


if __name__ == "__main__":
    # spawn, not fork: forking a process that already runs torch's and Millrace's threads can
    # leave the child holding a lock nobody will release.
    context = mp.get_context("spawn")
    queue = context.Queue(maxsize=16)
    producer = context.Process(target=produce, args=(queue, int(os.environ["RANK"]), STEPS), daemon=True)
    producer.start()
    train(batches(queue), "mp_queue")
    # The producer may still be blocked putting batches nobody will read: stop it, and do not let
    # interpreter exit wait on the queue's buffered data.
    producer.kill()
    producer.join(timeout=10)
    queue.cancel_join_thread()
    queue.close()

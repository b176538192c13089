import json
import unittest

from tests.support import requires_torch, run_group

# Rank 0 holds 5 batches, rank 1 holds 2: without a strategy, rank 0's third backward pass would
# wait forever for rank 1's gradients.
UNEVEN_DDP = """
import json, os, torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from millrace_torch import agreed_batches, init_distributed, shutdown_distributed

rank, world, device = init_distributed(timeout_seconds=30)
torch.manual_seed(0)
model = DistributedDataParallel(torch.nn.Linear(4, 1))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
batches = [torch.randn(8, 4) for _ in range(5 if rank == 0 else 2)]

def step(batch):
    optimizer.zero_grad()
    model(batch).pow(2).mean().backward()
    optimizer.step()

strategy = os.environ["STRATEGY"]
steps = 0
if strategy == "join":
    with model.join():
        for batch in batches:
            step(batch); steps += 1
else:
    for batch in agreed_batches(batches):
        step(batch); steps += 1
        loss = torch.tensor([1.0]); dist.all_reduce(loss)  # any collective is safe in this loop
weights = model.module.weight.detach().flatten().tolist()
# Both ranks done with every collective before either tears gloo down: a rank destroying the group
# while its peer's last operation was still in flight aborted once under CI load.
dist.barrier()
shutdown_distributed()
print(json.dumps({"rank": rank, "steps": steps, "weights": weights}))
"""


@requires_torch
class UnevenPartitionsTest(unittest.TestCase):
    def run_strategy(self, strategy):
        outputs = run_group(UNEVEN_DDP, 2, extra_env={"STRATEGY": strategy}, timeout=60)
        return [json.loads(output.strip().splitlines()[-1]) for output in outputs]

    def test_join_trains_every_batch_of_every_rank_without_deadlock(self):
        ranks = self.run_strategy("join")
        self.assertEqual([r["steps"] for r in ranks], [5, 2])
        # Join keeps the replicas identical: rank 1 shadowed rank 0's last three all-reduces.
        for a, b in zip(ranks[0]["weights"], ranks[1]["weights"]):
            self.assertAlmostEqual(a, b, places=6)

    def test_agreed_batches_stops_every_rank_on_the_same_step(self):
        ranks = self.run_strategy("agreed")
        self.assertEqual([r["steps"] for r in ranks], [2, 2])
        for a, b in zip(ranks[0]["weights"], ranks[1]["weights"]):
            self.assertAlmostEqual(a, b, places=6)


if __name__ == "__main__":
    unittest.main()

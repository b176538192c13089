"""Trains a binary classifier with XGBoost on generated data, alone or as one worker of a cluster.

    train.py --out predictions.json             one process, all the data
    train.py --out predictions.json --distributed
                                                a worker of a Millrace xgboost cluster: joins the
                                                tracker named by the DMLC_* environment, trains on
                                                its shard (rows rank, rank + world, ...), and rank 0
                                                writes the model's predictions on the test set

Both modes generate the same data from a fixed seed, so their predictions can be compared.
"""
import argparse
import json
import os
import sys

import numpy as np
import xgboost as xgb

PARAMS = {
    "objective": "binary:logistic",
    "tree_method": "hist",
    "max_depth": 4,
    "eta": 0.3,
    "max_bin": 64,
    "nthread": 1,
    "seed": 7,
}


def generated_data(rows: int):
    rng = np.random.RandomState(7)
    # Features on a grid of 33 values: with fewer distinct values than max_bin, every worker's
    # quantile sketch finds the same histogram cuts as one process on all the data, so distributed
    # training differs from single-process training only by the order gradient sums are added in.
    features = (np.round(rng.uniform(-1.0, 1.0, size=(rows, 6)) * 16) / 16).astype(np.float32)
    score = np.sin(3 * features[:, 0]) + features[:, 1] * features[:, 2] - 0.5 * features[:, 3]
    labels = (score + 0.1 * rng.normal(size=rows) > 0).astype(np.float32)
    return features, labels


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--distributed", action="store_true")
    parser.add_argument("--fail-attempt-zero", action="store_true",
                        help="worker 1 exits with code 3 in its first attempt (tests restart-all)")
    args = parser.parse_args()
    features, labels = generated_data(args.rows)
    test_features = features[: args.rows // 4]
    train_features, train_labels = features[args.rows // 4 :], labels[args.rows // 4 :]

    if not args.distributed:
        booster = xgb.train(PARAMS, xgb.DMatrix(train_features, label=train_labels), args.rounds)
        write(args.out, booster.predict(xgb.DMatrix(test_features)), world=1)
        return 0

    if args.fail_attempt_zero and os.environ.get("MILLRACE_ATTEMPT") == "0" and os.environ["DMLC_TASK_ID"] == "1":
        print("worker 1: failing its first attempt on purpose", file=sys.stderr)
        return 3
    environment = {key: value for key, value in os.environ.items() if key.startswith("DMLC_")}
    with xgb.collective.CommunicatorContext(**environment):
        rank, world = xgb.collective.get_rank(), xgb.collective.get_world_size()
        shard = xgb.DMatrix(train_features[rank::world], label=train_labels[rank::world])
        booster = xgb.train(PARAMS, shard, args.rounds)
        print(f"worker task {os.environ['DMLC_TASK_ID']} is rank {rank} of {world}", flush=True)
        # Building a DMatrix is itself collective (workers agree on the column count), so every
        # rank predicts; rank 0 writes.
        predictions = booster.predict(xgb.DMatrix(test_features))
        if rank == 0:
            write(args.out, predictions, world)
    return 0


def write(path: str, predictions, world: int) -> None:
    temporary = f"{path}.partial"
    with open(temporary, "w") as file:
        json.dump({"world": world, "predictions": predictions.tolist()}, file)
    os.replace(temporary, path)


if __name__ == "__main__":
    sys.exit(main())

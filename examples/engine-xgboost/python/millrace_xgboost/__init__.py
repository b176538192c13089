"""Python side of millrace-engine-xgboost: the rabit tracker a tracker node runs."""

"""RQ job functions. Each takes ids, runs in the worker's app context and lets exceptions propagate."""

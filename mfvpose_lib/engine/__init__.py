"""Training and evaluation: the loop, checkpoints, DDP, COCO AP and MPII PCKh.

Import from the submodules (``engine.train``, ``engine.evaluate`` ...); this package keeps
imports light so ``mfvpose --help`` stays fast.
"""

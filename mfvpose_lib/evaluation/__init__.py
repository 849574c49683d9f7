"""Metric functions on arrays and result lists, apart from inference and file writing.

:mod:`~mfvpose_lib.evaluation.coco` (HRNet's rescoring, OKS-NMS, pycocotools AP and the
test-dev submission check), :mod:`~mfvpose_lib.evaluation.mpii` (PCKh as the MPII toolkit
computes it) and :mod:`~mfvpose_lib.evaluation.oks_nms`. The data sets' specs
(:mod:`mfvpose_lib.data.spec`) call them; the engine only predicts.
"""

"""Vetting services, by subdomain: eval sets (`evalsets`), attempts, submissions, results, badges.

Running a submission (sandbox jobs for training and evaluation) is the pipeline's job: it takes a
`queued` submission from `submission_validate` (after `submission_receive` stored the upload), calls `submission_start_training` /
`submission_start_evaluation` as its jobs start, and hands the generations to
`submission_record_results`, or calls `submission_error` when a step fails.
"""

from vetting.services import attempts, badges, common, evalsets, results, submissions

__all__ = ["attempts", "badges", "common", "evalsets", "results", "submissions"]

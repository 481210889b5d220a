"""Leased durable jobs: the one worker loop of a process (`worker.Worker`) and a job's cancel flag.
The job kinds live with what they execute (`runs.worker`, `responses.worker`)."""

from assistants.jobs.cancel import CancelFlag
from assistants.jobs.worker import Job, JobKind, Worker

__all__ = ["CancelFlag", "Job", "JobKind", "Worker"]

"""Stage 3, a run: one evaluation of a portfolio, as the store records it in its runs table.

evaluation.py is the run from start to finish (evaluate_portfolio): read and evaluate the
accounts (read.py, accounts.py, pipeline.py's read_and_evaluate, on processes or on a Dask
cluster with distributed.py), the whole-portfolio pass (portfolio.py), capacity scheduling
(schedule.py), then the store and the documents; rejections.py and progress.py record what
was refused and how far it got.
"""
from .evaluation import evaluate_portfolio

__all__ = ["evaluate_portfolio"]
